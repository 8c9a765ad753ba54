"""The points ledger: double-entry, append-only, balances that cannot go negative.

Design, after TigerBeetle's model:

- An Account holds points. Kinds: `member` (one per consumer), `issuance` (one per
  station: the source of the points its cartons earn), and for rewards/ the `reward` and
  `campaign` accounts that points are spent into.
- A Transfer moves `amount > 0` points from its debit account to its credit account. A
  balance is credits minus debits, so issuance accounts go negative as points are issued
  and the sum of all balances is always zero. Each account caches its balance; the
  cached balance and the transfers are written in the same transaction.
- Transfers are never updated or deleted (a PostgreSQL trigger rejects it). A mistake is
  corrected by a `reversal` transfer that points at the original; a transfer can be
  reversed at most once (a unique column).
- Member balances can never go below zero: a CHECK constraint, and a check here that
  turns the would-be violation into a clear InsufficientPoints error first.
- Every transfer has a unique idempotency key derived from the business operation that
  caused it, so a retried operation cannot post twice.

Concurrency: a writer locks the account rows it changes with SELECT ... FOR UPDATE in
primary-key order (never "the latest transfer"), so two writers cannot deadlock, and
writers at different stations for different members never wait for each other because
each station issues from its own account. Callers must already be inside
transaction.atomic(); post_transfer() expects the accounts to be locked.

Lock order for every service in the project: the business row being changed (drop-off,
redemption), then accounts by primary key, then stock rows.
"""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, Case, F, Q, When
from django.utils import timezone

from stations.models import Station

from .errors import InsufficientPoints
from .models import Account, DropOff, Transfer


def issuance_account(*, station: Station) -> Account:
    """The station's issuance account, created on first use (safe under concurrent first use)."""
    account, _created = Account.objects.get_or_create(kind=Account.Kind.ISSUANCE, station=station)
    return account


def lock_accounts(*accounts: Account) -> dict[int, Account]:
    """Lock the accounts' rows in primary-key order and return them fresh, by primary key."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_accounts() must run inside transaction.atomic()")
    ids = sorted({account.pk for account in accounts})
    return {account.pk: account for account in Account.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def lock_member_and_issuance(*, member_account_id: int, station: Station) -> tuple[Account, Account]:
    """Lock a member's account and the station's issuance account; return them fresh (member, issuer).

    One SELECT ... FOR UPDATE over both rows, ordered by primary key like lock_accounts(), finds
    the issuance account by its station, so the usual case costs one query. A station's first
    drop-off creates its issuance account here, after the member's lock: a new row's id comes
    from the sequence, above that of the member's long-existing account, so primary-key order
    still holds; the INSERT locks the new row, and a concurrent first drop-off at the station
    waits on its unique station (then finds it, after our commit).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_member_and_issuance() must run inside transaction.atomic()")
    locked = {
        account.pk: account
        for account in Account.objects.select_for_update()
        .filter(Q(pk=member_account_id) | Q(kind=Account.Kind.ISSUANCE, station=station))
        .order_by("pk")
    }
    member = locked.pop(member_account_id)
    issuer = locked.popitem()[1] if locked else None
    if issuer is None:
        try:
            with transaction.atomic():
                issuer = Account.objects.create(kind=Account.Kind.ISSUANCE, station=station)
        except IntegrityError:  # created by a concurrent first drop-off, which has committed
            issuer = Account.objects.select_for_update().get(kind=Account.Kind.ISSUANCE, station=station)
    return member, issuer


def post_transfer(
    *,
    debit: Account,
    credit: Account,
    amount: int,
    kind: str,
    idempotency_key: str,
    dropoff: DropOff | None = None,
    reverses: Transfer | None = None,
    station: Station | None = None,
    at: datetime | None = None,
) -> Transfer:
    """Insert one transfer, dated `at` (default now), and move the cached balances. The accounts
    must be locked.

    Raises InsufficientPoints if a member account would go below zero.
    """
    if debit.kind == Account.Kind.MEMBER and debit.balance < amount:
        raise InsufficientPoints()
    transfer = Transfer.objects.create(
        debit_account=debit,
        credit_account=credit,
        amount=amount,
        kind=kind,
        idempotency_key=idempotency_key,
        dropoff=dropoff,
        reverses=reverses,
        station=station,
        created_at=at or timezone.now(),
    )
    # Both balances in one UPDATE (the rows are already locked, so the order it touches them in
    # cannot deadlock).
    Account.objects.filter(pk__in=[debit.pk, credit.pk]).update(
        balance=Case(
            When(pk=debit.pk, then=F("balance") - amount),
            When(pk=credit.pk, then=F("balance") + amount),
            default=F("balance"),
            output_field=BigIntegerField(),
        )
    )
    debit.balance -= amount
    credit.balance += amount
    return transfer


def reverse_transfer(*, original: Transfer, idempotency_key: str, at: datetime | None = None) -> Transfer:
    """Post the transfer that undoes `original`: same amount, accounts swapped.

    Locks both accounts itself (in primary-key order); must run inside transaction.atomic().
    """
    locked = lock_accounts(original.debit_account, original.credit_account)
    return post_transfer(
        debit=locked[original.credit_account_id],
        credit=locked[original.debit_account_id],
        amount=original.amount,
        kind=Transfer.Kind.REVERSAL,
        idempotency_key=idempotency_key,
        dropoff=original.dropoff,
        reverses=original,
        station=original.station,
        at=at,
    )
