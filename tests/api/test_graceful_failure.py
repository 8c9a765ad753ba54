"""Graceful failure (issue 14, section 4): with Redis or PostgreSQL unreachable the API and the
pages answer what they can, and a clear 503 for the rest, never a 500 or a hang.

"Unreachable" is a closed port (127.0.0.1:1): the connection is refused at once, so the tests
need neither a server nor a time-out, and prove the answer does not depend on one.
"""

import contextlib
import logging
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from api import throttling
from audit.models import HourlyCount
from config.celery import app as celery_app
from recycling.models import DropOff
from tests.api.conftest import token_client
from tests.dashboards.conftest import ops_user, signed_in
from tests.factories import DailyCityTotalFactory, SuperuserFactory
from tests.recycling.test_admin import messages_of

CLOSED = "redis://127.0.0.1:1/0"
DROPOFFS = "/api/v1/dropoffs/"


@pytest.fixture
def redis_down(monkeypatch):
    """The cache (the throttles' counts) and the Celery broker point at a closed port."""
    monkeypatch.setattr(throttling._redis_down, "retry_at", 0.0)  # no pause left by another test
    conf = celery_app.conf
    saved = conf.broker_url, conf.broker_transport_options
    conf.broker_url = CLOSED
    conf.broker_transport_options = {**saved[1], "socket_connect_timeout": 0.5, "socket_timeout": 1}
    _reset_broker_connections()
    caches = {"default": {"BACKEND": "config.redis_cache.RedisCache", "LOCATION": CLOSED}}
    with override_settings(CACHES=caches):
        yield
    conf.broker_url, conf.broker_transport_options = saved
    _reset_broker_connections()
    cache.clear()


def _reset_broker_connections() -> None:
    """Celery keeps its connection and producer pools (kombu's, per broker URL, so the closed
    port's stay for the next test): dropped, the next task sent takes them for conf's URL."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def dropoff_body(world, **extra) -> dict:
    return {"station": world.station_a.pk, "member_code": world.member_x.code, "cartons": 2, **extra}


# Redis down ----------------------------------------------------------------------------------


def test_dropoffs_are_recorded_with_redis_down_and_the_throttles_fail_open(world, client_for, redis_down, caplog):
    """Both throttles of a drop-off POST (per user, per station) cannot count: the drop-off is
    recorded (201) all the same, and each let-through is logged on greenbox.degraded and counted
    in the hour's row that ops read on /ops/health/."""
    before = DropOff.objects.count()
    with caplog.at_level(logging.WARNING, logger="greenbox.degraded"):
        response = client_for("staff_a").post(DROPOFFS, dropoff_body(world), format="json")
        second = client_for("staff_a").post(DROPOFFS, dropoff_body(world), format="json")  # within the pause

    assert response.status_code == 201, response.content
    assert second.status_code == 201, second.content
    assert DropOff.objects.count() == before + 2
    [counted] = HourlyCount.objects.filter(kind=HourlyCount.Kind.THROTTLE_FAILED_OPEN)
    assert counted.count == 4  # two throttles, two requests
    ops_page = signed_in(ops_user()).get(reverse("dashboards:health"))
    assert ops_page.context["totals"][HourlyCount.Kind.values.index(counted.kind)] == 4
    lines = [record.getMessage() for record in caplog.records if record.name == "greenbox.degraded"]
    assert len(lines) == 4
    assert "throttle user failed open (Redis unavailable: ConnectionError" in lines[0]
    assert "throttle station failed open" in lines[1] and "POST /api/v1/dropoffs/" in lines[1]
    assert "retried shortly" in lines[2]


def test_reads_go_through_with_redis_down(world, client_for, redis_down):
    response = client_for("member_x").get("/api/v1/me/")
    assert response.status_code == 200, response.content


def test_a_late_dropoff_is_recorded_though_its_recompute_cannot_be_queued(
    world, client_for, redis_down, caplog, django_capture_on_commit_callbacks
):
    """A drop-off of yesterday queues its day's recompute after commit; with the broker down
    (its time-outs are config/settings' short ones) the drop-off stands and the miss is logged."""
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    with (
        caplog.at_level(logging.WARNING, logger="greenbox.degraded"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client_for("staff_a").post(DROPOFFS, dropoff_body(world, occurred_at=yesterday), format="json")

    assert response.status_code == 201, response.content
    assert DropOff.objects.filter(pk=response.json()["id"]).exists()
    assert any("not queued (task queue unavailable" in record.getMessage() for record in caplog.records)


def test_what_needs_redis_answers_503_in_the_error_shape(world, client_for, redis_down):
    """An API request whose work needs Redis (here the station list made to read the cache, which
    raises the real ConnectionError of the closed port) answers 503 service_unavailable."""
    with mock.patch("api.views.station_list", side_effect=lambda **kwargs: cache.get("anything")):
        response = client_for("staff_a").get("/api/v1/stations/")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response["Retry-After"] == "5"


def test_the_admin_recompute_says_the_queue_is_down(db, redis_down):
    """The recompute action reaches the closed broker port and says so (a message, a redirect),
    within the broker's short time-outs rather than Celery's 20 s of result-store retries."""
    total = DailyCityTotalFactory()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(SuperuserFactory())

    response = client.post(
        reverse("admin:recycling_dailycitytotal_changelist"),
        {"action": "recompute_days", ACTION_CHECKBOX_NAME: [total.pk]},
    )

    assert response.status_code == 302
    assert messages_of(response) == [
        f"The task queue is not answering; the recompute of {total.day.isoformat()} and later days was not queued."
    ]


def test_a_desk_void_with_the_queue_down_says_the_totals_were_not_recomputed(transactional_db, world, redis_down):
    """The void commits, then queues its day's recompute, which fails: the void stands and the
    desk says which days' totals are now stale. (transactional_db: real commits run the
    on-commit queueing inside the request, as in production.)"""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(world.staff_a)
    response = client.post(reverse("desk:void", args=[world.dropoff.pk]), {"reason": "typo"})

    assert response.status_code == 302
    world.dropoff.refresh_from_db()
    assert world.dropoff.status == DropOff.Status.VOIDED
    day = timezone.localtime(world.dropoff.occurred_at).date().isoformat()
    voided, stale = messages_of(response)
    assert voided.startswith("Voided: 2 cartons for ")
    assert stale == (
        f"The task queue is not answering: the totals of {day} were not recomputed. "
        "Recompute those days from the daily totals once it is back."
    )


# PostgreSQL down -----------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_down():
    """The default connection points at a closed port until the block ends."""
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def test_the_api_answers_503_in_its_error_shape_when_postgresql_is_down(transactional_db):
    client = token_client(None)
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    with postgres_down():
        response = client.get("/api/v1/stations/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "code": "service_unavailable",
            "message": "The service is briefly unavailable; nothing was recorded. Try again in a moment.",
        }
    }


@pytest.mark.parametrize("path", ["/", "/admin/", "/ops/"])
def test_pages_answer_a_plain_503_page_when_postgresql_is_down(transactional_db, path):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(SuperuserFactory())  # the session lives in PostgreSQL: reading it fails
    with postgres_down():
        response = client.get(path)

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert "Briefly unavailable" in response.content.decode()
