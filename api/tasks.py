"""Celery tasks of the API app."""

from celery import shared_task

from recycling.tasks import RETRY_OPTIONS

from .idempotency import purge_expired_records


@shared_task(name="api.purge_idempotency_records", **RETRY_OPTIONS)
def purge_idempotency_records() -> int:
    """Delete idempotency records past their retention (scheduled daily at 03:00); safe to run twice."""
    return purge_expired_records()
