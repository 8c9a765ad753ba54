"""Every write of the rewards app: catalog, stock, reservations and their collection,
cancellation and expiry, and donations.

Each service is one transaction (expire_reservations: one per reservation it expires).
Refusals are DomainErrors (rewards/errors.py, recycling/errors.py) and leave the business
tables unchanged: they are raised before anything is written, or inside the transaction,
which then rolls back.

Lock order, the same everywhere in the project (ledger/services.py): the redemption row
first (collect, cancel, expire), then ledger accounts in primary-key order (ledger.services.lock_accounts),
then StationStock rows. reserve_reward has no redemption yet, so it starts at the accounts.
Two writers therefore never wait for each other in opposite orders, and cannot deadlock.

Idempotency: reserve_reward, cancel_redemption and donate claim their key in the member's
scope, collect_redemption in the station's, through idempotency.services.run_idempotent(),
which stores every outcome, refusals included, in the write's own transaction. What is
checked before the claim (the request's shape, who may act) stores nothing. Cancel and collect
also run without a key (the admin, the member page's button): they act only on a reservation
that is still `reserved`, checked under its row lock, so they act exactly once. Expiry needs none.

The services that are entry points run outside any transaction (durable=True, or through
run_idempotent, which is durable): their commit is the write's.
"""

import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.services import record_event, save_changes
from core.validation import is_whole_number
from events.models import Event, Notice
from events.services import forget_member, record_business_event
from idempotency.services import (
    member_scope,
    request_fingerprint,
    run_idempotent,
    run_idempotent_if_keyed,
    station_scope,
    was_replayed,
)
from ledger.models import Account, Transfer
from ledger.services import lock_accounts, post_transfer, reverse_transfer
from recycling import errors as recycling_errors
from recycling.days import shanghai_day
from recycling.models import Member
from recycling.notices import notify
from recycling.services import anonymise_member
from recycling.tasks import recompute_after_commit
from stations.models import Station
from stations.selectors import manages, works_at

from . import errors
from .models import (
    MAX_NOTEBOOKS,
    MAX_QUANTITY,
    MIN_NOTEBOOKS,
    MIN_QUANTITY,
    Donation,
    DonationCampaign,
    Redemption,
    Reward,
    StationStock,
    new_pickup_code,
)
from .pickup_attempts import check_pickup_attempts, count_wrong_pickup_code
from .selectors import reserved_quantity_on_day, waiting_reservation_by_code

PICKUP_CODE_ATTEMPTS = 10


@dataclass(frozen=True)
class RedemptionResult:
    redemption: Redemption
    balance: int  # the member's balance now
    replayed: bool  # True when an earlier request with the same idempotency key is returned


@dataclass(frozen=True)
class DonationResult:
    donation: Donation
    balance: int  # the member's balance now
    replayed: bool  # True when an earlier request with the same idempotency key is returned


# --- Catalog and stock -------------------------------------------------------------------


def create_reward(
    *,
    name: str,
    name_zh: str,
    points_cost: int,
    kind: str = Reward.Kind.GOODS,
    campaign: DonationCampaign | None = None,
    picture_url: str = "",
    is_active: bool = True,
    active_from: datetime | None = None,
    active_until: datetime | None = None,
    daily_limit_per_member: int | None = None,
) -> Reward:
    """Create a catalog entry and its ledger account (kind `reward`) in one transaction.

    Raises django.core.exceptions.ValidationError for invalid values (e.g. a cost of 0, an
    end before the start, a donation reward without its campaign).
    """
    with transaction.atomic():
        account = Account.objects.create(
            kind=Account.Kind.REWARD, balance_must_not_go_negative=True, name=f"{name_zh} / {name}"[:200]
        )
        reward = Reward(
            name=name,
            name_zh=name_zh,
            kind=kind,
            campaign=campaign,
            points_cost=points_cost,
            picture_url=picture_url,
            is_active=is_active,
            active_from=active_from or timezone.now(),
            active_until=active_until,
            daily_limit_per_member=daily_limit_per_member,
            account=account,
        )
        reward.full_clean()
        reward.save()
        record_event(action=AuditEvent.Action.CATALOG_CHANGED, target=reward, details={"created": True})
    return reward


