"""What a drop-off earns, and the keys of the transfers it causes: one implementation.

record_dropoff() prices every drop-off here; the simulator prices its simulated ones here;
the ledger audit (recycling/audit.py) recomputes each drop-off's price with the same rule
(in SQL: see DROPOFF_PRICE_SQL) and expects the keys these functions give.
"""

from dataclasses import dataclass
from typing import Protocol


class EarningTerms(Protocol):
    points_per_carton: int
    daily_carton_cap: int


@dataclass(frozen=True)
class DropOffPrice:
    earning_cartons: int  # cartons within the member's daily cap
    points: int


def price_dropoff(*, cartons: int, earned_before: int, rule: EarningTerms) -> DropOffPrice:
    """Cartons within the daily cap (after `earned_before` earning cartons that day) times the
    rule's points per carton; cartons beyond the cap are recorded but earn nothing."""
    earning_cartons = max(0, min(cartons, rule.daily_carton_cap - earned_before))
    return DropOffPrice(earning_cartons=earning_cartons, points=earning_cartons * rule.points_per_carton)


def earning_transfer_key(*, dropoff_id: int) -> str:
    return f"dropoff:{dropoff_id}:earning"


def reversal_transfer_key(*, dropoff_id: int) -> str:
    return f"dropoff:{dropoff_id}:reversal"
