"""Reads of the audit app: the hourly counts ops watch."""

from dataclasses import dataclass
from datetime import datetime

from .models import HourlyCount


@dataclass(frozen=True)
class HourCounts:
    hour: datetime
    counts: dict[str, int]  # HourlyCount.Kind value -> count; kinds not counted that hour are absent

    def of(self, kind: str) -> int:
        return self.counts.get(kind, 0)


def hourly_counts_since(since: datetime) -> list[HourCounts]:
    """Every hour since `since` that counted anything, newest first, each with its kinds' counts."""
    hours: dict[datetime, dict[str, int]] = {}
    for row in HourlyCount.objects.filter(hour__gte=since).order_by("-hour", "kind"):
        hours.setdefault(row.hour, {})[row.kind] = row.count
    return [HourCounts(hour=hour, counts=counts) for hour, counts in hours.items()]