def create_campaign(
    *,
    title: str,
    title_zh: str,
    beneficiary: str,
    points_per_notebook: int,
    target_notebooks: int,
    starts_at: datetime,
    ends_at: datetime,
) -> DonationCampaign:
    """Create a donation campaign and its ledger account (kind `campaign`) in one transaction.

    Raises django.core.exceptions.ValidationError for invalid values (e.g. an end before the start).
    """
    with transaction.atomic():
        account = Account.objects.create(
            kind=Account.Kind.CAMPAIGN, balance_must_not_go_negative=True, name=f"{title_zh} / {title}"[:200]
        )
        campaign = DonationCampaign(
            title=title,
            title_zh=title_zh,
            beneficiary=beneficiary,
            points_per_notebook=points_per_notebook,
            target_notebooks=target_notebooks,
            starts_at=starts_at,
            ends_at=ends_at,
            account=account,
        )
        campaign.full_clean()
        campaign.save()
        record_event(action=AuditEvent.Action.CATALOG_CHANGED, target=campaign, details={"created": True})
    return campaign


def adjust_stock(*, station: Station, reward: Reward, change: int, staff: AbstractBaseUser) -> StationStock:
    """Add goods received (change > 0) or remove broken or lost ones (change < 0) at a station.

    The stock row is locked, so the change adds to whatever concurrent reservations left, and
    refused (InvalidStockChange) if it would take the quantity below zero. Only the station's
    manager (or a superuser: stations.selectors.manages) may change it; its other staff are
    refused with NotStationManager.
    """
    if not works_at(user=staff, station=station):
        raise recycling_errors.NotStationStaff()
    if not manages(user=staff, station=station):
        raise recycling_errors.NotStationManager(_("Only the station's manager adjusts its stock."))
    if not is_whole_number(change) or change == 0:
        raise errors.InvalidStockChange(_("Give the change as a whole number other than 0, e.g. 24 or -2."))
    if reward.kind != Reward.Kind.GOODS:
        raise errors.RewardNotReservable(_("Donation rewards have no stock."))
    with transaction.atomic():
        StationStock.objects.get_or_create(station=station, reward=reward)
        stock = StationStock.objects.select_for_update().get(station=station, reward=reward)
        if stock.quantity + change < 0:
            raise errors.InvalidStockChange(
                _("Only %(quantity)s in stock; the stock cannot go below zero.") % {"quantity": stock.quantity}
            )
        StationStock.objects.filter(pk=stock.pk).update(quantity=F("quantity") + change, updated_at=timezone.now())
        stock.refresh_from_db()
        record_event(
            action=AuditEvent.Action.STOCK_CHANGED,
            user=staff,
            target=stock,
            details={"change": change, "quantity": stock.quantity},
        )
    return stock


CATALOG_FIELDS = {
    "reward": [
        "name",
        "name_zh",
        "kind",
        "campaign",
        "points_cost",
        "picture_url",
        "is_active",
        "active_from",
        "active_until",
        "daily_limit_per_member",
    ],
    "campaign": [
        "title",
        "title_zh",
        "beneficiary",
        "points_per_notebook",
        "target_notebooks",
        "starts_at",
        "ends_at",
    ],
}


def update_reward(*, reward: Reward, **changes) -> Reward:
    """Change catalog fields of a reward (not its account). A new price applies to later
    reservations only: each redemption keeps the points it was charged.

    Raises django.core.exceptions.ValidationError for invalid values.
    """
    return save_changes(reward, changes, allowed=CATALOG_FIELDS["reward"], action=AuditEvent.Action.CATALOG_CHANGED)


