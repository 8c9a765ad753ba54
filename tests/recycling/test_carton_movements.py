"""Cartons leaving a station: record_carton_movement, voids of reused cartons, and the audit."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from idempotency.errors import InvalidKey, KeyReused
from idempotency.models import IdempotencyKey
from ledger.models import Account, Transfer
from recycling import errors
from recycling.audit import carton_inventories_match_movements
from recycling.models import CartonInventory, CartonMovement, DropOff
from recycling.services import record_carton_movement, record_dropoff, void_dropoff
from tests.factories import (
    EarningRuleFactory,
    MemberFactory,
    StationFactory,
    StationManagerFactory,
    StationStaffFactory,
)

REUSED, BALED = CartonMovement.Kind.REUSED, CartonMovement.Kind.BALED


@pytest.fixture
def desk(db):
    """A station with 10 cartons on hand, left by one member (100 points), and its manager (who
    may bale them)."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    staff, member = StationManagerFactory(), MemberFactory()
    dropoff = record_dropoff(
        station=staff.station, member_code=member.code, cartons=10, staff=staff.user, idempotency_key="drop"
    ).dropoff
    return staff, dropoff


def on_hand(station) -> int:
    return CartonInventory.objects.get(station=station).on_hand


def move(desk, *, kind=REUSED, cartons=4, key="m1", station=None, staff=None, occurred_at=None):
    return record_carton_movement(
        station=station or desk[0].station,
        kind=kind,
        cartons=cartons,
        staff=staff or desk[0].user,
        idempotency_key=key,
        occurred_at=occurred_at,
    )


def snapshot() -> dict:
    return {
        "inventories": dict(CartonInventory.objects.values_list("station_id", "on_hand")),
        "movements": list(CartonMovement.objects.values_list("pk", "station_id", "kind", "cartons")),
        "dropoffs": list(DropOff.objects.values_list("pk", "status")),
        "balances": dict(Account.objects.values_list("pk", "balance")),
        "transfers": Transfer.objects.count(),
    }


@pytest.mark.parametrize("kind", [REUSED, BALED])
def test_a_movement_takes_the_cartons_out_of_the_inventory(desk, kind):
    """Reusing or baling 4 of the 10 cartons on hand leaves 6 and records who moved what, when."""
    staff, _dropoff = desk
    when = timezone.now() - timedelta(hours=1)

    result = move(desk, kind=kind, cartons=4, occurred_at=when)

    assert on_hand(staff.station) == 6
    assert (result.on_hand, result.replayed) == (6, False)
    saved = CartonMovement.objects.get()
    assert saved == result.movement
    assert (saved.station, saved.kind, saved.cartons, saved.recorded_by, saved.occurred_at) == (
        staff.station,
        kind,
        4,
        staff.user,
        when,
    )
    assert IdempotencyKey.objects.get(key="m1").result == {"movement": saved.pk, "on_hand": 6}
    assert carton_inventories_match_movements() == []


def test_all_cartons_on_hand_can_go(desk):
    """Exactly the cartons on hand may leave; the inventory reaches zero."""
    move(desk, cartons=10)
    assert on_hand(desk[0].station) == 0


def test_more_cartons_than_on_hand_are_refused_and_nothing_is_written(desk):
    """Taking 11 cartons when 10 are on hand is refused; the inventory and movements are unchanged."""
    before = snapshot()
    with pytest.raises(errors.NotEnoughCartons):
        move(desk, cartons=11)
    assert snapshot() == before


def test_a_station_that_never_had_cartons_refuses_a_movement(desk):
    """A station without drop-offs has nothing to move; not even an inventory row is left behind."""
    other = StationStaffFactory(user=desk[0].user)
    before = snapshot()
    with pytest.raises(errors.NotEnoughCartons):
        move(desk, station=other.station, cartons=1)
    assert snapshot() == before
    assert not CartonInventory.objects.filter(station=other.station).exists()


