"""What a drop-off earns, and the keys of the transfers it causes: one implementation.

record_dropoffs() (recycling/services.py) chooses the rule in force and prices every drop-off
here; the simulator does the same for its simulated ones; the ledger audit (recycling/audit.py)
recomputes each drop-off's price with price_dropoff() and expects the keys these functions give.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, TypeVar

from .days import month_start, week_start


class EarningTerms(Protocol):
    points_per_carton: int
    daily_carton_cap: int
    weekly_carton_cap: int | None  # None: no weekly cap
    monthly_carton_cap: int | None  # None: no monthly cap


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
    earning_cartons: int  # cartons within the member's caps
    points: int


@dataclass(frozen=True)
class Earned:
    """A member's cartons that earned points before a drop-off, in its Shanghai day, its ISO week
    and its calendar month (recycling/days.py)."""

    day: int = 0
    week: int = 0
    month: int = 0


def price_dropoff(*, cartons: int, earned_before: Earned, rule: EarningTerms) -> DropOffPrice:
    """Cartons within every cap of the rule (the daily one, and the weekly and monthly ones when
    set), after the member's earning cartons before it in each period, times the rule's points
    per carton; cartons beyond a cap are recorded but earn nothing."""
    room = [rule.daily_carton_cap - earned_before.day]
    if rule.weekly_carton_cap is not None:
        room.append(rule.weekly_carton_cap - earned_before.week)
    if rule.monthly_carton_cap is not None:
        room.append(rule.monthly_carton_cap - earned_before.month)
    earning_cartons = max(0, min(cartons, *room))
    return DropOffPrice(earning_cartons=earning_cartons, points=earning_cartons * rule.points_per_carton)


class EarnedTally:
    """Members' earning cartons by Shanghai day, rolled up into ISO weeks and calendar months, as
    record_dropoffs() counts them while it prices one drop-off after another: start it from the
    cartons by (member id, day) of every day in the drop-offs' periods (days.cap_period_days)."""

    def __init__(self, by_day: Mapping[tuple[int, date], int]):
        self._counts: dict[tuple[int, str, date], int] = {}
        for (member_id, day), cartons in by_day.items():
            self.add(member_id, day, cartons)

    def before(self, member_id: int, day: date) -> Earned:
        counts = self._counts
        return Earned(
            day=counts.get((member_id, "day", day), 0),
            week=counts.get((member_id, "week", week_start(day)), 0),
            month=counts.get((member_id, "month", month_start(day)), 0),
        )

    def add(self, member_id: int, day: date, cartons: int) -> None:
        for key in (
            (member_id, "day", day),
            (member_id, "week", week_start(day)),
            (member_id, "month", month_start(day)),
        ):
            self._counts[key] = self._counts.get(key, 0) + cartons


def earning_transfer_key(*, dropoff_id: int) -> str:
    return f"dropoff:{dropoff_id}:earning"


def reversal_transfer_key(*, dropoff_id: int) -> str:
    return f"dropoff:{dropoff_id}:reversal"
