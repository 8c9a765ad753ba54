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

Idempotency: reserve_reward and donate take an idempotency key and remember every outcome,
refusals included, in RewardRequest. Cancel and expire need no key: they act only on a
reservation that is still `reserved`, checked under its row lock, so they act exactly once.
"""

import secrets
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
from audit.services import audit_values, record_event
from core.errors import DomainError, error_class_for_code
from core.validation import is_whole_number
from ledger.models import Account, Transfer
from ledger.services import lock_accounts, post_transfer, reverse_transfer
from recycling import errors as ledger_errors
from recycling.days import shanghai_day
from recycling.models import Member
from recycling.tasks import recompute_after_commit
from stations.models import Station
from stations.selectors import works_at

from . import errors
from .models import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_NOTEBOOKS,
    MAX_QUANTITY,
    MIN_NOTEBOOKS,
    MIN_QUANTITY,
    Donation,
    DonationCampaign,
    Redemption,
    Reward,
    RewardRequest,
    StationStock,
    new_pickup_code,
)
from .selectors import reserved_quantity_on_day

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
    refused (InvalidStockChange) if it would take the quantity below zero. Only staff of the
    station (or a superuser) may change it.
    """
    if not works_at(user=staff, station=station):
        raise ledger_errors.NotStationStaff()
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
    return _update(reward, CATALOG_FIELDS["reward"], changes)


def update_campaign(*, campaign: DonationCampaign, **changes) -> DonationCampaign:
    """Change a campaign's fields (not its account). A new price per notebook applies to later
    donations only: each donation keeps its points and notebooks.

    Raises django.core.exceptions.ValidationError for invalid values.
    """
    return _update(campaign, CATALOG_FIELDS["campaign"], changes)


def _update(instance, allowed: list[str], changes: dict):
    unknown = set(changes) - set(allowed)
    if unknown:
        raise TypeError(f"cannot change {sorted(unknown)}")
    if not changes:
        return instance
    with transaction.atomic():
        for field, value in changes.items():
            setattr(instance, field, value)
        instance.full_clean()
        instance.save(update_fields=list(changes))
        record_event(
            action=AuditEvent.Action.CATALOG_CHANGED, target=instance, details={"changed": audit_values(changes)}
        )
    return instance


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

    Idempotent: a retry with the same key returns the first outcome (replayed=True), and that
    includes a first refusal: the retry raises the same error (same code and message) again,
    even if the member has since earned enough points or the station was restocked; a new
    attempt needs a new key. The same key with a different request (member, reward, station
    or quantity) raises IdempotencyKeyReused. Call it outside any transaction, so that a
    refusal is remembered.
    """
    now = now or timezone.now()
    request = _Request(
        key=idempotency_key,
        operation=RewardRequest.Operation.RESERVE,
        member=member,
        fingerprint=f"reward={reward.pk};station={station.pk};quantity={quantity!r}",
    )
    return _run_idempotently(
        request,
        lambda: _reserve(request=request, member=member, reward=reward, station=station, quantity=quantity, now=now),
        replay=lambda previous: RedemptionResult(
            redemption=previous.redemption, balance=_balance(member), replayed=True
        ),
    )


def _reserve(
    *, request: "_Request", member: Member, reward: Reward, station: Station, quantity: int, now: datetime
) -> RedemptionResult:
    if not is_whole_number(quantity) or not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
        raise errors.InvalidQuantity(
            _("Reserve %(min)s to %(max)s at a time.") % {"min": MIN_QUANTITY, "max": MAX_QUANTITY}
        )
    reward = Reward.objects.get(pk=reward.pk)  # the current price, window and limit
    _check_reservable(reward, now)
    if not station.is_active:
        raise ledger_errors.StationInactive()
    member_account = Account.objects.get(member=member)
    with transaction.atomic():
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
        if payer.balance < points:
            raise ledger_errors.InsufficientPoints(
                _("This needs %(points)s points; the member has %(balance)s.")
                % {"points": points, "balance": payer.balance}
            )
        transfer = post_transfer(
            debit=payer,
            credit=locked[reward.account_id],
            amount=points,
            kind=Transfer.Kind.REDEMPTION,
            idempotency_key=f"reserve:{request.key}",
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
        request.record(redemption=redemption)
    return RedemptionResult(redemption=redemption, balance=payer.balance, replayed=False)


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
    expiry task has not run yet). Posts nothing: the points were taken at reservation.
    """
    now = now or timezone.now()
    with transaction.atomic():
        redemption = _lock_redemption(redemption_id)
        station = redemption.station
        if not works_at(user=staff, station=station):
            raise errors.WrongStation(
                _("Collect this reward at station %(code)s (%(name)s).") % {"code": station.code, "name": station.name}
            )
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
    return redemption


