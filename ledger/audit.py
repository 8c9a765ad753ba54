"""The ledger audit behind `manage.py check_ledger`: a registry of named checks and causes.

A check is a function that returns a list of violations (human-readable strings naming the
rows by id); an empty list means its invariant holds. Checks are set-based queries, so the
audit stays fast at national scale. The ledger registers its own checks here: cached
balances, the sum of all balances, flagged balances, and that every transfer has exactly one
cause. It knows no business model, so the apps that cause transfers register from their
AppConfig.ready() (recycling/audit.py, rewards/audit.py) both their causes (a query giving
the transfers a kind of business row explains, e.g. each drop-off's earning transfer) and the
checks that each transfer agrees with its cause; the dependencies still point down.
"""

from collections.abc import Callable, Iterator

from django.db import connection

LedgerCheck = Callable[[], list[str]]

_CHECKS: dict[str, LedgerCheck] = {}
_CAUSES: dict[str, str] = {}


def register_check(name: str, check: LedgerCheck) -> None:
    """Add a check under a unique name (registering the same function again changes nothing)."""
    if _CHECKS.get(name, check) is not check:
        raise ValueError(f"another ledger check is already registered as {name!r}")
    _CHECKS[name] = check


def register_cause(name: str, sql: str) -> None:
    """Add a kind of cause: `sql` selects (transfer_id, row_id), one row per transfer that a
    business row explains, e.g. "SELECT earning_transfer_id, id FROM recycling_dropoff WHERE
    earning_transfer_id IS NOT NULL" as "earning of drop-off"."""
    if _CAUSES.get(name, sql) != sql:
        raise ValueError(f"another cause is already registered as {name!r}")
    _CAUSES[name] = sql


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


def stream(sql: str, params: dict | None = None, *, chunk: int = 10_000) -> Iterator[tuple]:
    """The rows of an audit query that a check reads row by row in Python (one row per drop-off
    at national scale): through a server-side cursor, a chunk at a time."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params or {})
        while batch := cursor.fetchmany(chunk):
            yield from batch


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


def transfers_have_one_cause() -> list[str]:
    """Every transfer is explained by exactly one business row: none is an orphan (posted past
    the services, or its row lost), none is claimed by two rows."""
    if not _CAUSES:
        return []
    causes = "\n    UNION ALL ".join(
        f"SELECT transfer_id, {_quote(name)} AS cause, row_id FROM ({sql}) AS c{n} (transfer_id, row_id)"
        for n, (name, sql) in enumerate(_CAUSES.items())
    )
    found = rows(
        f"""
        SELECT t.id, t.kind, t.amount, array_remove(array_agg(c.cause || ' ' || c.row_id ORDER BY c.cause), NULL)
        FROM recycling_transfer t
        LEFT JOIN ({causes}) c ON c.transfer_id = t.id
        GROUP BY t.id, t.kind, t.amount
        HAVING count(c.transfer_id) <> 1
        ORDER BY t.id
        """
    )
    return [
        f"transfer {pk} ({kind}, {amount} points) has no cause"
        if not claimed
        else f"transfer {pk} ({kind}, {amount} points) has {len(claimed)} causes: {', '.join(claimed)}"
        for pk, kind, amount, claimed in found
    ]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


register_check("cached balances match transfers", cached_balances_match_transfers)
register_check("balances sum to zero", balances_sum_to_zero)
register_check("no negative balance where flagged", flagged_balances_not_negative)
register_check("every transfer has exactly one cause", transfers_have_one_cause)