def update_campaign(*, campaign: DonationCampaign, **changes) -> DonationCampaign:
    """Change a campaign's fields (not its account). A new price per notebook applies to later
    donations only: each donation keeps its points and notebooks.

    Raises django.core.exceptions.ValidationError for invalid values.
    """
    return save_changes(campaign, changes, allowed=CATALOG_FIELDS["campaign"], action=AuditEvent.Action.CATALOG_CHANGED)


# --- Reservations ------------------------------------------------------------------------


def reserve_reward(
    *,
    member: Member,
    reward: Reward,
    station: Station,
    quantity: int,
    idempotency_key: str,
    now: datetime | None = None,
) -> RedemptionResult:
    """Reserve `quantity` of a reward for collection at `station`: debit the member's points at
    once (member account -> reward account) and take the stock there, in one transaction.

    Refused, with nothing written, when the quantity is out of range (1..MAX_QUANTITY), the
    reward is inactive, not yet or no longer available or a donation, the station is inactive,
    the member would exceed the reward's daily limit, the station has too few in stock, or
    the member has too few points.

    Idempotent in the member's scope: a retry with the same key returns the first outcome
    (replayed=True), and that includes a first refusal: the retry raises the same error (same
    code and message) again, even if the member has since earned enough points or the station
    was restocked; a new attempt needs a new key. A quantity out of range is refused before the
    key is claimed and stores nothing. The same key with a different request (reward, station
    or quantity, or another operation) raises KeyReused. Runs outside any transaction (durable).
    """
    _check_quantity(quantity, low=MIN_QUANTITY, high=MAX_QUANTITY, message=_("Reserve %(min)s to %(max)s at a time."))
    now = now or timezone.now()
    outcome = run_idempotent(
        scope=member_scope(member.pk),
        key=idempotency_key,
        operation="reserve",
        fingerprint=request_fingerprint(reward=reward.pk, station=station.pk, quantity=quantity),
        write=lambda: _reserve(member=member, reward=reward, station=station, quantity=quantity, now=now),
        to_result=lambda result: {"redemption": result.redemption.pk, "balance": result.balance},
    )
    if outcome.replayed:
        earlier = Redemption.objects.select_related("reward", "station").get(pk=outcome.result["redemption"])
        return RedemptionResult(redemption=earlier, balance=outcome.result["balance"], replayed=True)
    return outcome.value


def _reserve(*, member: Member, reward: Reward, station: Station, quantity: int, now: datetime) -> RedemptionResult:
    reward = Reward.objects.get(pk=reward.pk)  # the current price, window and limit
    _check_reservable(reward, now)
    if not station.is_active:
        raise recycling_errors.StationInactive()
    member_account = Account.objects.get(member=member)
    # Lock order: accounts by primary key, then the stock row.
    locked = lock_accounts(member_account, reward.account)
    payer = locked[member_account.pk]
    # The member's account lock serializes this member's reservations, so the count is exact.
    if reward.daily_limit_per_member is not None:
        already = reserved_quantity_on_day(member=member, reward=reward, at=now)
        if already + quantity > reward.daily_limit_per_member:
            raise errors.DailyLimitReached(
                _("You may reserve %(limit)s of this reward a day; %(left)s left today.")
                % {"limit": reward.daily_limit_per_member, "left": max(0, reward.daily_limit_per_member - already)}
            )
    stock = StationStock.objects.select_for_update().filter(station=station, reward=reward).first()
    if stock is None or stock.quantity < quantity:
        raise errors.OutOfStock(
            _("Only %(quantity)s left at this station.") % {"quantity": stock.quantity}
            if stock is not None and stock.quantity > 0
            else None
        )
    points = reward.points_cost * quantity
    transfer = post_transfer(
        debit=payer,
        credit=locked[reward.account_id],
        amount=points,
        kind=Transfer.Kind.REDEMPTION,
        # The ledger's own guard against posting twice; the request's key is idempotency/'s.
        idempotency_key=f"reserve:{uuid.uuid4().hex}",
        at=now,
    )
    _take_stock(stock=stock, quantity=quantity, now=now)
    redemption = _create_redemption(
        member=member,
        reward=reward,
        station=station,
        quantity=quantity,
        points=points,
        transfer=transfer,
        now=now,
    )
    _record_redemption_event(redemption, kind=Event.Kind.RESERVATION_MADE)
    notify(member=member, kind=Notice.Kind.PICKUP_CODE_READY, params=pickup_notice_params(redemption))
    return RedemptionResult(redemption=redemption, balance=payer.balance, replayed=False)


