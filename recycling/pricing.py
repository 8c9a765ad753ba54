"""What a drop-off earns, and the keys of the transfers it causes: one implementation.

record_dropoffs() (recycling/services.py) chooses the rule in force and prices every drop-off
here; the simulator does the same for its simulated ones; the ledger audit (recycling/audit.py)
recomputes each drop-off's price with price_dropoff() and expects the keys these functions give.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar


class EarningTerms(Protocol):
    points_per_carton: int
    daily_carton_cap: int


class RuleValidity(Protocol):
    city_id: int | None  # None: a national rule
    valid_from: datetime
    valid_to: datetime | None  # None: open-ended


Rule = TypeVar("Rule", bound=RuleValidity)


def rule_in_force(rules: Iterable[Rule], *, city_id: int, at: datetime) -> Rule | None:
    """The earning rule in force in a city at `at`, among `rules`: the city's own rule beats a
    national one, then the latest start wins; None when none is in force."""
    candidates = [
        rule
        for rule in rules
        if rule.city_id in (city_id, None) and rule.valid_from <= at and (rule.valid_to is None or rule.valid_to > at)
    ]
    return min(candidates, key=lambda rule: (rule.city_id is None, -rule.valid_from.timestamp()), default=None)


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
