"""The ledger audit behind `manage.py check_ledger`.

Each check is a function returning a list of violations (human-readable strings); an empty
list means the invariant holds. All checks are set-based queries, so the audit stays fast
at national scale. Apps that post to the ledger add their own checks to LEDGER_CHECKS
from their AppConfig.ready() (rewards/ does), keeping the dependency direction one way.
"""

from collections.abc import Callable

from django.db.models import Count, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from .models import Account, CartonInventory, CartonMovement, DropOff, Transfer

LedgerCheck = Callable[[], list[str]]


def _sum_of_transfers(account_field: str) -> Coalesce:
    per_account = (
        Transfer.objects.filter(**{account_field: OuterRef("pk")})
        .values(account_field)
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(per_account), Value(0))


def cached_balances_match_transfers() -> list[str]:
    mismatched = (
        Account.objects.annotate(
            credited=_sum_of_transfers("credit_account"), debited=_sum_of_transfers("debit_account")
        )
        .exclude(balance=Coalesce("credited", 0) - Coalesce("debited", 0))
        .values_list("pk", "kind", "balance", "credited", "debited")
    )
    return [
        f"account {pk} ({kind}): cached balance {balance}, "
        f"but credits {credited} - debits {debited} = {credited - debited}"
        for pk, kind, balance, credited, debited in mismatched
    ]


def member_balances_not_negative() -> list[str]:
    negative = Account.objects.filter(kind=Account.Kind.MEMBER, balance__lt=0).values_list("pk", "balance")
    return [f"account {pk} (member): negative balance {balance}" for pk, balance in negative]


def balances_sum_to_zero() -> list[str]:
    total = Account.objects.aggregate(total=Sum("balance"))["total"] or 0
    return [] if total == 0 else [f"all balances sum to {total}, not 0"]


def dropoffs_have_their_transfers() -> list[str]:
    """An accepted drop-off with points has one earning transfer of exactly its points and no
    reversal; a voided one also has exactly one reversal; a drop-off with 0 points has none."""
    earning = Q(transfers__kind=Transfer.Kind.EARNING)
    reversal = Q(transfers__kind=Transfer.Kind.REVERSAL)
    accepted, voided = DropOff.Status.ACCEPTED, DropOff.Status.VOIDED
    wrong = (
        DropOff.objects.annotate(
            earnings=Count("transfers", filter=earning),
            earned=Coalesce(Sum("transfers__amount", filter=earning), 0),
            reversals=Count("transfers", filter=reversal),
            reversed=Coalesce(Sum("transfers__amount", filter=reversal), 0),
        )
        .exclude(points=0, earnings=0, reversals=0)
        .exclude(Q(status=accepted) & Q(points__gt=0, earnings=1, earned=F("points"), reversals=0))
        .exclude(Q(status=voided) & Q(points__gt=0, earnings=1, earned=F("points"), reversals=1, reversed=F("points")))
        .values_list("pk", "status", "points", "earnings", "reversals")
    )
    return [
        f"drop-off {pk} ({status}, {points} points): {earnings} earning and {reversals} reversal transfers"
        for pk, status, points, earnings, reversals in wrong
    ]


def carton_inventories_match_movements() -> list[str]:
    """Cartons on hand = cartons of accepted drop-offs - cartons reused or baled, per station."""
    dropped = (
        DropOff.objects.filter(station=OuterRef("station"), status=DropOff.Status.ACCEPTED)
        .values("station")
        .annotate(total=Sum("cartons"))
        .values("total")
    )
    moved = (
        CartonMovement.objects.filter(station=OuterRef("station"))
        .values("station")
        .annotate(total=Sum("cartons"))
        .values("total")
    )
    wrong = (
        CartonInventory.objects.annotate(
            dropped=Coalesce(Subquery(dropped), Value(0)), moved=Coalesce(Subquery(moved), Value(0))
        )
        .exclude(on_hand=F("dropped") - F("moved"))
        .values_list("station__code", "on_hand", "dropped", "moved")
    )
    stations_without_inventory = (
        DropOff.objects.filter(status=DropOff.Status.ACCEPTED, station__carton_inventory__isnull=True)
        .values_list("station__code", flat=True)
        .distinct()
    )
    return [
        f"station {code}: {on_hand} cartons on hand, but {dropped} dropped off - {moved} reused or baled"
        for code, on_hand, dropped, moved in wrong
    ] + [f"station {code}: drop-offs but no carton inventory" for code in stations_without_inventory]


LEDGER_CHECKS: list[LedgerCheck] = [
    cached_balances_match_transfers,
    member_balances_not_negative,
    balances_sum_to_zero,
    dropoffs_have_their_transfers,
    carton_inventories_match_movements,
]


def ledger_violations() -> list[str]:
    return [violation for check in LEDGER_CHECKS for violation in check()]
