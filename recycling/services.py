"""Every write of the recycling app: members, drop-offs and voids, carton movements.

Each service is one transaction. The drop-off, void and carton-movement writes are entry points:
they run outside any transaction (transaction.atomic(durable=True), through
idempotency.services.run_idempotent), so their commit is the write's and its key's;
register_member() and change_carton_inventory() also compose inside a caller's transaction
(seeding, a drop-off). Refusals are DomainErrors raised before anything is written (or inside
the transaction, which then rolls back). The writes that take an idempotency key claim it in
the station's scope through run_idempotent(); what is checked before the claim stores nothing,
every refusal after it is stored and replayed.
"""

import secrets
import time
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.services import record_event
from core.errors import DomainError
from core.validation import is_whole_number
from idempotency.services import (
    KeyedRequest,
    Outcome,
    request_fingerprint,
    run_idempotent,
    run_idempotent_batch,
    run_idempotent_if_keyed,
    station_scope,
)
from ledger.models import Transfer
from ledger.services import Posting, post_transfers, reverse_transfer
from stations.models import Station
from stations.selectors import manages, works_at

from . import errors
from .days import cap_period_days, shanghai_day
from .ledger import lock_members_and_issuance, open_member_account
from .mobile import normalize_mobile
from .models import (
    MAX_CARTONS_PER_DROPOFF,
    MAX_CARTONS_PER_MOVEMENT,
    MAX_DISPLAY_NAME_LENGTH,
    MIN_CARTONS_PER_DROPOFF,
    CartonInventory,
    CartonMovement,
    DropOff,
    Member,
    new_member_code,
)
from .permissions import can_void_dropoff
from .pricing import EarnedTally, earning_transfer_key, price_dropoff, reversal_transfer_key
from .selectors import (
    EarningTerms,
    closed_campaigns_on_days,
    earning_cartons_on_days,
    earning_terms_at,
    member_search_term,
    members_by_code,
    members_matching,
)
from .tasks import recompute_after_commit

# Station clocks drift; a drop-off stamped a little ahead of the server is still accepted.
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=5)
MAX_VOID_REASON_LENGTH = 300
MAX_REVEAL_REASON_LENGTH = 300


@dataclass(frozen=True)
class DropOffResult:
    dropoff: DropOff
    balance: int  # the member's balance after the drop-off
    replayed: bool  # True when an earlier request with the same idempotency key is returned

    @property
    def capped_cartons(self) -> int:
        """Cartons beyond the member's caps, recorded with no points."""
        return self.dropoff.cartons - self.dropoff.earning_cartons


def register_member(
    *,
    mobile: str,
    password: str | None = None,
    privacy_notice_version: str = "",
    consent_at: datetime | None = None,
    display_name: str = "",
) -> Member:
    """Create a consumer login, its Member and its points account.

    Members sign in with their mobile number (recycling.auth.MobileNumberBackend); the login's
    username is a random handle, so user lists, history and logs never show the number.
    `privacy_notice_version` is the privacy notice the member agreed to (the sign-up page
    requires it; scripts seeding demo members give none), recorded with `consent_at` (now).

    Raises django.core.exceptions.ValidationError for a number that is not a mainland China mobile
    or is already registered, or a display name that is too long.
    """
    number = normalize_mobile(mobile)
    display_name = clean_display_name(display_name)
    taken = ValidationError(_("This mobile number is already registered."), code="mobile_taken")
    if Member.objects.filter(mobile=number).exists():
        raise taken
    if privacy_notice_version and consent_at is None:
        consent_at = timezone.now()
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(username=f"member-{secrets.token_hex(6)}", password=password)
            member = Member.objects.create(
                user=user,
                mobile=number,
                account=open_member_account(),
                display_name=display_name,
                privacy_notice_version=privacy_notice_version,
                privacy_consent_at=consent_at if privacy_notice_version else None,
            )
    except IntegrityError:
        # A concurrent registration of the same number committed between the check and the insert
        # (the unique username and mobile stop the second one); refuse it the same way.
        raise taken from None
    return member


