"""Celery tasks of the idempotency app."""

from celery import shared_task
from django.db import DatabaseError

from .services import purge_expired_keys


# Not recycling.tasks.RETRY_OPTIONS: idempotency/ sits below recycling and imports no project app.
@shared_task(
    name="idempotency.purge_expired_keys",
    autoretry_for=(DatabaseError,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=10,
    acks_late=True,
    reject_on_worker_lost=True,
)
def purge_expired_keys_task() -> int:
    """Delete idempotency keys past their retention (meant to run daily); safe to run twice."""
    return purge_expired_keys()
