"""Reservations, collections, cancellations and expiry under concurrent requests, on PostgreSQL.

Each test commits its setup (transactional_db), then starts real threads that wait on a
threading.Barrier so they call the services at the same moment; every thread uses its own
database connection and closes it. The reference data (the "Station staff" group and its
permissions) is recreated after each test's flush by the apps' post_migrate handlers.
Each test ends with the exact final state and a clean ledger audit.
"""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from idempotency.errors import KeyInProgress
from idempotency.models import IdempotencyKey
from idempotency.services import member_scope, was_replayed
from ledger.audit import ledger_violations
from ledger.models import Account, Transfer
from recycling import errors as ledger_errors
from rewards import errors, services
from rewards.models import Redemption, StationStock
from tests.concurrency import run_concurrently
from tests.factories import (
    MemberFactory,
    RewardFactory,
    StationManagerFactory,
    StationStockFactory,
)

from .conftest import balance_of, give_points


def kinds(outcomes: list[object]) -> Counter:
    return Counter(type(outcome).__name__ for outcome in outcomes)


@pytest.fixture
def committed(transactional_db):
    """Committed setup every thread can see: a station with its manager and eggs at 20 points."""
    staff = StationManagerFactory()
    return {"station": staff.station, "staff": staff.user, "eggs": RewardFactory(points_cost=20)}


def test_fifty_reservations_with_points_for_ten(committed):
    """A member with 200 points sends 50 reservations of one 20-point pack at once: exactly 10
    succeed, the other 40 get InsufficientPoints (no other error, no deadlock), the balance is
    0 and the stock 10 lower."""
    station, eggs = committed["station"], committed["eggs"]
    StationStockFactory(station=station, reward=eggs, quantity=100)
    member = MemberFactory()
    give_points(member, 200)

    outcomes = run_concurrently(
        50,
        lambda i: services.reserve_reward(
            member=member, reward=eggs, station=station, quantity=1, idempotency_key=f"k{i}"
        ),
    )

    assert kinds(outcomes) == {"RedemptionResult": 10, "InsufficientPoints": 40}
    assert balance_of(member) == 0
    assert StationStock.objects.get().quantity == 90
    assert Redemption.objects.filter(status=Redemption.Status.RESERVED).count() == 10
    assert Account.objects.get(pk=eggs.account_id).balance == 200
    assert ledger_violations() == []


def test_thirty_members_race_for_five_in_stock(committed):
    """30 members with enough points race for a stock of 5: exactly 5 succeed, 25 get OutOfStock
    and keep every point, and the stock ends at 0."""
    station, eggs = committed["station"], committed["eggs"]
    StationStockFactory(station=station, reward=eggs, quantity=5)
    members = [MemberFactory() for _ in range(30)]
    for member in members:
        give_points(member, 20)

    outcomes = run_concurrently(
        30,
        lambda i: services.reserve_reward(
            member=members[i], reward=eggs, station=station, quantity=1, idempotency_key=f"k{i}"
        ),
    )

    assert kinds(outcomes) == {"RedemptionResult": 5, "OutOfStock": 25}
    balances = {member.pk: balance_of(member) for member in members}
    for member, outcome in zip(members, outcomes, strict=True):
        assert balances[member.pk] == (0 if isinstance(outcome, services.RedemptionResult) else 20)
    assert StationStock.objects.get().quantity == 0
    assert Redemption.objects.count() == 5
    assert ledger_violations() == []


