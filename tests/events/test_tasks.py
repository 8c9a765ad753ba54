"""The dispatcher as Celery runs it: scheduled by django-celery-beat, enqueued after the commit
that recorded an event, and run by a real worker on Redis."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django_celery_beat.models import PeriodicTask

from config import celery_app
from events import services as events_services
from events import tasks
from events.models import Delivery
from recycling.services import record_dropoff

from .conftest import verify_as_a_partner


@pytest.mark.django_db
def test_the_dispatcher_and_the_notices_are_scheduled():
    schedules = dict(PeriodicTask.objects.values_list("task", "interval__every"))
    assert schedules["events.deliver_webhooks"] == 1
    assert schedules["recycling.send_notices"] == 5
    assert schedules["rewards.notice_expiring_reservations"] == 15


def test_the_task_retries_database_errors_late_acknowledged():
    task = tasks.deliver_webhooks
    assert task.acks_late is True and task.reject_on_worker_lost is True
    assert task.retry_backoff_max < celery_app.conf.broker_transport_options["visibility_timeout"]


@pytest.mark.django_db
def test_the_task_function_delivers(desk, receiver, endpoint):
    record_dropoff(station=desk.station, member_code=desk.member.code, cartons=2, staff=desk.staff, idempotency_key="a")

    assert tasks.deliver_webhooks() == 1
    assert verify_as_a_partner(endpoint.secret, receiver.received[0])


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_the_event_enqueued_on_commit(desk, receiver, endpoint, monkeypatch):
    """The commit of a drop-off enqueues the dispatcher; a worker on Redis runs it and the
    receiver gets the signed event, without waiting for the schedule."""
    assert celery_app.conf.broker_url == settings.REDIS_URL
    # This process may have queued a run within the last second (an earlier test's event), whose
    # message the purge below removes: start without that pause (events.services.queue_delivery_soon).
    monkeypatch.setattr(events_services, "_next_queue_at", 0.0)
    celery_app.control.purge()  # nothing left from earlier runs reaches this worker

    with start_worker(celery_app, perform_ping_check=False, pool="solo", shutdown_timeout=30):
        record_dropoff(
            station=desk.station, member_code=desk.member.code, cartons=2, staff=desk.staff, idempotency_key="w"
        )
        deadline = time.monotonic() + 60
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.1)

    (got,) = receiver.received
    assert verify_as_a_partner(endpoint.secret, got)
    assert got.json["data"]["cartons"] == 2
    assert Delivery.objects.get().state == "delivered"
