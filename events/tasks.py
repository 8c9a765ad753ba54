"""Celery tasks of the events app: thin, safe to run twice or concurrently (events/services.py)."""

from celery import shared_task
from django.db import DatabaseError

from .services import deliver_due


# Not recycling.tasks.RETRY_OPTIONS: events/ sits below recycling and imports no project app.
@shared_task(
    name="events.deliver_webhooks",
    autoretry_for=(DatabaseError,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=10,
    acks_late=True,
    reject_on_worker_lost=True,
)
def deliver_webhooks() -> int:
    """Fan new events out to the webhook endpoints and send what is due (every minute, and after
    each commit that recorded events). Returns how many deliveries it attempted."""
    return deliver_due()
