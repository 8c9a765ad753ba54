"""The ledger audit behind `manage.py check_ledger`: a registry of named checks.

A check is a function that returns a list of violations (human-readable strings naming the
rows by id); an empty list means its invariant holds. Checks are set-based queries, so the
audit stays fast at national scale. The ledger registers its own checks here (cached
balances, the sum of all balances, flagged balances); the apps that cause transfers register
theirs from their AppConfig.ready() (recycling/audit.py, rewards/audit.py), so that together
they prove every transfer is explained by its cause, and the dependencies still point down.
"""

from collections.abc import Callable

from django.db import connection

LedgerCheck = Callable[[], list[str]]

_CHECKS: dict[str, LedgerCheck] = {}


def register_check(name: str, check: LedgerCheck) -> None:
    """Add a check under a unique name (registering the same function again changes nothing)."""
    if _CHECKS.get(name, check) is not check:
        raise ValueError(f"another ledger check is already registered as {name!r}")
    _CHECKS[name] = check


def registered_checks() -> dict[str, LedgerCheck]:
    """The checks by name, in the order they were registered."""
    return dict(_CHECKS)


def ledger_violations() -> list[str]:
    return [violation for check in _CHECKS.values() for violation in check()]


def rows(sql: str, params: dict | None = None) -> list[tuple]:
    """The rows of one audit query (raw SQL, read as written)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return cursor.fetchall()


CACHED_BALANCES = """
    SELECT a.id, a.kind, a.balance, COALESCE(c.total, 0) AS credited, COALESCE(d.total, 0) AS debited
    FROM recycling_account a
    LEFT JOIN (SELECT credit_account_id AS id, SUM(amount) AS total FROM recycling_transfer GROUP BY 1) c
        ON c.id = a.id
    LEFT JOIN (SELECT debit_account_id AS id, SUM(amount) AS total FROM recycling_transfer GROUP BY 1) d
        ON d.id = a.id
    WHERE a.balance <> COALESCE(c.total, 0) - COALESCE(d.total, 0)
    ORDER BY a.id
"""


def cached_balances_match_transfers() -> list[str]:
    return [
        f"account {pk} ({kind}): cached balance {balance}, "
        f"but credits {credited} - debits {debited} = {credited - debited}"
        for pk, kind, balance, credited, debited in rows(CACHED_BALANCES)
    ]


def balances_sum_to_zero() -> list[str]:
    ((total,),) = rows("SELECT COALESCE(SUM(balance), 0) FROM recycling_account")
    return [] if total == 0 else [f"all balances sum to {total}, not 0"]


NEGATIVE_FLAGGED = """
    SELECT id, kind, balance FROM recycling_account
    WHERE balance_must_not_go_negative AND balance < 0
    ORDER BY id
"""


def flagged_balances_not_negative() -> list[str]:
    return [f"account {pk} ({kind}): negative balance {balance}" for pk, kind, balance in rows(NEGATIVE_FLAGGED)]


register_check("cached balances match transfers", cached_balances_match_transfers)
register_check("balances sum to zero", balances_sum_to_zero)
register_check("no negative balance where flagged", flagged_balances_not_negative)