def test_staff_of_another_station_are_refused(desk):
    """Only staff of the station may move its cartons."""
    outsider = StationStaffFactory(station=StationFactory())
    before = snapshot()
    with pytest.raises(errors.NotStationStaff):
        move(desk, staff=outsider.user)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("kind", "cartons", "key", "error"),
    [
        ("burned", 4, "m1", errors.InvalidMovementKind),
        ("", 4, "m1", errors.InvalidMovementKind),
        (REUSED, 0, "m1", errors.InvalidCartonCount),
        (REUSED, -3, "m1", errors.InvalidCartonCount),
        (REUSED, 10_001, "m1", errors.InvalidCartonCount),
        (REUSED, True, "m1", errors.InvalidCartonCount),
        (REUSED, 2.0, "m1", errors.InvalidCartonCount),
        (REUSED, "3", "m1", errors.InvalidCartonCount),
        (REUSED, 4, "", InvalidKey),
        (REUSED, 4, "k" * 101, InvalidKey),
    ],
)
def test_a_bad_kind_count_or_key_is_refused_and_nothing_is_written(desk, kind, cartons, key, error):
    """An unknown kind, a count outside 1..10000 or not a whole number, or a bad idempotency key
    is refused before anything is written, the key included (the corrected retry goes through)."""
    before = snapshot()
    with pytest.raises(error):
        move(desk, kind=kind, cartons=cartons, key=key)
    assert snapshot() == before
    assert not IdempotencyKey.objects.filter(key=key).exists()


def test_a_movement_in_the_future_is_refused(desk):
    """A time more than the clock-skew allowance ahead of now is refused."""
    before = snapshot()
    with pytest.raises(errors.InvalidTime):
        move(desk, occurred_at=timezone.now() + timedelta(hours=1))
    assert snapshot() == before


def test_a_retry_with_the_same_key_returns_the_first_movement(desk):
    """A replayed request takes nothing more out, even when the cartons it asks for are no
    longer on hand, and returns the movement first recorded."""
    first = move(desk, cartons=8)
    replayed = move(desk, cartons=8)
    assert replayed.movement.pk == first.movement.pk
    assert (first.replayed, replayed.replayed, replayed.on_hand) == (False, True, 2)
    assert CartonMovement.objects.count() == 1
    assert on_hand(desk[0].station) == 2


@pytest.mark.parametrize("changes", [{"cartons": 5}, {"kind": BALED}], ids=["cartons", "kind"])
def test_the_same_key_for_a_different_request_is_refused(desk, changes):
    """Reusing an idempotency key with another count or kind at the station is refused; nothing changes."""
    move(desk, cartons=4)
    before = snapshot()
    with pytest.raises(KeyReused):
        move(desk, **({"cartons": 4} | changes))
    assert snapshot() == before


def test_the_same_key_at_another_station_is_that_stations_own(desk):
    """Keys are scoped to the station: another station's movement under the same key is recorded."""
    move(desk, cartons=4)
    other = StationStaffFactory(user=desk[0].user)
    record_dropoff(
        station=other.station, member_code=desk[1].member.code, cartons=5, staff=desk[0].user, idempotency_key="drop-o"
    )
    assert not move(desk, cartons=4, station=other.station).replayed
    assert CartonMovement.objects.count() == 2


def test_a_void_is_refused_once_the_cartons_were_reused(desk):
    """When the station has reused its cartons, voiding the drop-off that brought them would take
    the inventory below zero: refused, and the drop-off, points and inventory stay as they were."""
    staff, dropoff = desk
    move(desk, cartons=8)
    before = snapshot()

    with pytest.raises(errors.NotEnoughCartons):
        void_dropoff(dropoff_id=dropoff.pk, staff=staff.user, reason="wrong member")

    assert snapshot() == before
    dropoff.refresh_from_db()
    assert (dropoff.status, dropoff.voided_at, dropoff.void_reason) == (DropOff.Status.ACCEPTED, None, "")
    assert not Transfer.objects.filter(kind=Transfer.Kind.REVERSAL).exists()
    assert on_hand(staff.station) == 2


def test_a_void_succeeds_while_the_cartons_are_still_on_hand(desk):
    """With enough cartons still on hand the void takes the drop-off's cartons out again."""
    staff, dropoff = desk
    second = record_dropoff(
        station=staff.station, member_code=dropoff.member.code, cartons=2, staff=staff.user, idempotency_key="drop-2"
    ).dropoff
    move(desk, cartons=3)  # 12 - 3 = 9 on hand

    void_dropoff(dropoff_id=second.pk, staff=staff.user, reason="wrong member")

    assert on_hand(staff.station) == 7
    assert carton_inventories_match_movements() == []


def test_the_audit_catches_an_inventory_that_does_not_match_its_movements(desk):
    """check_ledger's carton check names a station whose on-hand count is not its accepted
    drop-offs minus its movements, and the command fails."""
    staff, _dropoff = desk
    move(desk, cartons=4)
    assert carton_inventories_match_movements() == []

    CartonInventory.objects.filter(station=staff.station).update(on_hand=9)

    assert carton_inventories_match_movements() == [
        f"station {staff.station.code}: 9 cartons on hand, but 10 dropped off - 4 reused or baled"
    ]
    with pytest.raises(CommandError):
        call_command("check_ledger", stdout=StringIO())