def clean_display_name(display_name: str) -> str:
    """The display name as stored: spaces trimmed, at most MAX_DISPLAY_NAME_LENGTH characters,
    no control characters. Raises ValidationError otherwise."""
    name = " ".join((display_name or "").split())
    if len(name) > MAX_DISPLAY_NAME_LENGTH:
        raise ValidationError(
            _("Use at most %(max)d characters.") % {"max": MAX_DISPLAY_NAME_LENGTH}, code="display_name_length"
        )
    if any(unicodedata.category(character).startswith("C") for character in name):
        raise ValidationError(_("Use letters, digits and punctuation only."), code="display_name_characters")
    return name


@transaction.atomic(durable=True)
def set_display_name(*, member: Member, display_name: str) -> Member:
    """The member's optional display name, which staff see to confirm them at the counter
    (empty: staff see the member code's first characters). Raises ValidationError (nothing
    changed) for one clean_display_name() refuses, MemberDeleted for a deleted account."""
    name = clean_display_name(display_name)
    locked = Member.objects.select_for_update().get(pk=member.pk)
    if locked.anonymised_at is not None:
        raise errors.MemberDeleted()
    locked.display_name = name
    locked.save(update_fields=["display_name"])
    member.display_name = name
    return member


@transaction.atomic(durable=True)
def reveal_mobile(*, member: Member, user: AbstractBaseUser, reason: str) -> str:
    """A member's full mobile number, for a superuser who gives the reason they need it: the one
    place staff see it. Records `mobile_revealed` (who, which member, the reason; never the
    number) in the same transaction, so no number is shown without its audit row.

    Refused (nothing recorded) for anyone but an active superuser (NotAllowedToReveal), a blank
    or over-long reason (InvalidReason), a deleted account (MemberDeleted)."""
    if not (user.is_active and user.is_superuser):
        raise errors.NotAllowedToReveal()
    reason = " ".join((reason or "").split())
    if not reason or len(reason) > MAX_REVEAL_REASON_LENGTH:
        raise errors.InvalidReason(
            _("Give the reason you need the number, in at most %(max)d characters.") % {"max": MAX_REVEAL_REASON_LENGTH}
        )
    number = Member.objects.filter(pk=member.pk).values_list("mobile", flat=True).first()
    if number is None:
        raise errors.MemberDeleted()
    record_event(action=AuditEvent.Action.MOBILE_REVEALED, user=user, target=member, details={"reason": reason})
    return number


@transaction.atomic(durable=True)
def anonymise_member(*, member: Member, now: datetime | None = None) -> Member:
    """Delete a member's account as far as the books allow: the number, display name and member
    code go (a new random code, so the old QR code finds nobody), the login can no longer sign
    in (inactive, no usable password, a new random username) and `anonymised_at` is set; one
    `account_deleted` event records it. Drop-offs, redemptions, donations, the points account
    and every transfer stay as they are, so the ledger stays balanced and no daily or campaign
    total changes (they count members by id, never by number).

    Running it again on a deleted account changes nothing. Open reservations are the caller's
    (members.services.delete_account cancels them through rewards' cancel service)."""
    now = now or timezone.now()
    locked = Member.objects.select_for_update().select_related("user").get(pk=member.pk)
    if locked.anonymised_at is None:
        user = locked.user
        user.username = f"deleted-{secrets.token_hex(8)}"
        user.first_name = user.last_name = user.email = ""
        user.is_active = False
        user.set_unusable_password()
        user.save(update_fields=["username", "first_name", "last_name", "email", "is_active", "password"])
        locked.mobile = None
        locked.display_name = ""
        locked.code = new_member_code()
        locked.anonymised_at = now
        locked.save(update_fields=["mobile", "display_name", "code", "anonymised_at"])
        record_event(action=AuditEvent.Action.ACCOUNT_DELETED, user=user, target=locked)
    for field in ("mobile", "display_name", "code", "anonymised_at"):
        setattr(member, field, getattr(locked, field))
    return member