def _record_redemption_event(redemption: Redemption, *, kind: str) -> None:
    """A reservation's business event (events/), in the caller's transaction: ids and figures."""
    record_business_event(
        kind,
        member_id=redemption.member_id,
        station_id=redemption.station_id,
        city_id=redemption.station.city_id,
        payload={
            "redemption_id": redemption.pk,
            "member_code": redemption.member.code,
            "reward_id": redemption.reward_id,
            "quantity": redemption.quantity,
            "points": redemption.points,
            "status": redemption.status,
            "expires_at": redemption.expires_at,
        },
    )


def pickup_notice_params(redemption: Redemption) -> dict:
    """What a notice about a reservation says (events.models.Notice.message)."""
    return {
        "redemption_id": redemption.pk,
        "quantity": redemption.quantity,
        "reward": {"zh": redemption.reward.name_zh, "en": redemption.reward.name},
        "station": redemption.station.name,
        "code": redemption.pickup_code,
        "expires_at": redemption.expires_at.isoformat(),
    }


def _check_reservable(reward: Reward, now: datetime) -> None:
    if reward.kind != Reward.Kind.GOODS:
        raise errors.RewardNotReservable()
    if not reward.is_active or (reward.active_until is not None and now >= reward.active_until):
        raise errors.RewardInactive()
    if now < reward.active_from:
        raise errors.RewardNotYetActive(
            _("This reward is available from %(date)s.") % {"date": date_format(timezone.localtime(reward.active_from))}
        )


def _take_stock(*, stock: StationStock, quantity: int, now: datetime) -> None:
    """Take reserved goods off the (locked) stock row; the CHECK constraint backs the caller's check."""
    StationStock.objects.filter(pk=stock.pk).update(quantity=F("quantity") - quantity, updated_at=now)


def _return_stock(*, redemption: Redemption, now: datetime) -> None:
    updated = StationStock.objects.filter(station_id=redemption.station_id, reward_id=redemption.reward_id).update(
        quantity=F("quantity") + redemption.quantity, updated_at=now
    )
    if not updated:  # stock rows are never deleted through the app; recreate one removed by hand
        StationStock.objects.create(
            station_id=redemption.station_id, reward_id=redemption.reward_id, quantity=redemption.quantity
        )


def _create_redemption(
    *, member: Member, reward: Reward, station: Station, quantity: int, points: int, transfer: Transfer, now: datetime
) -> Redemption:
    """Insert the redemption with a pickup code no other reservation waiting at the station has."""
    waiting = Redemption.objects.filter(station=station, status=Redemption.Status.RESERVED)
    taken = set(waiting.values_list("pickup_code", flat=True))
    for _attempt in range(PICKUP_CODE_ATTEMPTS):
        code = new_pickup_code()
        if code in taken:
            continue
        try:
            # A savepoint: a concurrent reservation at this station may take the same code first.
            with transaction.atomic():
                return Redemption.objects.create(
                    member=member,
                    reward=reward,
                    station=station,
                    quantity=quantity,
                    points=points,
                    pickup_code=code,
                    transfer=transfer,
                    reserved_at=now,
                    expires_at=now + timedelta(days=settings.GREENBOX_RESERVATION_EXPIRY_DAYS),
                )
        except IntegrityError:
            if not waiting.filter(pickup_code=code).exists():
                raise
            taken.add(code)
    raise RuntimeError(f"No free pickup code at station {station.code} after {PICKUP_CODE_ATTEMPTS} attempts")


