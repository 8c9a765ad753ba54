"""Celery tasks of the recycling app: thin wrappers that take a date or an id and call one service.

Every task is safe to run twice (the totals services overwrite a day or a campaign, never
increment), so late acknowledgement and re-delivery after a lost worker (config/settings) cannot
double-count.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, timedelta

from celery import shared_task
from django.db import DatabaseError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from core.unavailable import logger as degraded

from .models import RecyclingCampaign
from .totals import aggregate_campaign, aggregate_day, campaigns_containing

logger = logging.getLogger(__name__)

# Database hiccups (a restart, a failover, a lock timeout) and broker errors are retried with
# exponential backoff capped at 10 minutes, well inside Redis's visibility timeout.
RETRY_OPTIONS = {
    "autoretry_for": (DatabaseError, BrokerError),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 10,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@shared_task(name="recycling.aggregate_day_totals", **RETRY_OPTIONS)
def aggregate_day_totals(day: str) -> dict:
    """Recompute one Shanghai day's station and city totals (day as YYYY-MM-DD)."""
    totals = aggregate_day(day=date.fromisoformat(day))
    refresh_campaigns_after_commit(totals.day)
    return {"day": day, "stations": totals.stations, "cities": totals.cities}


@shared_task(name="recycling.aggregate_campaign_totals", **RETRY_OPTIONS)
def aggregate_campaign_totals(campaign_id: int) -> dict:
    """Recompute one campaign's station totals from its daily station totals."""
    campaign = RecyclingCampaign.objects.filter(pk=campaign_id).first()
    if campaign is None:  # deleted since the refresh was enqueued: its rows went with it
        return {"campaign": campaign_id, "stations": 0}
    totals = aggregate_campaign(campaign=campaign)
    return {"campaign": campaign_id, "stations": totals.stations}


@shared_task(name="recycling.aggregate_today_totals", **RETRY_OPTIONS)
def aggregate_today_totals() -> dict:
    """Recompute today's totals (scheduled every 5 minutes)."""
    return aggregate_day_totals(timezone.localdate().isoformat())


@shared_task(name="recycling.aggregate_recent_days_totals", **RETRY_OPTIONS)
def aggregate_recent_days_totals(days: int = 3) -> list[str]:
    """Enqueue a recompute of each of the `days` days before today (scheduled nightly at 02:00)."""
    today = timezone.localdate()
    recent = [(today - timedelta(days=n)).isoformat() for n in range(1, days + 1)]
    for day in recent:
        aggregate_day_totals.delay(day)
    return recent


def queue_day_recompute(day: date) -> bool:
    """Enqueue the day's recompute now; False (logged, and noted for unqueued_recomputes()) when
    the broker does not answer within its time-outs (config/settings: about a second).

    ignore_result: the web never reads a recompute's result, and asking for one would make
    Celery subscribe to the result store first, which retries for 20 s when Redis is down.
    """
    try:
        aggregate_day_totals.apply_async(args=[day.isoformat()], ignore_result=True)
    except BrokerError as error:
        degraded.warning("recompute of %s not queued (task queue unavailable: %s)", day.isoformat(), error)
        unqueued = _unqueued.get()
        if unqueued is not None:
            unqueued.append(day)
        return False
    return True


def recompute_after_commit(day: date) -> None:
    """Enqueue the day's recompute once the current transaction commits.

    If the broker is down the write still stands (it has committed) and the failure is logged;
    the nightly recompute of the last three days repairs the totals, the admin's "recompute"
    action any day.
    """
    transaction.on_commit(lambda: queue_day_recompute(day), robust=True)


_unqueued: ContextVar[list[date] | None] = ContextVar("unqueued_recomputes", default=None)


@contextmanager
def unqueued_recomputes() -> Iterator[list[date]]:
    """Collect the days whose recompute could not be queued inside the block (the admin says so)."""
    days: list[date] = []
    token = _unqueued.set(days)
    try:
        yield days
    finally:
        _unqueued.reset(token)


def refresh_campaigns_after_commit(day: date) -> None:
    """Enqueue, once each, the refresh of every campaign whose window contains the day, when the
    current transaction commits (at once outside one: aggregate_day has committed by then)."""
    for campaign in campaigns_containing(first=day):
        aggregate_campaign_totals.delay_on_commit(campaign.pk)


@shared_task(name="recycling.send_notices", **RETRY_OPTIONS)
def send_notices() -> int:
    """Send the members' notices not sent yet (after each commit that wrote some, and every 5 minutes)."""
    from .notices import send_pending_notices

    return send_pending_notices()