def record_dropoff(
    *,
    station: Station,
    member_code: str,
    cartons: int,
    staff: AbstractBaseUser,
    idempotency_key: str,
    occurred_at: datetime | None = None,
    works_here: bool | None = None,
) -> DropOffResult:
    """Record cartons a member left at a station and credit the points they earn: record_dropoffs()
    for one drop-off, its refusal raised.

    Points = cartons within the member's caps (daily, and weekly and monthly when the rule sets
    them) x the earning rule in force at the station's city at `occurred_at` (default: now).
    Both the rule and the capped count are stored on the drop-off so its points stay explainable
    after the rule changes. Its pricing is recycling.pricing.price_dropoff(), which the simulator
    and the audit share.

    `works_here` is whether `staff` works at `station`, as the view resolved it
    (stations.selectors.staff_at_station); None: this asks works_at() itself.

    Idempotent in the station's scope (idempotency/services.py): a retry with the same key, from
    any staff login at the station, returns the first outcome (replayed=True) and credits nothing
    again; the same key with another request is refused (KeyReused). Refused before the key is
    claimed, so that nothing is stored and a corrected retry with the same key goes through: a
    carton count out of range, a time in the future or too long ago (check_dropoff_time), a day
    of a campaign that has closed (closed_campaign_refusals), a bad key, a staff user who does
    not work here. Every other refusal (unknown member, inactive station, no rule or factor in force) is
    stored under the key and raised again to a retry.

    Runs outside any transaction (durable: its commit is the drop-off's).
    """
    item = DropOffItem(
        member_code=member_code, cartons=cartons, idempotency_key=idempotency_key, occurred_at=occurred_at
    )
    (answer,) = record_dropoffs(station=station, staff=staff, items=[item], works_here=works_here)
    if isinstance(answer, DomainError):
        raise answer
    return answer


@dataclass(frozen=True)
class DropOffItem:
    """One drop-off as the client sent it."""

    member_code: str
    cartons: int
    idempotency_key: str
    occurred_at: datetime | None = None  # None: now


def record_dropoffs(
    *,
    station: Station,
    staff: AbstractBaseUser,
    items: Sequence[DropOffItem],
    works_here: bool | None = None,
    offline: bool = False,
) -> list[DropOffResult | DomainError]:
    """Record drop-offs at one station, each under its own key, in one transaction: the one
    implementation of the drop-off write, for one (record_dropoff) or a device's whole offline
    queue (the API's batch). Returns, per item in order, its DropOffResult or its refusal; a
    refused item does not stop the others. Each item is priced after the ones before it, so
    a member's daily cap counts the batch's earlier drop-offs.

    The whole call is refused (NotStationStaff, nothing stored) when `staff` does not work here.
    Per item, as record_dropoff() says: the shape checks store nothing; the other refusals are
    stored under the item's key. The statements are a fixed few whatever the number of items
    (bench/bench_api.py's batched figure): the keys' locks, their earlier outcomes, the members,
    the rules and factors, the accounts' locks, the day's cartons, then one INSERT each for the
    drop-offs, the transfers with their balances and the keys' outcomes. An error that is not
    a refusal (a lost connection) rolls the whole call back and stores nothing; sending the same
    items again is safe.

    `offline`: the items are a station device's queue synced after it was offline (the API's
    batch), which check_dropoff_time() lets go further back.
    """
    now = timezone.now()
    answers: list[DropOffResult | DomainError | None] = [None] * len(items)
    checked: list[tuple[int, DropOffRequest]] = []
    for index, item in enumerate(items):
        try:
            checked.append((index, _checked_dropoff(item, now=now, offline=offline)))
        except DomainError as refusal:
            answers[index] = refusal
    closed = closed_campaign_refusals(times={request.occurred_at for _index, request in checked}, now=now)
    if closed:
        for index, request in checked:
            answers[index] = closed.get(shanghai_day(request.occurred_at))
        checked = [(index, request) for index, request in checked if answers[index] is None]
    _require_staff(staff=staff, station=station, works_here=works_here)
    requests = [request for _index, request in checked]
    outcomes = run_idempotent_batch(
        scope=station_scope(station.pk),
        requests=[
            KeyedRequest(key=r.idempotency_key, operation="dropoff", fingerprint=r.fingerprint) for r in requests
        ],
        write=lambda fresh: _write_dropoffs(station, staff, [requests[i] for i in fresh], now=now),
        to_result=lambda result: {"dropoff": result.dropoff.pk, "balance": result.balance},
    )
    replayed = [o.result["dropoff"] for o in outcomes if isinstance(o, Outcome) and o.replayed]
    earlier = DropOff.objects.select_related("station", "member").in_bulk(replayed) if replayed else {}
    for (index, _request), outcome in zip(checked, outcomes, strict=True):
        if isinstance(outcome, DomainError):
            answers[index] = outcome
        elif outcome.replayed:
            dropoff = earlier[outcome.result["dropoff"]]
            answers[index] = DropOffResult(dropoff=dropoff, balance=outcome.result["balance"], replayed=True)
        else:
            answers[index] = outcome.value
    return answers


