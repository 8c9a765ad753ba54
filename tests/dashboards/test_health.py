"""The service-health page: the hours in which the API ran without Redis, and the anonymous
refusals counted instead of logged."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from audit.models import HourlyCount
from tests.factories import HourlyCountFactory

HEALTH = reverse("dashboards:health")


def this_hour():
    return timezone.now().replace(minute=0, second=0, microsecond=0)


def test_ops_see_each_recent_hours_counts_and_their_totals(ops_client):
    now = this_hour()
    HourlyCountFactory(kind=HourlyCount.Kind.THROTTLE_FAILED_OPEN, hour=now, count=120)
    HourlyCountFactory(kind=HourlyCount.Kind.ANONYMOUS_REFUSAL, hour=now, count=3)
    HourlyCountFactory(kind=HourlyCount.Kind.THROTTLE_FAILED_OPEN, hour=now - timedelta(hours=5), count=7)
    HourlyCountFactory(kind=HourlyCount.Kind.THROTTLE_FAILED_OPEN, hour=now - timedelta(days=3), count=999)  # too old

    response = ops_client.get(HEALTH)

    assert response.status_code == 200
    assert [(hour, counts) for hour, counts in response.context["rows"]] == [
        (now, [3, 120]),  # the kinds in their declared order: refusals, then fail-opens
        (now - timedelta(hours=5), [0, 7]),
    ]
    assert response.context["totals"] == [3, 127]
    assert "999" not in response.content.decode()


def test_a_quiet_period_says_nothing_was_counted(ops_client):
    response = ops_client.get(HEALTH)
    assert b'data-testid="health-empty"' in response.content
