"""The Celery tasks of the recycling app and the recomputes that writes enqueue after commit."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.utils import timezone

from config import celery_app
from events.services import queue_delivery_soon
from recycling import tasks
from recycling.days import shanghai_day
from recycling.models import CartonMovement, DailyCityTotal, DailyStationTotal
from recycling.services import record_carton_movement, record_dropoff, void_dropoff
from tests.factories import EarningRuleFactory, MemberFactory, StationManagerFactory, StationStaffFactory

# A history on fixed dates, recorded through record_dropoff().
pytestmark = pytest.mark.usefixtures("any_past_time")

DAY = date(2024, 3, 1)
AT_NOON = datetime(2024, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 on 1 March in Shanghai


@pytest.fixture
def desk(db):
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    return StationManagerFactory(), MemberFactory()  # a manager: bales too


@pytest.fixture
def enqueued(monkeypatch) -> list[str]:
    """The days whose recompute was enqueued. Only our own task's delay is replaced, to observe
    the enqueue; the on-commit machinery is Django's own."""
    days: list[str] = []

    class Recorder:
        @staticmethod
        def delay(day: str) -> None:
            days.append(day)

        @staticmethod
        def apply_async(args: list[str], ignore_result: bool = False) -> None:
            days.append(args[0])

    monkeypatch.setattr(tasks, "aggregate_day_totals", Recorder)
    return days


def _drop(desk, *, cartons=3, occurred_at=None, key="k1"):
    staff, member = desk
    return record_dropoff(
        station=staff.station,
        member_code=member.code,
        cartons=cartons,
        staff=staff.user,
        idempotency_key=key,
        occurred_at=occurred_at,
    ).dropoff


def test_void_enqueues_the_recompute_of_the_dropoffs_day_after_commit(
    desk, enqueued, django_capture_on_commit_callbacks
):
    """Voiding a drop-off registers an on-commit callback (nothing is sent before the commit);
    run at commit, it enqueues the recompute of the drop-off's Shanghai day."""
    dropoff = _drop(desk, occurred_at=datetime(2024, 3, 1, 15, 59, 59, tzinfo=UTC))  # 23:59:59 in Shanghai
    enqueued.clear()  # the late drop-off itself enqueued nothing yet: its callbacks never ran

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        void_dropoff(dropoff_id=dropoff.pk, staff=desk[0].user, reason="wrong member")
    recomputes = [callback for callback in callbacks if callback is not queue_delivery_soon]  # the webhooks' own
    assert len(recomputes) == 1
    assert enqueued == []

    recomputes[0]()
    assert enqueued == ["2024-03-01"]


def test_a_late_dropoff_enqueues_the_recompute_of_its_day(desk, enqueued, django_capture_on_commit_callbacks):
    """A drop-off that happened on an earlier Shanghai day than today enqueues that day's
    recompute once it commits (16:00:00 UTC is already the next Shanghai day)."""
    with django_capture_on_commit_callbacks(execute=True):
        _drop(desk, occurred_at=datetime(2024, 3, 1, 16, 0, tzinfo=UTC), key="a")
        yesterday = timezone.now() - timedelta(days=1)
        _drop(desk, occurred_at=yesterday, key="b")
    assert enqueued == ["2024-03-02", shanghai_day(yesterday).isoformat()]


def test_a_dropoff_of_today_enqueues_nothing(desk, enqueued, django_capture_on_commit_callbacks):
    """Today's drop-offs are left to the five-minute recompute of today: no task per drop-off."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _drop(desk)
    assert callbacks == [queue_delivery_soon]  # only the webhook dispatcher (events/), no recompute
    assert enqueued == []


def test_late_reuse_enqueues_its_day_but_baling_does_not(desk, enqueued, django_capture_on_commit_callbacks):
    """Reused cartons count in the totals, so recording them for an earlier day enqueues that
    day's recompute; baled cartons are not a daily figure and enqueue nothing."""
    _drop(desk, cartons=10)
    station, staff = desk[0].station, desk[0].user
    with django_capture_on_commit_callbacks(execute=True):
        for kind, key in [(CartonMovement.Kind.REUSED, "m1"), (CartonMovement.Kind.BALED, "m2")]:
            record_carton_movement(
                station=station, kind=kind, cartons=2, staff=staff, idempotency_key=key, occurred_at=AT_NOON
            )
    assert enqueued == ["2024-03-01"]


def test_the_nightly_task_enqueues_the_three_days_before_today(enqueued):
    """aggregate_recent_days_totals enqueues one recompute for each of the three previous days."""
    today = timezone.localdate()
    expected = [(today - timedelta(days=n)).isoformat() for n in (1, 2, 3)]

    assert tasks.aggregate_recent_days_totals.apply().get() == expected
    assert enqueued == expected


def test_the_day_task_runs_the_service_and_reports_the_rows(desk):
    """aggregate_day_totals, run as a task, writes the day's rows and returns their counts."""
    _drop(desk, cartons=4, occurred_at=AT_NOON)

    result = tasks.aggregate_day_totals.apply(args=["2024-03-01"]).get()

    assert result == {"day": "2024-03-01", "stations": 1, "cities": 1}
    row = DailyStationTotal.objects.get(day=DAY)
    assert (row.station_id, row.cartons, row.points_issued) == (desk[0].station.pk, 4, 40)


def test_tasks_are_acknowledged_late_and_handed_back_when_a_worker_is_lost():
    """A task is acknowledged only after it ran and re-queued if its worker dies; Redis's
    visibility timeout is longer than the longest retry backoff, so no task runs twice early."""
    conf = celery_app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    for task in (tasks.aggregate_day_totals, tasks.aggregate_today_totals, tasks.aggregate_recent_days_totals):
        assert task.acks_late is True
        assert task.reject_on_worker_lost is True
        assert task.retry_backoff_max < conf.broker_transport_options["visibility_timeout"]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_on_redis_computes_an_enqueued_day():
    """A Celery worker consuming from Redis picks up aggregate_day_totals.delay(day) and writes
    the day's station and city rows to the test database."""
    assert celery_app.conf.broker_url == settings.REDIS_URL  # not the filesystem broker
    staff, member = StationStaffFactory(), MemberFactory()
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    for key, cartons in [("a", 3), ("b", 5)]:
        record_dropoff(
            station=staff.station,
            member_code=member.code,
            cartons=cartons,
            staff=staff.user,
            idempotency_key=key,
            occurred_at=AT_NOON,
        )
    assert not DailyStationTotal.objects.exists()
    # Messages left by earlier runs (or enqueued by the late drop-offs above, before any worker
    # existed) must not reach this worker: start from an empty queue.
    celery_app.control.purge()

    with start_worker(celery_app, perform_ping_check=False, pool="solo", shutdown_timeout=30):
        result = tasks.aggregate_day_totals.delay("2024-03-01")
        assert result.get(timeout=60) == {"day": "2024-03-01", "stations": 1, "cities": 1}

    row = DailyStationTotal.objects.get(day=DAY)
    assert (row.station_id, row.cartons, row.dropoffs, row.members, row.points_issued) == (
        staff.station.pk,
        8,
        2,
        1,
        80,
    )
    assert row.co2e_kg == Decimal("6.922")  # 8 cartons x 0.25 kg x 3.461 kg CO2e/kg
    city = DailyCityTotal.objects.get(day=DAY)
    assert (city.city_id, city.stations, city.cartons) == (staff.station.city_id, 1, 8)