@dataclass(frozen=True)
class DropOffRequest:
    """A DropOffItem once checked."""

    idempotency_key: str
    member_code: str  # stripped, upper case
    cartons: int
    occurred_at: datetime
    fingerprint: str


def _checked_dropoff(item: DropOffItem, *, now: datetime, offline: bool) -> DropOffRequest:
    """The item's shape checks, which store nothing (before its key is claimed)."""
    _check_cartons(item.cartons)
    check_dropoff_time(occurred_at=item.occurred_at, now=now, offline=offline)
    code = (item.member_code or "").strip().upper()
    return DropOffRequest(
        idempotency_key=item.idempotency_key,
        member_code=code,
        cartons=item.cartons,
        occurred_at=item.occurred_at or now,
        # What the client sent (an omitted time as None), not who sent it: another staff login
        # re-sending a device's queue is the same request.
        fingerprint=request_fingerprint(member_code=code, cartons=item.cartons, occurred_at=item.occurred_at),
    )


def dropoff_max_age(*, offline: bool) -> timedelta:
    """How long before it is recorded a drop-off may have happened: GREENBOX_DROPOFF_MAX_AGE_HOURS
    at the desk and in a single POST, GREENBOX_OFFLINE_DROPOFF_MAX_AGE_DAYS in a station device's
    offline batch (never less than the first)."""
    normal = timedelta(hours=settings.GREENBOX_DROPOFF_MAX_AGE_HOURS)
    if not offline:
        return normal
    return max(normal, timedelta(days=settings.GREENBOX_OFFLINE_DROPOFF_MAX_AGE_DAYS))


def check_dropoff_time(*, occurred_at: datetime | None, now: datetime, offline: bool = False) -> None:
    """The one rule of when a drop-off may have happened, which record_dropoffs() applies to
    every item (desk, API, batch, demo) before its key is claimed, so a refusal stores nothing:
    not in the future (beyond the clock skew allowance) and not longer before `now` than
    dropoff_max_age(). Back-dating is how a daily cap would be walked round (a month of
    back-dated drop-offs each within its own day's cap); the weekly and monthly caps bound
    what the window lets through. Raises InvalidTime or DropOffTooOld; None (now) passes.
    A drop-off of an offline batch beyond the first window is accepted and flagged for review
    (dashboards/anomalies.py, late records)."""
    if occurred_at is None:
        return
    if occurred_at > now + CLOCK_SKEW_ALLOWANCE:
        raise errors.InvalidTime()
    if occurred_at < now - dropoff_max_age(offline=offline):
        if offline:
            message = _(
                "A station device's offline drop-offs can be synced at most %(days)d days after they happened."
            ) % {"days": dropoff_max_age(offline=True).days}
        else:
            message = _("A drop-off can be recorded at most %(hours)d hours after it happened.") % {
                "hours": settings.GREENBOX_DROPOFF_MAX_AGE_HOURS
            }
        raise errors.DropOffTooOld(message)


def closed_campaign_refusals(*, times: Collection[datetime], now: datetime) -> dict[date, errors.CampaignClosed]:
    """The refusal of each Shanghai day among `times`' that belongs to a campaign already over
    (its last day before today): a closed campaign's totals are final, so no drop-off may be
    added to its days. Today's drop-offs need no query (no campaign containing today is over)."""
    today = shanghai_day(now)
    days = {shanghai_day(at) for at in times} - {today}
    if not days:
        return {}
    refusals = {}
    for campaign in closed_campaigns_on_days(days=days, today=today):
        for day in days:
            if campaign.start_day <= day <= campaign.end_day:
                refusals[day] = errors.CampaignClosed(
                    _("%(campaign)s closed on %(day)s: drop-offs of its days can no longer be recorded.")
                    % {"campaign": campaign.name, "day": campaign.end_day.isoformat()}
                )
    return refusals