def cancel_redemption(*, redemption_id: int, member: Member, now: datetime | None = None) -> Redemption:
    """The member cancels a reservation before collection: the points come back (a reversal of
    the debit transfer) and so does the stock, in one transaction.

    Refused when the reservation belongs to another member or was already collected. Cancelling
    a reservation that is already cancelled or expired changes nothing and returns it as it is,
    so a retried cancel, or one racing the expiry task, refunds exactly once.
    """
    now = now or timezone.now()
    with transaction.atomic():
        redemption = _lock_redemption(redemption_id)
        if redemption.member_id != member.pk:
            raise errors.NotYourRedemption()
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
        with transaction.atomic():
            redemption = _lock_redemption(redemption_id)
            if redemption.status != Redemption.Status.RESERVED:
                continue  # collected, cancelled or expired by someone else meanwhile
            expired_days.append(_end_reservation(redemption, status=Redemption.Status.EXPIRED, now=now))
    # A refunded reservation no longer counts as redeemed on the day it was made: recompute each
    # such day once (not once per reservation).
    for day in sorted(set(expired_days)):
        recompute_after_commit(day)
    return len(expired_days)


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

    Idempotent: a retry with the same key returns the first outcome (replayed=True), and that
    includes a first refusal: the retry raises the same error (same code and message) again,
    even if the member has since earned enough points; a new attempt needs a new key. The same
    key with a different request (member, campaign or notebooks) raises IdempotencyKeyReused.
    Call it outside any transaction, so that a refusal is remembered.
    """
    now = now or timezone.now()
    request = _Request(
        key=idempotency_key,
        operation=RewardRequest.Operation.DONATE,
        member=member,
        fingerprint=f"campaign={campaign.pk};notebooks={notebooks!r}",
    )
    return _run_idempotently(
        request,
        lambda: _donate(request=request, member=member, campaign=campaign, notebooks=notebooks, now=now),
        replay=lambda previous: DonationResult(donation=previous.donation, balance=_balance(member), replayed=True),
    )


def _donate(
    *, request: "_Request", member: Member, campaign: DonationCampaign, notebooks: int, now: datetime
) -> DonationResult:
    if not is_whole_number(notebooks) or not MIN_NOTEBOOKS <= notebooks <= MAX_NOTEBOOKS:
        raise errors.InvalidQuantity(
            _("Donate %(min)s to %(max)s notebooks at a time.") % {"min": MIN_NOTEBOOKS, "max": MAX_NOTEBOOKS}
        )
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
    with transaction.atomic():
        locked = lock_accounts(member_account, campaign.account)
        payer = locked[member_account.pk]
        if payer.balance < points:
            raise ledger_errors.InsufficientPoints(
                _("This needs %(points)s points; the member has %(balance)s.")
                % {"points": points, "balance": payer.balance}
            )
        transfer = post_transfer(
            debit=payer,
            credit=locked[campaign.account_id],
            amount=points,
            kind=Transfer.Kind.DONATION,
            idempotency_key=f"donate:{request.key}",
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
        request.record(donation=donation)
    return DonationResult(donation=donation, balance=payer.balance, replayed=False)


# --- Idempotency -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    key: str
    operation: str
    member: Member
    fingerprint: str

    def record(self, **outcome) -> RewardRequest:
        return RewardRequest.objects.create(
            key=self.key, operation=self.operation, member=self.member, fingerprint=self.fingerprint, **outcome
        )

    def previous_outcome(self) -> RewardRequest | None:
        """The first outcome for this key, if any; raises the first refusal again."""
        previous = RewardRequest.objects.filter(key=self.key).select_related("redemption", "donation").first()
        if previous is None:
            return None
        if (previous.operation, previous.member_id, previous.fingerprint) != (
            self.operation,
            self.member.pk,
            self.fingerprint,
        ):
            raise ledger_errors.IdempotencyKeyReused()
        if previous.error_code:
            refusal = error_class_for_code(previous.error_code)(previous.error_message)
            refusal.code = previous.error_code
            raise refusal
        return previous


def _run_idempotently(request: _Request, attempt, *, replay):
    """Run `attempt` (which records its success in RewardRequest in its own transaction) once
    per idempotency key; remember a refusal; return `replay(previous)` for a repeated key."""
    if not isinstance(request.key, str) or not 0 < len(request.key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ledger_errors.InvalidIdempotencyKey()
    previous = request.previous_outcome()
    if previous is not None:
        return replay(previous)
    try:
        return attempt()
    except DomainError as refusal:
        # The refused transaction has rolled back; remember the refusal in a transaction of its own.
        try:
            with transaction.atomic():
                request.record(error_code=refusal.code, error_message=str(refusal.message)[:500])
        except IntegrityError:
            # A concurrent request with the same key recorded its outcome first: that one counts.
            previous = request.previous_outcome()
            if previous is not None:
                return replay(previous)
            raise
        raise
    except IntegrityError:
        # A concurrent request with the same key committed first (unique key): return its outcome.
        previous = request.previous_outcome()
        if previous is not None:
            return replay(previous)
        raise


def _balance(member: Member) -> int:
    return Account.objects.values_list("balance", flat=True).get(member=member)
