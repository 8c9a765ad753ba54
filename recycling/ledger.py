"""Recycling's use of the ledger: member accounts and station issuance accounts.

The ledger itself (posting, locking, reversal, and its design overview) is ledger/services.py;
this module only knows which account is whose.
"""

from collections.abc import Collection

from django.db import IntegrityError, transaction

from ledger.models import Account
from ledger.services import lock_account_ids
from stations.models import Station


def open_member_account() -> Account:
    """A new member's points account: it holds someone's points, so it can never go negative."""
    return Account.objects.create(kind=Account.Kind.MEMBER, balance_must_not_go_negative=True)


def issuance_account(*, station: Station) -> Account:
    """The station's issuance account, created on first use (safe under concurrent first use).

    Must run inside transaction.atomic() when it may create the account.
    """
    return Account.objects.get(pk=station.issuance_account_id or _issuance_account_id(station))


def lock_members_and_issuance(
    *, member_account_ids: Collection[int], station: Station
) -> tuple[dict[int, Account], Account]:
    """Lock members' accounts and the station's issuance account; return them fresh (the members'
    by primary key, and the issuer).

    One SELECT ... FOR UPDATE over all the rows, ordered by primary key like lock_account_ids(),
    finds the issuance account through the station's row as the database has it (the `station`
    object may predate its first drop-off), so the usual case costs one query. A station's first
    drop-off creates its issuance account here, after the members' locks: a new row's id comes
    from the sequence, above those of the members' long-existing accounts, so primary-key order
    still holds; a concurrent first drop-off at the station waits on the station row, then uses
    the account committed first.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_members_and_issuance() must run inside transaction.atomic()")
    # Raw SQL: the ORM's queryset (an OR of an IN list and a subquery) cost 1.2 ms of CPU per
    # drop-off POST against 0.34 ms for this (recycling/selectors.py says why that matters).
    locked = {
        account.pk: account
        for account in Account.objects.raw(
            "SELECT * FROM recycling_account WHERE id = ANY(%s)"
            " OR id = (SELECT issuance_account_id FROM stations_station WHERE id = %s)"
            " ORDER BY id FOR UPDATE",
            [sorted(member_account_ids), station.pk],
        )
    }
    members = {pk: locked.pop(pk) for pk in member_account_ids}
    if locked:
        return members, locked.popitem()[1]
    issuer_id = _issuance_account_id(station)
    return members, lock_account_ids([issuer_id])[issuer_id]


def _issuance_account_id(station: Station) -> int:
    """The id of the station's issuance account as the database has it, created if it has none.

    `station` itself is not changed: the creating transaction may still roll back.
    """
    existing = Station.objects.values_list("issuance_account", flat=True).get(pk=station.pk)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():  # a savepoint: the account is rolled back if another one won
            account = Account.objects.create(kind=Account.Kind.ISSUANCE, name=station.code)
            # Waits for a concurrent first use's UPDATE of the row, then sees its account.
            if not Station.objects.filter(pk=station.pk, issuance_account__isnull=True).update(
                issuance_account=account
            ):
                raise IntegrityError("issuance account created concurrently")
    except IntegrityError:
        return Station.objects.values_list("issuance_account", flat=True).get(pk=station.pk)
    return account.pk
