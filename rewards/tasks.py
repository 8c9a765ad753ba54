"""Celery tasks of the rewards app: thin wrappers that call one service."""

from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(
    name="rewards.expire_reservations",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=240,
    time_limit=300,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
)
def expire_reservations() -> int:
    """Expire reservations past their collection deadline (refund points, return stock).

    Safe to run twice or concurrently: each reservation is expired at most once (see the
    service). Returns how many this run expired.
    """
    return services.expire_reservations()


@shared_task(
    name="rewards.notice_expiring_reservations",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
)
def notice_expiring_reservations() -> int:
    """Warn members of reservations about to expire (every 15 minutes); each is warned once."""
    return services.notice_expiring_reservations()