def collect_redemption(
    *, redemption_id: int, pickup_code: str, staff: AbstractBaseUser, now: datetime | None = None
) -> Redemption:
    """Hand out a reserved reward: staff of the redemption's station type the member's pickup code.

    Refused, with nothing written, when the staff user does not work at that station (the
    error names the station to collect at), the code is wrong, the reservation was already
    collected, cancelled or has expired (its collection deadline has passed, even if the
    expiry task has not run yet), or the staff user has typed too many wrong codes at that
    station (TooManyPickupCodes; a wrong code counts: rewards/pickup_attempts.py). Posts
    nothing: the points were taken at reservation.

    Takes no key (the admin's page of one reservation): a second collection is refused as
    AlreadyCollected. Runs outside any transaction (durable).
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        redemption = _lock_redemption(redemption_id)
        station = redemption.station
        if not works_at(user=staff, station=station):
            raise errors.WrongStation(
                _("Collect this reward at station %(code)s (%(name)s).") % {"code": station.code, "name": station.name}
            )
        check_pickup_attempts(staff=staff, station=station)
        try:
            return _collect(redemption, pickup_code=pickup_code, staff=staff, now=now)
        except errors.WrongPickupCode:
            count_wrong_pickup_code(staff=staff, station=station)
            raise


@dataclass(frozen=True)
class CollectionResult:
    redemption: Redemption
    replayed: bool  # True when an earlier request with the same idempotency key is returned


def collect_by_pickup_code(
    *,
    station: Station,
    pickup_code: str,
    staff: AbstractBaseUser,
    idempotency_key: str | None = None,
    works_here: bool | None = None,
    now: datetime | None = None,
) -> CollectionResult:
    """Hand out the reward reserved at `station` under this pickup code (the API's collect, the
    admin's collection by code), refused as collect_redemption() refuses, and with
    NoSuchReservation when no reservation with this code waits there.

    `works_here` is whether `staff` works at `station`, as the view resolved it
    (stations.selectors.staff_at_station); None: this asks works_at(). A user who does not work
    there is refused (NotStationStaff) before any key is claimed, storing nothing. Idempotent in
    the station's scope when given a key: every other refusal is stored and replayed, and a
    retry of a collection that went through gets it again. A wrong code counts towards the
    limit of wrong codes per staff user and station (rewards/pickup_attempts.py; its replay
    does not), and a user at the limit is refused (TooManyPickupCodes) before any key is
    claimed. Runs outside any transaction (durable).
    """
    now = now or timezone.now()
    if works_here is None:
        works_here = works_at(user=staff, station=station)
    if not works_here:
        raise recycling_errors.NotStationStaff()
    check_pickup_attempts(staff=staff, station=station)  # before the key's claim: stores nothing
    code = (pickup_code or "").strip()

    def write() -> Redemption:
        waiting = waiting_reservation_by_code(station=station, pickup_code=code)
        if waiting is None:
            raise errors.NoSuchReservation()
        return _collect(_lock_redemption(waiting.pk), pickup_code=code, staff=staff, now=now)

    try:
        outcome = run_idempotent_if_keyed(
            scope=station_scope(station.pk),
            key=idempotency_key,
            operation="collect",
            fingerprint=request_fingerprint(pickup_code=code),
            write=write,
            to_result=lambda redemption: {"redemption": redemption.pk},
        )
    except (errors.NoSuchReservation, errors.WrongPickupCode) as refusal:
        if not was_replayed(refusal):  # a retry of the same request is not another guess
            count_wrong_pickup_code(staff=staff, station=station)
        raise
    if outcome.replayed:
        earlier = Redemption.objects.select_related("reward", "station").get(pk=outcome.result["redemption"])
        return CollectionResult(redemption=earlier, replayed=True)
    return CollectionResult(redemption=outcome.value, replayed=False)


def _collect(redemption: Redemption, *, pickup_code: str, staff: AbstractBaseUser, now: datetime) -> Redemption:
    """Collect the reservation whose row the caller has locked."""
    _check_still_reserved(redemption)
    if now >= redemption.expires_at:
        raise errors.ReservationClosed(
            _("This reservation expired on %(date)s.")
            % {"date": date_format(timezone.localtime(redemption.expires_at), "DATETIME_FORMAT")}
        )
    if not secrets.compare_digest((pickup_code or "").strip().encode(), redemption.pickup_code.encode()):
        raise errors.WrongPickupCode()
    redemption.status = Redemption.Status.COLLECTED
    redemption.collected_at = now
    redemption.collected_by = staff
    redemption.save(update_fields=["status", "collected_at", "collected_by"])
    _record_redemption_event(redemption, kind=Event.Kind.RESERVATION_COLLECTED)
    return redemption


def cancel_redemption(
    *, redemption_id: int, member: Member, idempotency_key: str | None = None, now: datetime | None = None
) -> RedemptionResult:
    """The member cancels a reservation before collection: the points come back (a reversal of
    the debit transfer) and so does the stock, in one transaction.

    Refused when the reservation belongs to another member (before any key is claimed: nothing
    is stored) or was already collected. Cancelling a reservation that is already cancelled or
    expired changes nothing and returns it as it is, so a retried cancel, or one racing the
    expiry task, refunds exactly once. Idempotent in the member's scope when given a key (the
    API's); the member page's button sends none. Runs outside any transaction (durable).
    """
    now = now or timezone.now()
    owner = Redemption.objects.filter(pk=redemption_id).values_list("member_id", flat=True).first()
    if owner is None:
        raise errors.NoSuchReservation(_("There is no such reservation."))
    if owner != member.pk:
        raise errors.NotYourRedemption()
    outcome = run_idempotent_if_keyed(
        scope=member_scope(member.pk),
        key=idempotency_key,
        operation="cancel",
        fingerprint=request_fingerprint(redemption=redemption_id),
        write=lambda: _cancel(redemption_id=redemption_id, now=now),
        to_result=lambda redemption: {"redemption": redemption.pk, "balance": _balance(member)},
    )
    if outcome.replayed:
        earlier = Redemption.objects.select_related("reward", "station").get(pk=redemption_id)
        return RedemptionResult(redemption=earlier, balance=outcome.result["balance"], replayed=True)
    return RedemptionResult(redemption=outcome.value, balance=outcome.result["balance"], replayed=False)


def _cancel(*, redemption_id: int, now: datetime) -> Redemption:
    redemption = _lock_redemption(redemption_id)
    if redemption.status == Redemption.Status.COLLECTED:
        raise errors.AlreadyCollected(_("This reward has already been collected; it cannot be cancelled."))
    if redemption.status != Redemption.Status.RESERVED:
        return redemption
    reserved_day = _end_reservation(redemption, status=Redemption.Status.CANCELLED, now=now)
    if reserved_day < shanghai_day(now):
        recompute_after_commit(reserved_day)  # today's totals refresh on their own schedule
    return redemption


def expire_reservations(*, now: datetime | None = None) -> int:
    """Expire the reservations not collected by their deadline: refund the points and return the
    stock. Returns how many it expired.

    One transaction per reservation, each re-checking the status under the row lock, so running
    it twice (or concurrently with itself, a collection or a cancellation) refunds each
    reservation exactly once; the second run finds nothing left to do.
    """
    now = now or timezone.now()
    due = list(
        Redemption.objects.filter(status=Redemption.Status.RESERVED, expires_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    expired_days = []
    for redemption_id in due:
        with transaction.atomic(durable=True):
            redemption = _lock_redemption(redemption_id)
            if redemption.status != Redemption.Status.RESERVED:
                continue  # collected, cancelled or expired by someone else meanwhile
            expired_days.append(_end_reservation(redemption, status=Redemption.Status.EXPIRED, now=now))
    # A refunded reservation no longer counts as redeemed on the day it was made: recompute each
    # such day once (not once per reservation).
    for day in sorted(set(expired_days)):
        recompute_after_commit(day)
    return len(expired_days)


@transaction.atomic(durable=True)
def notice_expiring_reservations(*, now: datetime | None = None) -> int:
    """Warn each member whose reservation expires within GREENBOX_RESERVATION_EXPIRY_NOTICE_HOURS,
    once per reservation (the notice's once-key), so the periodic task may run as often as it
    likes. Returns how many notices it wrote."""
    now = now or timezone.now()
    window = timedelta(hours=settings.GREENBOX_RESERVATION_EXPIRY_NOTICE_HOURS)
    soon = now + window
    due = (
        Redemption.objects.filter(status=Redemption.Status.RESERVED, expires_at__gt=now, expires_at__lte=soon)
        .select_related("member", "reward", "station")
        .order_by("pk")
    )
    warned = set(
        Notice.objects.filter(kind=Notice.Kind.RESERVATION_EXPIRING, created_at__gte=now - window)
        .exclude(once_key="")
        .values_list("once_key", flat=True)
    )
    written = 0
    for redemption in due:
        if f"reservation_expiring:{redemption.pk}" in warned:
            continue  # the once-key would refuse it anyway; this spares the savepoint
        notice = notify(
            member=redemption.member,
            kind=Notice.Kind.RESERVATION_EXPIRING,
            params=pickup_notice_params(redemption),
            once_key=f"reservation_expiring:{redemption.pk}",
        )
        written += notice is not None
    return written


def _lock_redemption(redemption_id: int) -> Redemption:
    try:
        return Redemption.objects.select_for_update().get(pk=redemption_id)
    except Redemption.DoesNotExist:
        raise errors.NoSuchReservation(_("There is no such reservation.")) from None


def _check_still_reserved(redemption: Redemption) -> None:
    if redemption.status == Redemption.Status.COLLECTED:
        raise errors.AlreadyCollected()
    if redemption.status == Redemption.Status.CANCELLED:
        raise errors.ReservationClosed(_("This reservation was cancelled."))
    if redemption.status == Redemption.Status.EXPIRED:
        raise errors.ReservationClosed(_("This reservation has expired."))


def _end_reservation(redemption: Redemption, *, status: str, now: datetime) -> date:
    """Refund and restock a reservation whose row the caller has locked and found `reserved`.

    Returns the Shanghai day the reservation's points were debited, whose totals it changes."""
    # Lock order: the redemption (locked by the caller), then the accounts (reverse_transfer
    # locks both by primary key), then the stock row (the UPDATE locks it).
    redemption.refund_transfer = reverse_transfer(
        original=redemption.transfer, idempotency_key=f"redemption:{redemption.pk}:reversal", at=now
    )
    _return_stock(redemption=redemption, now=now)
    redemption.status = status
    redemption.ended_at = now
    redemption.save(update_fields=["status", "ended_at", "refund_transfer"])
    cancelled = status == Redemption.Status.CANCELLED
    _record_redemption_event(
        redemption, kind=Event.Kind.RESERVATION_CANCELLED if cancelled else Event.Kind.RESERVATION_EXPIRED
    )
    return shanghai_day(redemption.transfer.created_at)


# --- Donations ---------------------------------------------------------------------------


def donate(
    *,
    member: Member,
    campaign: DonationCampaign,
    notebooks: int,
    idempotency_key: str,
    now: datetime | None = None,
) -> DonationResult:
    """Donate the points for `notebooks` notebooks to a campaign (member account -> campaign
    account), recording the notebooks funded, in one transaction.

    Refused, with nothing written, when the notebooks are out of range (1..MAX_NOTEBOOKS), the
    campaign has not started or has ended, or the member has too few points.

    Idempotent in the member's scope: a retry with the same key returns the first outcome
    (replayed=True), and that includes a first refusal: the retry raises the same error (same
    code and message) again, even if the member has since earned enough points; a new attempt
    needs a new key. Notebooks out of range are refused before the key is claimed and store
    nothing. The same key with a different request raises KeyReused. Runs outside any
    transaction (durable).
    """
    _check_quantity(
        notebooks, low=MIN_NOTEBOOKS, high=MAX_NOTEBOOKS, message=_("Donate %(min)s to %(max)s notebooks at a time.")
    )
    now = now or timezone.now()
    outcome = run_idempotent(
        scope=member_scope(member.pk),
        key=idempotency_key,
        operation="donate",
        fingerprint=request_fingerprint(campaign=campaign.pk, notebooks=notebooks),
        write=lambda: _donate(member=member, campaign=campaign, notebooks=notebooks, now=now),
        to_result=lambda result: {"donation": result.donation.pk, "balance": result.balance},
    )
    if outcome.replayed:
        earlier = Donation.objects.select_related("campaign").get(pk=outcome.result["donation"])
        return DonationResult(donation=earlier, balance=outcome.result["balance"], replayed=True)
    return outcome.value


def _donate(*, member: Member, campaign: DonationCampaign, notebooks: int, now: datetime) -> DonationResult:
    campaign = DonationCampaign.objects.get(pk=campaign.pk)  # the current price and dates
    if now < campaign.starts_at:
        raise errors.CampaignNotStarted(
            _("This campaign starts on %(date)s.") % {"date": date_format(timezone.localtime(campaign.starts_at))}
        )
    if now >= campaign.ends_at:
        raise errors.CampaignEnded()
    points = notebooks * campaign.points_per_notebook
    member_account = Account.objects.get(member=member)
    home_station = Member.objects.select_related("home_station").get(pk=member.pk).home_station
    locked = lock_accounts(member_account, campaign.account)
    payer = locked[member_account.pk]
    transfer = post_transfer(
        debit=payer,
        credit=locked[campaign.account_id],
        amount=points,
        kind=Transfer.Kind.DONATION,
        # The ledger's own guard against posting twice; the request's key is idempotency/'s.
        idempotency_key=f"donate:{uuid.uuid4().hex}",
        at=now,
    )
    donation = Donation.objects.create(
        member=member,
        campaign=campaign,
        notebooks=notebooks,
        points=points,
        transfer=transfer,
        station=home_station,  # daily totals count a donation at the member's home station
        created_at=now,
    )
    record_business_event(
        Event.Kind.DONATION_MADE,
        member_id=member.pk,
        station_id=donation.station_id,
        city_id=home_station.city_id if home_station is not None else None,
        payload={
            "donation_id": donation.pk,
            "member_code": member.code,
            "campaign_id": campaign.pk,
            "notebooks": notebooks,
            "points": points,
        },
    )
    return DonationResult(donation=donation, balance=payer.balance, replayed=False)


def _check_quantity(quantity: object, *, low: int, high: int, message: str) -> None:
    """A whole number in range, before any key is claimed (a request refused for its shape stores nothing)."""
    if not is_whole_number(quantity) or not low <= quantity <= high:
        raise errors.InvalidQuantity(message % {"min": low, "max": high})


def _balance(member: Member) -> int:
    return Account.objects.values_list("balance", flat=True).get(member=member)


# --- Closing a member's account ----------------------------------------------------------


def delete_member_account(*, member: Member, now: datetime | None = None) -> int:
    """A member deletes their account: recycling.services.anonymise_member() removes the number,
    name and code and disables sign-in, then each open reservation is cancelled through
    cancel_redemption(), so its points and stock come back exactly as a member's own cancel
    would (stock, ledger and totals stay right), and events.services.forget_member() removes the
    member's notices and the member code from their business events. Returns how many
    reservations it cancelled.

    Anonymising first closes the door (no new reservation can start) before the cancels; each
    cancel is its own durable transaction, as everywhere. If one fails midway, running this
    again finishes the job: anonymising twice changes nothing and the reservations cancelled
    already are not open any more (one left behind would expire and refund on its own).
    """
    now = now or timezone.now()
    anonymise_member(member=member, now=now)
    open_ids = list(
        Redemption.objects.filter(member=member, status=Redemption.Status.RESERVED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for redemption_id in open_ids:
        cancel_redemption(redemption_id=redemption_id, member=member, now=now)
    forget_member(member_id=member.pk)  # their notices, and the member code in their events
    return len(open_ids)
