"""The ledger under concurrent writers, on PostgreSQL.

Each test commits its setup (transactional_db), then starts real threads that wait on a
threading.Barrier so they call the service at the same moment; every thread uses its own
database connection and closes it. The flush after each test empties every table; the
post_migrate handler of recycling/reference_data.py then recreates the reference rows (the
"Station staff" group, the default emission factor) for the next test.
"""

import threading
from collections import Counter
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from idempotency.errors import KeyInProgress
from ledger.audit import ledger_violations
from ledger.models import Account, Transfer
from ledger.services import lock_accounts
from recycling.ledger import issuance_account
from recycling.models import DropOff, Member
from recycling.services import DropOffResult, record_dropoff, register_member, void_dropoff
from tests.concurrency import JOIN_TIMEOUT, run_concurrently
from tests.factories import EarningRuleFactory, MemberFactory, StationStaffFactory

THREADS = 20


def balance_of(account: Account) -> int:
    return Account.objects.get(pk=account.pk).balance


@pytest.fixture
def committed(transactional_db):
    """Committed setup every thread can see: a rule of 10 points per carton (cap 20), a station
    with its staff and a member."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    staff = StationStaffFactory()
    return {"staff": staff.user, "station": staff.station, "member": MemberFactory()}


def test_concurrent_dropoffs_for_one_member_are_all_credited(committed):
    """20 drop-offs of 1 carton for one member at once: 20 drop-offs, 20 transfers, a balance of
    exactly 20 x 10 points, and an audit without violations."""
    member, station, staff = committed["member"], committed["station"], committed["staff"]

    outcomes = run_concurrently(
        THREADS,
        lambda i: record_dropoff(
            station=station, member_code=member.code, cartons=1, staff=staff, idempotency_key=f"k{i}"
        ),
    )

    assert [type(outcome).__name__ for outcome in outcomes] == ["DropOffResult"] * THREADS
    assert DropOff.objects.count() == THREADS
    assert Transfer.objects.filter(kind=Transfer.Kind.EARNING).count() == THREADS
    assert balance_of(member.account) == THREADS * 10
    assert balance_of(issuance_account(station=station)) == -THREADS * 10
    assert sorted(outcome.balance for outcome in outcomes) == [10 * n for n in range(1, THREADS + 1)]
    assert ledger_violations() == []
    call_command("check_ledger", stdout=StringIO())


def test_the_daily_cap_holds_under_concurrent_dropoffs(committed):
    """20 drop-offs of 2 cartons at once against a cap of 20: exactly 20 cartons earn, 200 points."""
    member, station, staff = committed["member"], committed["station"], committed["staff"]

    outcomes = run_concurrently(
        THREADS,
        lambda i: record_dropoff(
            station=station, member_code=member.code, cartons=2, staff=staff, idempotency_key=f"k{i}"
        ),
    )

    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert sum(DropOff.objects.values_list("earning_cartons", flat=True)) == 20
    assert balance_of(member.account) == 200
    assert Transfer.objects.count() == 10
    assert ledger_violations() == []


def test_concurrent_retries_with_one_key_record_one_dropoff(committed):
    """20 requests with the same idempotency key at once: one drop-off and one transfer exist;
    every other thread gets that drop-off back as a replay, or KeyInProgress (the API's 409)
    when it came while the first still ran; exactly one result is not a replay."""
    member, station, staff = committed["member"], committed["station"], committed["staff"]

    outcomes = run_concurrently(
        THREADS,
        lambda i: record_dropoff(
            station=station, member_code=member.code, cartons=3, staff=staff, idempotency_key="same-key"
        ),
    )

    results = [outcome for outcome in outcomes if not isinstance(outcome, KeyInProgress)]
    assert all(isinstance(outcome, DropOffResult) for outcome in results), outcomes
    dropoff = DropOff.objects.get()
    assert {outcome.dropoff.pk for outcome in results} == {dropoff.pk}
    assert [outcome.replayed for outcome in results].count(False) == 1
    retry = record_dropoff(station=station, member_code=member.code, cartons=3, staff=staff, idempotency_key="same-key")
    assert retry.replayed and retry.dropoff.pk == dropoff.pk
    assert Transfer.objects.get() == dropoff.earning_transfer
    assert balance_of(member.account) == 30
    assert ledger_violations() == []


def test_racing_voids_succeed_exactly_once(committed):
    """10 voids of one drop-off at once: one succeeds, nine raise AlreadyVoided, one reversal."""
    member, station, staff = committed["member"], committed["station"], committed["staff"]
    dropoff = record_dropoff(
        station=station, member_code=member.code, cartons=3, staff=staff, idempotency_key="k"
    ).dropoff

    outcomes = run_concurrently(10, lambda i: void_dropoff(dropoff_id=dropoff.pk, staff=staff, reason=f"void {i}"))

    assert Counter(type(outcome).__name__ for outcome in outcomes) == {"VoidResult": 1, "AlreadyVoided": 9}
    assert DropOff.objects.get().status == DropOff.Status.VOIDED
    assert Transfer.objects.filter(kind=Transfer.Kind.REVERSAL).count() == 1
    assert balance_of(member.account) == 0
    assert ledger_violations() == []


def test_voids_and_dropoffs_at_one_station_do_not_deadlock(committed):
    """Voids of one member's drop-offs racing new drop-offs of that and another member at the same
    station all succeed: every writer takes its locks in the same order, so none deadlocks."""
    member, station, staff = committed["member"], committed["station"], committed["staff"]
    other = MemberFactory()

    for round_ in range(3):  # a few rounds, since any one interleaving may happen to be harmless
        to_void = [
            record_dropoff(
                station=station, member_code=member.code, cartons=1, staff=staff, idempotency_key=f"old{round_}-{i}"
            ).dropoff
            for i in range(THREADS // 2)
        ]

        def void_or_record(i: int, to_void=to_void, round_=round_):
            if i % 2:
                return void_dropoff(dropoff_id=to_void[i // 2].pk, staff=staff, reason="mistake")
            code = member.code if i % 4 else other.code
            return record_dropoff(
                station=station, member_code=code, cartons=1, staff=staff, idempotency_key=f"new{round_}-{i}"
            )

        outcomes = run_concurrently(THREADS, void_or_record)

        assert [outcome for outcome in outcomes if isinstance(outcome, Exception)] == []
    assert DropOff.objects.filter(status=DropOff.Status.VOIDED).count() == 3 * THREADS // 2
    assert DropOff.objects.filter(status=DropOff.Status.ACCEPTED).count() == 3 * THREADS // 2
    assert ledger_violations() == []


def test_writers_for_different_members_at_different_stations_do_not_wait(committed):
    """While one transaction holds the locks of a drop-off for member A at station 1, a drop-off for
    member B at station 2 completes without waiting (a 5 s lock timeout would fail it)."""
    first_station, first_member = committed["station"], committed["member"]
    second = StationStaffFactory()
    second_member = MemberFactory()
    holding = threading.Event()
    release = threading.Event()

    def hold_first_locks(i: int):
        if i == 0:
            with transaction.atomic():
                lock_accounts(first_member.account, issuance_account(station=first_station))
                holding.set()
                release.wait(JOIN_TIMEOUT)
            return "held"
        holding.wait(JOIN_TIMEOUT)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '5s'")
            return record_dropoff(
                station=second.station,
                member_code=second_member.code,
                cartons=2,
                staff=second.user,
                idempotency_key="b",
            )
        finally:
            release.set()

    outcomes = run_concurrently(2, hold_first_locks)

    assert outcomes[0] == "held"
    assert outcomes[1].dropoff.points == 20
    assert balance_of(second_member.account) == 20
    assert ledger_violations() == []


def test_concurrent_registrations_of_one_number_create_one_member(transactional_db):
    """10 registrations of the same mobile at once: one member, the rest a ValidationError."""
    outcomes = run_concurrently(10, lambda i: register_member(mobile="+86 138 1234 5678"))

    assert Counter(type(outcome).__name__ for outcome in outcomes) == {"Member": 1, "ValidationError": 9}
    assert {outcome.code for outcome in outcomes if isinstance(outcome, ValidationError)} == {"mobile_taken"}
    assert Member.objects.get().mobile == "13812345678"
    assert Account.objects.filter(kind=Account.Kind.MEMBER).count() == 1


def test_transfers_cannot_be_updated_or_deleted_with_raw_sql(committed):
    """The append-only trigger rejects UPDATE and DELETE of a transfer; the row stays as it was."""
    member, station, staff = committed["member"], committed["station"], committed["staff"]
    record_dropoff(station=station, member_code=member.code, cartons=3, staff=staff, idempotency_key="k")
    transfer = Transfer.objects.get()

    for statement in (
        "UPDATE recycling_transfer SET amount = 1000 WHERE id = %s",
        "DELETE FROM recycling_transfer WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
            cursor.execute(statement, [transfer.pk])

    assert Transfer.objects.get().amount == transfer.amount == 30
    assert ledger_violations() == []


def test_check_ledger_reports_a_balance_corrupted_with_raw_sql(committed):
    """A cached balance changed behind the ledger's back makes check_ledger fail, naming the account."""
    member, station, staff = committed["member"], committed["station"], committed["staff"]
    record_dropoff(station=station, member_code=member.code, cartons=3, staff=staff, idempotency_key="k")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE recycling_account SET balance = 1000 WHERE id = %s", [member.account.pk])
    out = StringIO()

    with pytest.raises(CommandError, match="violation"):
        call_command("check_ledger", stdout=out)

    assert f"account {member.account.pk} (member): cached balance 1000, but credits 30 - debits 0 = 30" in (
        out.getvalue()
    )
    assert "all balances sum to 970, not 0" in out.getvalue()