def test_collect_racing_cancel_lets_exactly_one_win(committed):
    """For each of 10 reservations, staff collect it while the member cancels it at the same
    moment: exactly one of the two wins each race. A collected one keeps its debit and has no
    reversal; a cancelled one has exactly one reversal, and its stock came back."""
    station, eggs, staff = committed["station"], committed["eggs"], committed["staff"]
    StationStockFactory(station=station, reward=eggs, quantity=10)
    member = MemberFactory()
    give_points(member, 200)
    redemptions = [
        services.reserve_reward(
            member=member, reward=eggs, station=station, quantity=1, idempotency_key=f"k{i}"
        ).redemption
        for i in range(10)
    ]

    def race(i: int):
        redemption = redemptions[i // 2]
        if i % 2:
            return services.cancel_redemption(redemption_id=redemption.pk, member=member).redemption
        return services.collect_redemption(redemption_id=redemption.pk, pickup_code=redemption.pickup_code, staff=staff)

    outcomes = run_concurrently(20, race)

    for index, redemption in enumerate(redemptions):
        collect, cancel = outcomes[2 * index], outcomes[2 * index + 1]
        redemption.refresh_from_db()
        if redemption.status == Redemption.Status.COLLECTED:
            assert isinstance(collect, Redemption)
            assert isinstance(cancel, errors.AlreadyCollected)
            assert not Transfer.objects.filter(reverses=redemption.transfer).exists()
        else:
            assert redemption.status == Redemption.Status.CANCELLED
            assert isinstance(cancel, Redemption)
            assert isinstance(collect, errors.ReservationClosed)
            assert Transfer.objects.filter(reverses=redemption.transfer).count() == 1
    cancelled = Redemption.objects.filter(status=Redemption.Status.CANCELLED).count()
    assert balance_of(member) == 200 - 20 * (10 - cancelled)
    assert StationStock.objects.get().quantity == cancelled
    assert ledger_violations() == []


def test_expire_run_twice_at_once_refunds_once(committed):
    """Two expiry runs at the same moment over 10 overdue reservations: together they expire
    each exactly once (one reversal each), every point and pack comes back."""
    station, eggs = committed["station"], committed["eggs"]
    StationStockFactory(station=station, reward=eggs, quantity=10)
    member = MemberFactory()
    give_points(member, 200)
    for i in range(10):
        services.reserve_reward(member=member, reward=eggs, station=station, quantity=1, idempotency_key=f"k{i}")
    later = timezone.now() + timedelta(days=30)

    outcomes = run_concurrently(2, lambda i: services.expire_reservations(now=later))

    assert all(isinstance(count, int) for count in outcomes) and sum(outcomes) == 10
    assert Redemption.objects.filter(status=Redemption.Status.EXPIRED).count() == 10
    assert Transfer.objects.filter(kind=Transfer.Kind.REVERSAL).count() == 10
    assert balance_of(member) == 200
    assert StationStock.objects.get().quantity == 10
    assert ledger_violations() == []


def test_the_same_request_sent_ten_times_at_once_reserves_once(committed):
    """Ten copies of one request (same idempotency key) at once: one reservation, charged once;
    every other copy returns that same reservation as a replay, or KeyInProgress (the API's 409)
    when it came while the first still ran."""
    station, eggs = committed["station"], committed["eggs"]
    StationStockFactory(station=station, reward=eggs, quantity=10)
    member = MemberFactory()
    give_points(member, 100)

    outcomes = run_concurrently(
        10,
        lambda i: services.reserve_reward(
            member=member, reward=eggs, station=station, quantity=1, idempotency_key="only-once"
        ),
    )

    assert set(kinds(outcomes)) <= {"RedemptionResult", "KeyInProgress"}
    results = [outcome for outcome in outcomes if not isinstance(outcome, KeyInProgress)]
    assert {outcome.redemption.pk for outcome in results} == {Redemption.objects.get().pk}
    assert sum(not outcome.replayed for outcome in results) == 1
    assert balance_of(member) == 80
    assert StationStock.objects.get().quantity == 9
    assert ledger_violations() == []


def test_refused_request_sent_ten_times_at_once_is_refused_alike(committed):
    """Ten copies of a request the member cannot afford: each gets InsufficientPoints (the first
    refusal or its replay) or KeyInProgress; one refusal is remembered, nothing else is written."""
    station, eggs = committed["station"], committed["eggs"]
    StationStockFactory(station=station, reward=eggs, quantity=10)
    member = MemberFactory()
    give_points(member, 10)

    outcomes = run_concurrently(
        10,
        lambda i: services.reserve_reward(
            member=member, reward=eggs, station=station, quantity=1, idempotency_key="too-dear"
        ),
    )

    assert all(isinstance(outcome, ledger_errors.InsufficientPoints | KeyInProgress) for outcome in outcomes)
    assert (
        sum(isinstance(outcome, ledger_errors.InsufficientPoints) and not was_replayed(outcome) for outcome in outcomes)
        == 1
    )
    assert balance_of(member) == 10
    assert not Redemption.objects.exists()
    assert IdempotencyKey.objects.get(scope=member_scope(member.pk)).refusal_code == "insufficient_points"
    assert ledger_violations() == []


def test_stock_changes_and_reservations_race_without_losing_a_pack(committed):
    """Staff add 1 pack ten times while ten members reserve one each from a stock of 10: every
    change counts (stock 10 + 10 - 10 = 10), nobody is refused."""
    station, eggs, staff = committed["station"], committed["eggs"], committed["staff"]
    StationStockFactory(station=station, reward=eggs, quantity=10)
    members = [MemberFactory() for _ in range(10)]
    for member in members:
        give_points(member, 20)

    def act(i: int):
        if i % 2:
            return services.adjust_stock(station=station, reward=eggs, change=1, staff=staff)
        return services.reserve_reward(
            member=members[i // 2], reward=eggs, station=station, quantity=1, idempotency_key=f"k{i}"
        )

    outcomes = run_concurrently(20, act)

    assert kinds(outcomes) == {"RedemptionResult": 10, "StationStock": 10}
    assert StationStock.objects.get().quantity == 10
    assert ledger_violations() == []
