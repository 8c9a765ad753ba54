"""`manage.py check_ledger` and the audit checks behind it."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.db.models import F

from idempotency.models import IdempotencyKey
from recycling.audit import dropoffs_have_their_transfers, ledger_violations
from recycling.models import Account, DropOff, Transfer
from recycling.services import record_dropoff, void_dropoff
from tests.factories import DropOffFactory, EarningRuleFactory, MemberFactory, StationStaffFactory

pytestmark = pytest.mark.django_db


def check_ledger() -> str:
    out = StringIO()
    call_command("check_ledger", stdout=out)
    return out.getvalue()


def check_ledger_failing() -> tuple[str, CommandError]:
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("check_ledger", stdout=out)
    return out.getvalue(), failed.value


@pytest.fixture
def activity():
    """Normal activity: two members at two stations, one drop-off beyond the cap, one voided."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    first, second = StationStaffFactory(), StationStaffFactory()
    alice, bob = MemberFactory(), MemberFactory()
    record_dropoff(station=first.station, member_code=alice.code, cartons=15, staff=first.user, idempotency_key="a1")
    record_dropoff(station=second.station, member_code=alice.code, cartons=10, staff=second.user, idempotency_key="a2")
    mistaken = record_dropoff(
        station=first.station, member_code=bob.code, cartons=4, staff=first.user, idempotency_key="b1"
    ).dropoff
    void_dropoff(dropoff_id=mistaken.pk, staff=first.user, reason="wrong member")
    record_dropoff(station=first.station, member_code=bob.code, cartons=4, staff=first.user, idempotency_key="b2")
    return {"alice": alice, "bob": bob, "station": first.station, "staff": first.user}


@pytest.fixture
def without_member_balance_check():
    """Switch off the balance >= 0 CHECK for one test, to build a state only a broken database has."""
    with connection.cursor() as cursor:  # DDL is transactional: the test's rollback restores the constraint
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending deferred checks
        cursor.execute("ALTER TABLE recycling_account DROP CONSTRAINT account_member_balance_not_negative")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def test_clean_ledger_passes_and_prints_a_summary(activity):
    """After normal activity every check prints ok and the command ends normally."""
    output = check_ledger()

    accounts, transfers, dropoffs = Account.objects.count(), Transfer.objects.count(), DropOff.objects.count()
    assert (accounts, transfers, dropoffs) == (4, 5, 4)
    assert f"Checking {accounts} accounts, {transfers} transfers, {dropoffs} drop-offs." in output
    assert "ok    cached balances match transfers" in output
    assert "ok    dropoffs have their transfers" in output
    assert "FAIL" not in output
    assert "Ledger is consistent." in output


def test_empty_ledger_is_clean():
    """With no data at all there is nothing to violate."""
    assert "Ledger is consistent." in check_ledger()


def test_a_corrupted_cached_balance_is_reported(activity):
    """A member balance that no longer matches its transfers fails the command and names the account
    (and the sum of all balances is no longer zero)."""
    account = activity["alice"].account
    Account.objects.filter(pk=account.pk).update(balance=F("balance") + 7)

    output, error = check_ledger_failing()

    assert "FAIL  cached balances match transfers: 1 violation(s)" in output
    assert f"account {account.pk} (member): cached balance 207, but credits 200 - debits 0 = 200" in output
    assert "all balances sum to 7, not 0" in output
    assert "check_ledger found 2 violation(s)." in str(error)


def test_balances_moved_consistently_but_wrongly_are_still_reported(activity):
    """Moving points between two cached balances keeps the zero sum but not the transfer totals."""
    alice, bob = activity["alice"].account, activity["bob"].account
    Account.objects.filter(pk=alice.pk).update(balance=F("balance") - 10)
    Account.objects.filter(pk=bob.pk).update(balance=F("balance") + 10)

    output, error = check_ledger_failing()

    assert f"account {alice.pk} (member)" in output
    assert f"account {bob.pk} (member)" in output
    assert "ok    balances sum to zero" in output
    assert "2 violation(s)" in str(error)


def test_a_negative_member_balance_is_reported(activity, without_member_balance_check):
    """A member balance below zero is named (only possible if the CHECK constraint was lost)."""
    bob = activity["bob"].account
    issuer = Account.objects.get(kind=Account.Kind.ISSUANCE, station=activity["station"])
    Account.objects.filter(pk=bob.pk).update(balance=-5)
    Account.objects.filter(pk=issuer.pk).update(balance=F("balance") + 45)

    output, error = check_ledger_failing()

    assert "FAIL  member balances not negative: 1 violation(s)" in output
    assert f"account {bob.pk} (member): negative balance -5" in output
    assert "ok    balances sum to zero" in output
    assert "3 violation(s)" in str(error)  # bob's and the issuer's cached balances, bob's sign


def test_a_dropoff_missing_its_transfer_is_reported(activity):
    """An accepted drop-off with points but no earning transfer fails the command, named by the
    drop-off check."""
    orphan = DropOffFactory(
        station=activity["station"], member=activity["alice"], cartons=3, earning_cartons=3, points=30
    )

    output, error = check_ledger_failing()

    assert "FAIL  dropoffs have their transfers: 1 violation(s)" in output
    assert f"drop-off {orphan.pk} (accepted, 30 points): 0 earning and 0 reversal transfers" in output
    assert "violation(s)" in str(error)
    assert dropoffs_have_their_transfers() == [
        f"drop-off {orphan.pk} (accepted, 30 points): 0 earning and 0 reversal transfers"
    ]


def dropoff_recorded_under(key: str) -> DropOff:
    return DropOff.objects.get(pk=IdempotencyKey.objects.get(key=key).result["dropoff"])


def test_a_voided_dropoff_without_its_reversal_is_reported(activity):
    """Marking a drop-off voided without posting the reversal is named by the drop-off check."""
    dropoff = dropoff_recorded_under("a1")
    DropOff.objects.filter(pk=dropoff.pk).update(
        status=DropOff.Status.VOIDED, voided_by=activity["staff"], voided_at=dropoff.occurred_at, void_reason="x"
    )

    assert dropoffs_have_their_transfers() == [
        f"drop-off {dropoff.pk} (voided, 150 points): 1 earning and 0 reversal transfers"
    ]
    assert dropoffs_have_their_transfers()[0] in ledger_violations()


def test_a_dropoff_whose_points_changed_is_reported(activity):
    """A drop-off whose points no longer equal its earning transfer is named."""
    dropoff = dropoff_recorded_under("a2")
    DropOff.objects.filter(pk=dropoff.pk).update(points=60)

    assert ledger_violations() == [f"drop-off {dropoff.pk} (accepted, 60 points): 1 earning and 0 reversal transfers"]


def test_a_zero_point_dropoff_without_transfers_is_clean(activity):
    """A drop-off beyond the cap has no transfer, and that is correct."""
    DropOffFactory(station=activity["station"], member=activity["alice"], cartons=3, earning_cartons=0, points=0)

    assert dropoffs_have_their_transfers() == []


def test_transfers_reject_update(activity):
    """Transfers are append-only: an UPDATE fails (a trigger) and the transfer keeps its amount;
    corrections are reversals."""
    transfer = Transfer.objects.filter(kind=Transfer.Kind.EARNING).first()

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Transfer.objects.filter(pk=transfer.pk).update(amount=transfer.amount + 1)

    assert Transfer.objects.get(pk=transfer.pk).amount == transfer.amount
    assert ledger_violations() == []
