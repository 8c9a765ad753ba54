"""The points ledger: double-entry, append-only, balances that cannot go negative.

Design, after TigerBeetle's model (and django-hordak's: the ledger is its own app):

- An Account holds points. Kinds: `member` (one per consumer), `issuance` (one per
  station: the source of the points its cartons earn), and the `reward` and `campaign`
  accounts that points are spent into. The ledger knows no business model: members,
  stations, rewards and campaigns point at their accounts, and drop-offs, redemptions and
  donations at the transfers they caused.
- A Transfer moves `amount > 0` points from its debit account to its credit account. A
  balance is credits minus debits, so issuance accounts go negative as points are issued
  and the sum of all balances is always zero. Each account caches its balance; the
  cached balance and the transfers are written in the same transaction.
- Transfers are never updated or deleted (a PostgreSQL trigger rejects it). A mistake is
  corrected by a `reversal` transfer that points at the original; a transfer can be
  reversed at most once (a unique column).
- An account flagged `balance_must_not_go_negative` (a member's, a reward's, a campaign's)
  can never go below zero: a CHECK constraint, and a check here that turns the would-be
  violation into a clear InsufficientPoints error first.
- Every transfer has a unique idempotency key derived from the business operation that
  caused it, so a retried operation cannot post twice.
- `manage.py check_ledger` runs the audit (ledger/audit.py): the ledger's own checks and
  those that the apps owning the causes register.

Concurrency: a writer locks the account rows it changes with SELECT ... FOR UPDATE in
primary-key order (never "the latest transfer"), so two writers cannot deadlock, and
writers at different stations for different members never wait for each other because
each station issues from its own account. Callers must already be inside
transaction.atomic(); post_transfer() expects the accounts to be locked.

Lock order for every service in the project: the business row being changed (drop-off,
redemption), then accounts by primary key, then stock rows.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .errors import InsufficientPoints
from .models import Account, Transfer


def lock_account_ids(ids: Iterable[int]) -> dict[int, Account]:
    """Lock the accounts with these ids in primary-key order; return them fresh, by primary key."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("locking accounts must run inside transaction.atomic()")
    ordered = sorted(set(ids))
    return {
        account.pk: account for account in Account.objects.select_for_update().filter(pk__in=ordered).order_by("pk")
    }


def lock_accounts(*accounts: Account) -> dict[int, Account]:
    """Lock the accounts' rows in primary-key order and return them fresh, by primary key."""
    return lock_account_ids(account.pk for account in accounts)


@dataclass(frozen=True)
class Posting:
    """One transfer to post: `amount` points from `debit` to `credit` (both locked)."""

    debit: Account
    credit: Account
    amount: int
    kind: str
    idempotency_key: str
    reverses: Transfer | None = None


def post_transfer(
    *,
    debit: Account,
    credit: Account,
    amount: int,
    kind: str,
    idempotency_key: str,
    reverses: Transfer | None = None,
    at: datetime | None = None,
) -> Transfer:
    """Insert one transfer, dated `at` (default now), and move the cached balances. The accounts
    must be locked.

    Raises InsufficientPoints if a flagged account would go below zero.
    """
    posting = Posting(
        debit=debit, credit=credit, amount=amount, kind=kind, idempotency_key=idempotency_key, reverses=reverses
    )
    return post_transfers([posting], at=at)[0]


def post_transfers(postings: Sequence[Posting], *, at: datetime | None = None) -> list[Transfer]:
    """Insert the transfers, all dated `at` (default now), and move the cached balances, in one
    statement whatever their number (a batch of drop-offs posts all its earnings at once). The
    accounts must be locked; the Account objects' balances are moved too, in order.

    Raises InsufficientPoints, posting nothing, if a flagged account would go below zero after
    any of them (the postings run in order, so a debit may spend an earlier credit).
    """
    if not postings:
        return []
    created_at = at or timezone.now()
    for posting in postings:
        debit = posting.debit
        if debit.balance_must_not_go_negative and debit.balance < posting.amount:
            _undo_moves(postings[: postings.index(posting)])
            raise InsufficientPoints(
                _("This needs %(points)s points; the member has %(balance)s.")
                % {"points": posting.amount, "balance": debit.balance}
            )
        debit.balance -= posting.amount
        posting.credit.balance += posting.amount
    moves: dict[int, int] = {}
    for posting in postings:
        moves[posting.debit.pk] = moves.get(posting.debit.pk, 0) - posting.amount
        moves[posting.credit.pk] = moves.get(posting.credit.pk, 0) + posting.amount
    columns = [
        [p.debit.pk for p in postings],
        [p.credit.pk for p in postings],
        [p.amount for p in postings],
        [p.kind for p in postings],
        [p.idempotency_key for p in postings],
        [p.reverses.pk if p.reverses else None for p in postings],
    ]
    # The transfers and the balances in one statement: posting is on every write path, and the
    # ORM's INSERT then UPDATE cost a second round trip and about 0.5 ms of CPU per drop-off POST
    # (bench/bench_api.py). The rows are already locked, so the order cannot deadlock.
    with connection.cursor() as cursor:
        cursor.execute(_POST_SQL, [created_at, *columns, list(moves), list(moves.values())])
        ((ids, keys),) = cursor.fetchall()
        ids = dict(zip(keys, ids, strict=True))
    transfers = []
    for posting in postings:
        transfer = Transfer(
            pk=ids[posting.idempotency_key],
            debit_account=posting.debit,
            credit_account=posting.credit,
            amount=posting.amount,
            kind=posting.kind,
            idempotency_key=posting.idempotency_key,
            reverses=posting.reverses,
            created_at=created_at,
        )
        transfer._state.adding = False
        transfer._state.db = connection.alias
        transfers.append(transfer)
    return transfers


def _undo_moves(postings: Sequence[Posting]) -> None:
    for posting in postings:
        posting.debit.balance += posting.amount
        posting.credit.balance -= posting.amount


# Parameters: the transfers' time, their columns as arrays, then the accounts and their net moves
# as arrays. The ids come back with the (unique) keys, as one row of two arrays.
_POST_SQL = """
WITH posted AS (
    INSERT INTO recycling_transfer
        (debit_account_id, credit_account_id, amount, kind, idempotency_key, reverses_id, created_at)
    SELECT debit, credit, amount, kind, key, reverses, %s
    FROM unnest(%s::bigint[], %s::bigint[], %s::integer[], %s::text[], %s::text[], %s::bigint[])
        AS p(debit, credit, amount, kind, key, reverses)
    RETURNING id, idempotency_key
),
moved AS (
    UPDATE recycling_account a SET balance = a.balance + m.by
    FROM unnest(%s::bigint[], %s::bigint[]) AS m(id, by)
    WHERE a.id = m.id
)
SELECT array_agg(id) AS ids, array_agg(idempotency_key) AS keys FROM posted
"""


def reverse_transfer(*, original: Transfer, idempotency_key: str, at: datetime | None = None) -> Transfer:
    """Post the transfer that undoes `original`: same amount, accounts swapped.

    Locks both accounts itself (in primary-key order); must run inside transaction.atomic().
    """
    locked = lock_account_ids([original.debit_account_id, original.credit_account_id])
    return post_transfer(
        debit=locked[original.credit_account_id],
        credit=locked[original.debit_account_id],
        amount=original.amount,
        kind=Transfer.Kind.REVERSAL,
        idempotency_key=idempotency_key,
        reverses=original,
        at=at,
    )
