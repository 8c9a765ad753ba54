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
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.services import record_event
from core.validation import is_whole_number
from idempotency.services import request_fingerprint, run_idempotent, run_idempotent_if_keyed, station_scope
from ledger.models import Transfer
from ledger.services import post_transfer, reverse_transfer
from stations.models import Station
from stations.selectors import works_at

from . import errors
from .days import shanghai_day
from .ledger import lock_member_and_issuance, open_member_account
from .mobile import normalize_mobile
from .models import (
    MAX_CARTONS_PER_DROPOFF,
    MAX_CARTONS_PER_MOVEMENT,
    MIN_CARTONS_PER_DROPOFF,
    CartonInventory,
    CartonMovement,
    DropOff,
    Member,
)
from .pricing import earning_transfer_key, price_dropoff, reversal_transfer_key
from .selectors import earning_cartons_on_day, earning_terms_in_force, member_for_dropoff
from .tasks import recompute_after_commit

# Station clocks drift; a drop-off stamped a little ahead of the server is still accepted.
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=5)
MAX_VOID_REASON_LENGTH = 300


@dataclass(frozen=True)
class DropOffResult:
    dropoff: DropOff
    balance: int  # the member's balance after the drop-off
    replayed: bool  # True when an earlier request with the same idempotency key is returned

    @property
    def capped_cartons(self) -> int:
        """Cartons beyond the member's daily cap, recorded with no points."""
        return self.dropoff.cartons - self.dropoff.earning_cartons


def register_member(*, mobile: str, password: str | None = None) -> Member:
    """Create a consumer login, its Member and its points account.

    Members sign in with their mobile number (recycling.auth.MobileNumberBackend); the login's
    username is a random handle, so user lists, history and logs never show the number.

    Raises django.core.exceptions.ValidationError for a number that is not a mainland China mobile
    or is already registered.
    """
    number = normalize_mobile(mobile)
    taken = ValidationError(_("This mobile number is already registered."), code="mobile_taken")
    if Member.objects.filter(mobile=number).exists():
        raise taken
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(username=f"member-{secrets.token_hex(6)}", password=password)
            member = Member.objects.create(user=user, mobile=number, account=open_member_account())
    except IntegrityError:
        # A concurrent registration of the same number committed between the check and the insert
        # (the unique username and mobile stop the second one); refuse it the same way.
        raise taken from None
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
    """Record cartons a member left at a station and credit the points they earn.

    Points = cartons within the member's daily cap x the earning rule in force at the station's
    city at `occurred_at` (default: now). Both the rule and the capped count are stored on the
    drop-off so its points stay explainable after the rule changes. Its pricing is
    recycling.pricing.price_dropoff(), which the simulator and the audit share.

    `works_here` is whether `staff` works at `station`, as the view resolved it
    (stations.selectors.staff_at_station); None: this asks works_at() itself.

    Idempotent in the station's scope (idempotency/services.py): a retry with the same key, from
    any staff login at the station, returns the first outcome (replayed=True) and credits nothing
    again; the same key with another request is refused (KeyReused). Refused before the key is
    claimed, so that nothing is stored and a corrected retry with the same key goes through: a
    carton count out of range, a time in the future, a bad key, a staff user who does not work
    here. Every other refusal (unknown member, inactive station, no rule or factor in force) is
    stored under the key and raised again to a retry.

    Runs outside any transaction (durable: its commit is the drop-off's).
    """
    _check_cartons(cartons)
    now = timezone.now()
    if occurred_at is not None and occurred_at > now + CLOCK_SKEW_ALLOWANCE:
        raise errors.InvalidTime()
    _require_staff(staff=staff, station=station, works_here=works_here)
    request = DropOffRequest(
        station=station,
        member_code=(member_code or "").strip().upper(),
        cartons=cartons,
        staff=staff,
        occurred_at=occurred_at or now,
        now=now,
    )
    outcome = run_idempotent(
        scope=station_scope(station.pk),
        key=idempotency_key,
        operation="dropoff",
        # What the client sent (an omitted time as None), not who sent it: another staff login
        # re-sending a device's queue is the same request.
        fingerprint=request_fingerprint(member_code=request.member_code, cartons=cartons, occurred_at=occurred_at),
        write=lambda: _write_dropoff(request),
        to_result=lambda result: {"dropoff": result.dropoff.pk, "balance": result.balance},
    )
    if outcome.replayed:
        earlier = DropOff.objects.select_related("station", "member").get(pk=outcome.result["dropoff"])
        return DropOffResult(dropoff=earlier, balance=outcome.result["balance"], replayed=True)
    return outcome.value