def _write_dropoffs(
    station: Station, staff: AbstractBaseUser, requests: list[DropOffRequest], *, now: datetime
) -> list[DropOffResult | DomainError]:
    """The drop-offs' reads and writes, inside run_idempotent_batch()'s transaction."""
    members = members_by_code(codes={request.member_code for request in requests})
    terms = earning_terms_at(city_id=station.city_id, times={request.occurred_at for request in requests})
    answers: list[DropOffResult | DomainError | None] = []
    accepted: list[tuple[int, DropOffRequest, Member, EarningTerms]] = []
    for request in requests:
        member, in_force = members.get(request.member_code), terms[request.occurred_at]
        refusal = _dropoff_refusal(station, member, in_force)
        if refusal is None:
            accepted.append((len(answers), request, member, in_force))
        answers.append(refusal)
    if not accepted:
        return answers

    # Lock order (ledger/services.py): the accounts by primary key, then the carton inventory
    # row (change_carton_inventory's UPDATE). The drop-off rows are new, so there is no business
    # row to lock first. The members' account locks serialize their drop-offs, so the cap
    # counts are exact.
    accounts, issuer = lock_members_and_issuance(
        member_account_ids={member.account_id for _i, _r, member, _t in accepted}, station=station
    )
    earned = EarnedTally(
        earning_cartons_on_days(
            member_ids={member.pk for _i, _r, member, _t in accepted},
            days={d for _i, r, _m, _t in accepted for d in cap_period_days(shanghai_day(r.occurred_at))},
        )
    )
    # The drop-offs' ids come first, so that each earning transfer (whose key names its drop-off)
    # is posted before its drop-off is inserted with the link: one INSERT, no UPDATE after it.
    ids = iter(_new_dropoff_ids(len(accepted)))
    dropoffs = []
    for _index, request, member, in_force in accepted:
        day = shanghai_day(request.occurred_at)
        price = price_dropoff(cartons=request.cartons, earned_before=earned.before(member.pk, day), rule=in_force.rule)
        earned.add(member.pk, day, price.earning_cartons)
        dropoffs.append(
            DropOff(
                pk=next(ids),
                station=station,
                member=member,
                cartons=request.cartons,
                earning_cartons=price.earning_cartons,
                points=price.points,
                rule=in_force.rule,
                emission_factor_id=in_force.emission_factor_id,
                logged_by=staff,
                occurred_at=request.occurred_at,
                recorded_at=now,
            )
        )
    balances = {pk: account.balance for pk, account in accounts.items()}  # before, then each drop-off's after
    earning = [dropoff for dropoff in dropoffs if dropoff.points]
    postings = [
        Posting(
            debit=issuer,
            credit=accounts[dropoff.member.account_id],
            amount=dropoff.points,
            kind=Transfer.Kind.EARNING,
            idempotency_key=earning_transfer_key(dropoff_id=dropoff.pk),
        )
        for dropoff in earning
    ]
    for dropoff, transfer in zip(earning, post_transfers(postings, at=now), strict=True):
        dropoff.earning_transfer = transfer
    DropOff.objects.bulk_create(dropoffs)
    change_carton_inventory(station=station, by=sum(dropoff.cartons for dropoff in dropoffs))
    homeless = {member.pk for _i, _r, member, _t in accepted if member.home_station_id is None}
    if homeless:
        Member.objects.filter(pk__in=homeless, home_station__isnull=True).update(home_station=station)
    for day in {shanghai_day(dropoff.occurred_at) for dropoff in dropoffs} - {shanghai_day(now)}:
        recompute_after_commit(day)  # a late drop-off changes an earlier day
    for (index, _request, member, _terms), dropoff in zip(accepted, dropoffs, strict=True):
        balances[member.account_id] += dropoff.points
        answers[index] = DropOffResult(dropoff=dropoff, balance=balances[member.account_id], replayed=False)
    return answers


