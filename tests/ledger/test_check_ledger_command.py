"""`manage.py check_ledger`: what it prints, its exit status, and the ledger's own checks
(cached balances, the zero sum, flagged balances, append-only transfers)."""

import pytest
from django.core.management import ManagementUtility
from django.db import DatabaseError, transaction
from django.db.models import F

from ledger.audit import ledger_violations, registered_checks
from ledger.models import Account, Transfer

from .conftest import check_ledger, check_ledger_failing, sql, without

pytestmark = pytest.mark.django_db


def test_a_clean_ledger_passes_and_prints_a_summary(activity):
    """After normal activity (every kind of transfer) every registered check prints ok and the
    command ends normally."""
    output = check_ledger()

    accounts, transfers, checks = Account.objects.count(), Transfer.objects.count(), len(registered_checks())
    assert set(Transfer.objects.values_list("kind", flat=True)) == {"earning", "reversal", "redemption", "donation"}
    assert f"Checking {accounts} accounts and {transfers} transfers with {checks} checks." in output
    assert output.count("ok    ") == checks >= 15
    assert "ok    every transfer has exactly one cause" in output
    assert "FAIL" not in output
    assert "Ledger is consistent." in output


def test_an_empty_ledger_is_clean():
    assert "Ledger is consistent." in check_ledger()


def test_a_violation_exits_non_zero(activity, capsys):
    """Run as from the shell: exit status 1, the failed check and the violation by id on stdout."""
    account = activity.alice.account
    Account.objects.filter(pk=account.pk).update(balance=F("balance") + 7)

    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "check_ledger", "--no-progress"]).execute()

    out = capsys.readouterr()
    assert exited.value.code == 1
    assert f"account {account.pk} (member): cached balance" in out.out
    assert "check_ledger found 2 violation(s)." in out.err


def test_the_help_says_what_is_checked(capsys):
    with pytest.raises(SystemExit):
        ManagementUtility(["manage.py", "check_ledger", "--help"]).execute()
    text = " ".join(capsys.readouterr().out.split())
    assert "exits with status 1 if any check fails" in text
    assert "--no-progress" in text


def test_a_corrupted_cached_balance_is_reported(activity):
    """A member balance that no longer matches its transfers fails the command and names the
    account (and the sum of all balances is no longer zero)."""
    account = activity.alice.account
    balance = Account.objects.get(pk=account.pk).balance
    Account.objects.filter(pk=account.pk).update(balance=F("balance") + 7)

    output, error = check_ledger_failing()

    assert "FAIL  cached balances match transfers: 1 violation(s)" in output
    assert f"account {account.pk} (member): cached balance {balance + 7}, but credits" in output
    assert "all balances sum to 7, not 0" in output
    assert "check_ledger found 2 violation(s)." in str(error)


def test_balances_moved_consistently_but_wrongly_are_still_reported(activity):
    """Moving points between two cached balances keeps the zero sum but not the transfer totals."""
    alice, bob = activity.alice.account, activity.bob.account
    Account.objects.filter(pk=alice.pk).update(balance=F("balance") - 10)
    Account.objects.filter(pk=bob.pk).update(balance=F("balance") + 10)

    output, error = check_ledger_failing()

    assert f"account {alice.pk} (member)" in output
    assert f"account {bob.pk} (member)" in output
    assert "ok    balances sum to zero" in output
    assert "2 violation(s)" in str(error)


def test_a_negative_flagged_balance_is_reported(activity):
    """A member balance below zero is named (only possible once the CHECK constraint is lost)."""
    without("recycling_account", constraint="account_flagged_balance_not_negative")
    bob = activity.bob.account
    issuer = Account.objects.get(station=activity.first.station)
    balance = Account.objects.get(pk=bob.pk).balance
    Account.objects.filter(pk=bob.pk).update(balance=-5)
    Account.objects.filter(pk=issuer.pk).update(balance=F("balance") + balance + 5)

    output, error = check_ledger_failing()

    assert "FAIL  no negative balance where flagged: 1 violation(s)" in output
    assert f"account {bob.pk} (member): negative balance -5" in output
    assert "ok    balances sum to zero" in output
    assert "3 violation(s)" in str(error)  # bob's and the issuer's cached balances, bob's sign


def test_transfers_reject_update_and_delete(activity):
    """Transfers are append-only: UPDATE and DELETE fail (a trigger); corrections are reversals."""
    transfer = Transfer.objects.filter(kind=Transfer.Kind.EARNING).first()

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        sql("UPDATE recycling_transfer SET amount = amount + 1 WHERE id = %s", [transfer.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        sql("DELETE FROM recycling_transfer WHERE id = %s", [transfer.pk])

    assert Transfer.objects.get(pk=transfer.pk).amount == transfer.amount
    assert ledger_violations() == []