@dataclass(frozen=True)
class DropOffRequest:
    """record_dropoff()'s arguments once checked."""

    station: Station
    member_code: str  # stripped, upper case
    cartons: int
    staff: AbstractBaseUser
    occurred_at: datetime
    now: datetime


def _write_dropoff(request: DropOffRequest) -> DropOffResult:
    """The drop-off's reads and writes, inside run_idempotent()'s transaction."""
    station = request.station
    member = member_for_dropoff(code=request.member_code)
    if member is None:
        raise errors.UnknownMember()
    if not station.is_active:
        raise errors.StationInactive()
    rule = earning_terms_in_force(city=station.city, at=request.occurred_at)  # the rule and the factor, one query
    if rule is None:
        raise errors.NoEarningRule()
    if rule.emission_factor_in_force_id is None:
        raise errors.NoEmissionFactor()

    # Lock order (ledger/services.py): the accounts by primary key, then the carton inventory
    # row (change_carton_inventory's UPDATE). The drop-off row is new, so there is no business
    # row to lock first.
    member_account, issuer = lock_member_and_issuance(member_account_id=member.account.pk, station=station)
    # The member's account lock serializes this member's drop-offs, so the cap count is exact.
    already = earning_cartons_on_day(member=member, at=request.occurred_at)
    price = price_dropoff(cartons=request.cartons, earned_before=already, rule=rule)
    dropoff = DropOff.objects.create(
        station=station,
        member=member,
        cartons=request.cartons,
        earning_cartons=price.earning_cartons,
        points=price.points,
        rule=rule,
        emission_factor_id=rule.emission_factor_in_force_id,
        logged_by=request.staff,
        occurred_at=request.occurred_at,
        recorded_at=request.now,
    )
    if dropoff.points:
        dropoff.earning_transfer = post_transfer(
            debit=issuer,
            credit=member_account,
            amount=dropoff.points,
            kind=Transfer.Kind.EARNING,
            idempotency_key=earning_transfer_key(dropoff_id=dropoff.pk),
            at=request.now,
        )
        dropoff.save(update_fields=["earning_transfer"])
    change_carton_inventory(station=station, by=request.cartons)
    if member.home_station_id is None:
        Member.objects.filter(pk=member.pk, home_station__isnull=True).update(home_station=station)
    if shanghai_day(request.occurred_at) < shanghai_day(request.now):
        recompute_after_commit(shanghai_day(request.occurred_at))  # a late drop-off changes an earlier day
    return DropOffResult(dropoff=dropoff, balance=member_account.balance, replayed=False)


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

    Refused when it is already voided, when the staff user does not work at its station, or when
    the member has already spent the points (the balance would go below zero).

    Idempotent in the drop-off's station's scope when given a key (the API's); the reason, the
    drop-off's existence and the staff check come before the key is claimed and store nothing.
    Without a key (the admin's action) a retry is refused as AlreadyVoided. `works_here` as in
    record_dropoff(). Runs outside any transaction (durable).
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
    before the key is claimed and store nothing. Runs outside any transaction (durable).
    """
    _require_staff(staff=staff, station=station, works_here=works_here)
    if kind not in CartonMovement.Kind.values:
        raise errors.InvalidMovementKind()
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
    survives. A single UPDATE with F() takes the row lock itself. A station's first cartons
    create its row; drop-offs at one station are serialized by the lock on the station's
    issuance account, so two first rows cannot race.
    """
    if by >= 0:
        if not CartonInventory.objects.filter(station=station).update(on_hand=F("on_hand") + by):
            CartonInventory.objects.create(station=station, on_hand=by)
        return
    try:
        with transaction.atomic():
            taken = CartonInventory.objects.filter(station=station).update(on_hand=F("on_hand") + by)
    except IntegrityError:
        taken = 0
    if not taken:
        raise errors.NotEnoughCartons()


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
