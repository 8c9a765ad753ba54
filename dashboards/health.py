"""The service-health page (/ops/health/): what the API did without one of its dependencies.

When Redis is down the API's throttles fail open (api/throttling.py) and each request they let
through is counted per hour; anonymous refusals (HTTP 403) are counted the same way instead of
being logged one by one (audit.HourlyCount). The page shows the last HEALTH_HOURS hours that
counted anything, so ops see when a dependency was down and how much traffic went unguarded.
"""

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from audit.models import HourlyCount
from audit.selectors import hourly_counts_since

from .access import ops_required

HEALTH_HOURS = 48


@ops_required
def health(request: HttpRequest) -> HttpResponse:
    hours = hourly_counts_since(timezone.now() - timedelta(hours=HEALTH_HOURS))
    kinds = HourlyCount.Kind
    rows = [(entry.hour, [entry.of(kind) for kind in kinds.values]) for entry in hours]
    totals = [sum(entry.of(kind) for entry in hours) for kind in kinds.values]
    context = {"kinds": kinds.labels, "rows": rows, "totals": totals, "hours": HEALTH_HOURS, "tab": "health"}
    return render(request, "dashboards/health.html", context)