def _new_dropoff_ids(count: int) -> list[int]:
    """`count` ids from the drop-offs' sequence, for rows inserted later in the transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('recycling_dropoff', 'id')) FROM generate_series(1, %s)", [count]
        )
        return [pk for (pk,) in cursor.fetchall()]


def _dropoff_refusal(station: Station, member: Member | None, in_force: EarningTerms) -> DomainError | None:
    if member is None:
        return errors.UnknownMember()
    if not station.is_active:
        return errors.StationInactive()
    if in_force.rule is None:
        return errors.NoEarningRule()
    if in_force.emission_factor_id is None:
        return errors.NoEmissionFactor()
    return None


@dataclass(frozen=True)
class VoidResult:
    dropoff: DropOff
    replayed: bool  # True when an earlier request with the same idempotency key is returned


def void_dropoff(
    *,
    dropoff_id: int,
    staff: AbstractBaseUser,
    reason: str,
    idempotency_key: str | None = None,
    works_here: bool | None = None,
) -> VoidResult:
    """Void a drop-off logged in error: reverse its points and mark it voided, with who, when and why.

    Refused when it is already voided, when the staff user does not work at its station, when
    their role does not allow this void (VoidNotAllowed: recycling.permissions.can_void_dropoff,
    a manager voids any drop-off of the station, a plain staff user only their own within 15
    minutes of logging it), or when the member has already spent the points (the balance would
    go below zero).

    Idempotent in the drop-off's station's scope when given a key (the API's); the reason, the
    drop-off's existence and the staff check come before the key is claimed and store nothing.
    The role check depends on the time, so it runs in the write, under the drop-off's lock: its
    refusal is stored and replayed like the others, and a retry of a void that went through
    inside the window still gets it, after the window too. Without a key (the admin's action)
    a retry is refused as AlreadyVoided. `works_here` as in record_dropoff(). Runs outside any
    transaction (durable).
    """
    reason = (reason or "").strip()
    if not 0 < len(reason) <= MAX_VOID_REASON_LENGTH:
        raise errors.InvalidReason(_("Give a reason of at most %(max)s characters.") % {"max": MAX_VOID_REASON_LENGTH})
    station = Station.objects.filter(dropoffs__pk=dropoff_id).first()
    if station is None:
        raise errors.UnknownDropOff()
    _require_staff(staff=staff, station=station, works_here=works_here)
    outcome = run_idempotent_if_keyed(
        scope=station_scope(station.pk),
        key=idempotency_key,
        operation="void",
        fingerprint=request_fingerprint(dropoff=dropoff_id, reason=reason),
        write=lambda: _void(dropoff_id=dropoff_id, staff=staff, reason=reason),
        to_result=lambda dropoff: {"dropoff": dropoff.pk},
    )
    if outcome.replayed:
        return VoidResult(dropoff=DropOff.objects.select_related("station", "member").get(pk=dropoff_id), replayed=True)
    return VoidResult(dropoff=outcome.value, replayed=False)


def _void(*, dropoff_id: int, staff: AbstractBaseUser, reason: str) -> DropOff:
    # Lock order: the drop-off first, then the accounts (see ledger/services.py). Lock the
    # drop-off row only (of="self"): a plain FOR UPDATE would also lock the joined station and
    # member rows, which every concurrent drop-off at that station (or of that member) needs a
    # key-share lock on for its foreign keys while it already holds the accounts this void
    # waits for: a deadlock.
    dropoff = (
        DropOff.objects.select_for_update(of=("self",))
        .select_related("station", "member", "earning_transfer")
        .get(pk=dropoff_id)
    )
    if not can_void_dropoff(user=staff, dropoff=dropoff, now=timezone.now()):
        raise errors.VoidNotAllowed()
    if dropoff.status == DropOff.Status.VOIDED:
        raise errors.AlreadyVoided()
    if dropoff.earning_transfer_id:
        try:
            dropoff.reversal_transfer = reverse_transfer(
                original=dropoff.earning_transfer, idempotency_key=reversal_transfer_key(dropoff_id=dropoff.pk)
            )
        except errors.InsufficientPoints:
            raise errors.InsufficientPoints(
                _("The member has already spent these points; the drop-off cannot be voided.")
            ) from None
    try:
        change_carton_inventory(station=dropoff.station, by=-dropoff.cartons)
    except errors.NotEnoughCartons:
        raise errors.NotEnoughCartons(
            _("The station has already reused or baled these cartons; the drop-off cannot be voided.")
        ) from None
    dropoff.status = DropOff.Status.VOIDED
    dropoff.void_reason = reason
    dropoff.voided_by = staff
    dropoff.voided_at = timezone.now()
    dropoff.save(update_fields=["status", "void_reason", "voided_by", "voided_at", "reversal_transfer"])
    record_event(
        action=AuditEvent.Action.DROPOFF_VOIDED,
        user=staff,
        target=dropoff,
        details={"reason": reason, "cartons": dropoff.cartons, "points": dropoff.points},
    )
    recompute_after_commit(shanghai_day(dropoff.occurred_at))
    return dropoff


@dataclass(frozen=True)
class CartonMovementResult:
    movement: CartonMovement
    on_hand: int  # the station's cartons on hand right after it (a replay: as the first answer said)
    replayed: bool  # True when an earlier request with the same idempotency key is returned


def record_carton_movement(
    *,
    station: Station,
    kind: str,
    cartons: int,
    staff: AbstractBaseUser,
    idempotency_key: str,
    occurred_at: datetime | None = None,
    works_here: bool | None = None,
) -> CartonMovementResult:
    """Take cartons out of a station's inventory: reused for someone's parcel, or baled for pulping.

    Refused when the station has fewer cartons on hand (the inventory never goes negative): that
    refusal is stored under the key. Idempotent in the station's scope, like record_dropoff():
    a retry with the same key returns the first movement (replayed=True); the same key with a
    different request is refused. The staff check, the kind, the count and the time are checked
    before the key is claimed and store nothing, and so is the role: any staff user of the
    station records cartons reused, only its manager (stations.selectors.manages) cartons baled
    (NotStationManager). Runs outside any transaction (durable).
    """
    _require_staff(staff=staff, station=station, works_here=works_here)
    if kind not in CartonMovement.Kind.values:
        raise errors.InvalidMovementKind()
    if kind == CartonMovement.Kind.BALED and not manages(user=staff, station=station):
        raise errors.NotStationManager(_("Only the station's manager records cartons baled."))
    if not is_whole_number(cartons) or not 1 <= cartons <= MAX_CARTONS_PER_MOVEMENT:
        raise errors.InvalidCartonCount(_("Record 1 to %(max)s cartons at a time.") % {"max": MAX_CARTONS_PER_MOVEMENT})
    now = timezone.now()
    if occurred_at is not None and occurred_at > now + CLOCK_SKEW_ALLOWANCE:
        raise errors.InvalidTime(_("The time cannot be in the future."))
    at = occurred_at or now

    def write() -> CartonMovementResult:
        movement = CartonMovement.objects.create(
            station=station,
            kind=kind,
            cartons=cartons,
            recorded_by=staff,
            occurred_at=at,
        )
        change_carton_inventory(station=station, by=-cartons)
        on_hand = CartonInventory.objects.values_list("on_hand", flat=True).get(station=station)
        if kind == CartonMovement.Kind.REUSED and shanghai_day(at) < shanghai_day(now):
            recompute_after_commit(shanghai_day(at))
        return CartonMovementResult(movement=movement, on_hand=on_hand, replayed=False)

    outcome = run_idempotent(
        scope=station_scope(station.pk),
        key=idempotency_key,
        operation="movement",
        fingerprint=request_fingerprint(kind=kind, cartons=cartons, occurred_at=occurred_at),
        write=write,
        to_result=lambda result: {"movement": result.movement.pk, "on_hand": result.on_hand},
    )
    if outcome.replayed:
        earlier = CartonMovement.objects.select_related("station").get(pk=outcome.result["movement"])
        return CartonMovementResult(movement=earlier, on_hand=outcome.result["on_hand"], replayed=True)
    return outcome.value


def change_carton_inventory(*, station: Station, by: int) -> None:
    """Add (or, negative, take) cartons to the station's inventory; must run inside a transaction.

    Raises NotEnoughCartons, changing nothing, when taking more than the station has on hand:
    the CHECK constraint refuses the UPDATE inside a savepoint, so the caller's transaction
    survives. A single UPDATE takes the row lock itself. A station's first cartons
    create its row; drop-offs at one station are serialized by the lock on the station's
    issuance account, so two first rows cannot race.
    """
    if by >= 0:
        if not _add_to_inventory(station, by):
            CartonInventory.objects.create(station=station, on_hand=by)
        return
    try:
        with transaction.atomic():
            taken = _add_to_inventory(station, by)
    except IntegrityError:
        taken = False
    if not taken:
        raise errors.NotEnoughCartons()


def _add_to_inventory(station: Station, by: int) -> bool:
    """Move the station's cartons on hand by `by`; False when it has no inventory row yet. Raw
    SQL: on every drop-off, the ORM's UPDATE with F() cost 0.47 ms of CPU against 0.1 ms
    (recycling/selectors.py says why that matters)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE recycling_cartoninventory SET on_hand = on_hand + %s WHERE station_id = %s", [by, station.pk]
        )
        return cursor.rowcount == 1


def _check_cartons(cartons: object) -> None:
    if not is_whole_number(cartons):
        raise errors.InvalidCartonCount(_("The number of cartons must be a whole number."))
    if not MIN_CARTONS_PER_DROPOFF <= cartons <= MAX_CARTONS_PER_DROPOFF:
        raise errors.InvalidCartonCount(
            _("A drop-off has %(min)s to %(max)s cartons.")
            % {"min": MIN_CARTONS_PER_DROPOFF, "max": MAX_CARTONS_PER_DROPOFF}
        )


def _require_staff(*, staff: AbstractBaseUser, station: Station, works_here: bool | None) -> None:
    """Refuse a staff user who does not work at the station: the view's answer when it resolved
    it (works_here), else works_at()'s. Before any key is claimed: nothing is stored for it."""
    if works_here is None:
        works_here = works_at(user=staff, station=station)
    if not works_here:
        raise errors.NotStationStaff()


MEMBER_SEARCH_LIMIT = 20
_RATE_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def search_members(*, user: AbstractBaseUser, term: str, limit: int = MEMBER_SEARCH_LIMIT) -> list[Member]:
    """The members a staff user finds at the counter with `term`: a member code, a full mobile
    number or its last 4 digits (selectors.member_search_term, selectors.members_matching). Show
    them by Member.counter_label (the number masked).

    The one member search: the admin's autocomplete, the member list and the drop-off list's
    search call it. A service, not a selector, because a search is recorded: every search that
    can match (a term of one of those shapes) counts towards the user's
    GREENBOX_MEMBER_SEARCH_RATE (Django's cache, a fixed window per user) and is audited
    (`member_searched`: how, how many, which members; never the term). Raises
    MemberSearchThrottled, auditing nothing, once the rate is spent.
    """
    what = member_search_term(term)
    if what is None:
        return []
    _count_member_search(user)
    found = members_matching(user=user, what=what, limit=limit)
    record_event(
        action=AuditEvent.Action.MEMBER_SEARCHED,
        user=user,
        target=found[0] if len(found) == 1 else None,
        details={"by": what.by, "found": len(found), "members": [member.pk for member in found]},
    )
    return found


def parse_rate(rate: str) -> tuple[int, int]:
    """ "60/hour" -> (60, 3600): requests and seconds, as DRF writes throttle rates."""
    count, _slash, period = rate.partition("/")
    return int(count), _RATE_PERIODS[period.strip()[:1]]


def _count_member_search(user: AbstractBaseUser) -> None:
    """Count one search in the user's current window; refuse past the rate.

    A fixed window (the counter's key names the window) is a little lenient at its edges
    (up to twice the rate across a boundary); it is one atomic INCR in Redis, and precise
    enough to stop harvesting numbers."""
    allowed, seconds = parse_rate(settings.GREENBOX_MEMBER_SEARCH_RATE)
    key = f"greenbox:member-search:{user.pk}:{int(time.time()) // seconds}"
    cache.add(key, 0, timeout=seconds)
    try:
        count = cache.incr(key)
    except ValueError:  # the window's key expired between add() and incr()
        cache.set(key, 1, timeout=seconds)
        count = 1
    if count > allowed:
        raise errors.MemberSearchThrottled()
