"""The campaign station totals (recycling.totals.aggregate_campaign) against a SQL ground truth,
their refresh by the Celery tasks after a day's recompute, and the commands that refresh them.

The ground truth is a plain GROUP BY over the daily station totals of the campaign's window."""

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recycling import tasks
from recycling.models import CAMPAIGN_STATION_TOTAL_FIGURES, CampaignStationTotal, DailyStationTotal
from recycling.services import record_dropoff
from recycling.totals import aggregate_campaign, campaigns_containing
from tests.factories import (
    CityFactory,
    EarningRuleFactory,
    MemberFactory,
    RecyclingCampaignFactory,
    StationFactory,
    StationStaffFactory,
)

# A history on fixed dates, recorded through record_dropoff().
pytestmark = pytest.mark.usefixtures("any_past_time")

FIRST, LAST = date(2022, 11, 1), date(2022, 11, 10)
COLUMNS = ["station_id", *CAMPAIGN_STATION_TOTAL_FIGURES]


def daily_row(station, day: date, cartons: int) -> DailyStationTotal:
    return DailyStationTotal(
        day=day,
        station=station,
        city_id=station.city_id,
        cartons=cartons,
        dropoffs=(cartons + 1) // 2,
        members=(cartons + 2) // 3,
        points_issued=10 * cartons,
        points_redeemed=cartons,
        cartons_reused=cartons // 4,
        co2e_kg=Decimal(cartons) * Decimal("0.865"),
    )


@pytest.fixture
def campaign(db):
    """A ten-day campaign, two cities, 30 stations with random daily rows inside the window (some
    days missing), and rows the day before and the day after the window, which must not count."""
    rng = random.Random(7)
    cities = [CityFactory(), CityFactory()]
    stations = [StationFactory(city=cities[n % 2]) for n in range(30)]
    rows = []
    for station in stations:
        for n in range(-1, 11):
            if rng.random() < 0.2:
                continue
            rows.append(daily_row(station, FIRST + timedelta(days=n), rng.randint(0, 400)))
    DailyStationTotal.objects.bulk_create(rows)
    return RecyclingCampaignFactory(name="2022", start_day=FIRST, end_day=LAST, target_cartons=1)


def ground_truth(first: date, last: date) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT station_id, MAX(city_id), SUM(cartons), SUM(dropoffs), SUM(points_issued), SUM(cartons_reused),"
            " SUM(co2e_kg), COUNT(*) FROM recycling_dailystationtotal WHERE day BETWEEN %s AND %s"
            " GROUP BY station_id ORDER BY station_id",
            [first, last],
        )
        rows = [
            (*(int(v) for v in row[:6]), Decimal(str(row[6])).quantize(Decimal("0.001")), int(row[7]))
            for row in cursor.fetchall()
        ]
    # The national rank: most cartons first, ties by station id.
    ranks = {row[0]: n for n, row in enumerate(sorted(rows, key=lambda row: (-row[2], row[0])), start=1)}
    return [(*row, ranks[row[0]]) for row in rows]


def rollup(campaign) -> list[tuple]:
    return list(CampaignStationTotal.objects.filter(campaign=campaign).order_by("station_id").values_list(*COLUMNS))


def test_the_rollup_equals_a_group_by_over_the_campaigns_daily_station_totals(campaign):
    """One row per station with a daily row in the window, summing exactly those days."""
    result = aggregate_campaign(campaign=campaign)

    truth = ground_truth(FIRST, LAST)
    assert rollup(campaign) == truth
    assert result.stations == len(truth) == 30
    assert len({row.computed_at for row in CampaignStationTotal.objects.all()}) == 1  # one refresh, one time


def test_running_the_rollup_again_gives_the_same_rows(campaign):
    """A re-run (a retried task, two recomputes in a row) overwrites: same rows, no duplicates,
    a later computed_at."""
    aggregate_campaign(campaign=campaign)
    first = rollup(campaign)
    first_time = CampaignStationTotal.objects.values_list("computed_at", flat=True).first()

    aggregate_campaign(campaign=campaign)

    assert rollup(campaign) == first
    assert CampaignStationTotal.objects.count() == len(first)
    assert CampaignStationTotal.objects.values_list("computed_at", flat=True).first() >= first_time


def test_a_refresh_follows_changed_and_removed_daily_rows(campaign):
    """After a recompute changed a station-day and removed every row of another station, the
    refresh gives the new figures and drops the station with nothing left."""
    aggregate_campaign(campaign=campaign)
    changed, gone = DailyStationTotal.objects.filter(day=date(2022, 11, 5)).order_by("station_id")[:2]
    DailyStationTotal.objects.filter(pk=changed.pk).update(cartons=10_000)
    DailyStationTotal.objects.filter(station_id=gone.station_id).delete()

    aggregate_campaign(campaign=campaign)

    assert rollup(campaign) == ground_truth(FIRST, LAST)
    assert not CampaignStationTotal.objects.filter(station_id=gone.station_id).exists()


def test_each_campaign_has_its_own_rows(campaign):
    """A campaign over part of the same days sums only its days, and refreshing one campaign
    leaves the other's rows alone."""
    short = RecyclingCampaignFactory(name="short", start_day=date(2022, 11, 3), end_day=date(2022, 11, 4))
    aggregate_campaign(campaign=campaign)
    aggregate_campaign(campaign=short)
    assert rollup(short) == ground_truth(date(2022, 11, 3), date(2022, 11, 4))
    assert rollup(campaign) == ground_truth(FIRST, LAST)


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cartons=st.lists(
        st.tuples(st.integers(0, 3), st.integers(-2, 6), st.integers(0, 10_000)),
        max_size=30,
        unique_by=lambda row: row[:2],
    )
)
def test_the_rollup_sums_any_daily_rows_of_the_window(cartons):
    """Whatever the daily rows (stations x days, in and around a five-day window), each station's
    row is the sum of its rows of the window, computed here in Python."""
    CampaignStationTotal.objects.all().delete()
    DailyStationTotal.objects.all().delete()
    city = CityFactory()
    stations = [StationFactory(city=city) for _ in range(4)]
    campaign = RecyclingCampaignFactory(start_day=FIRST, end_day=FIRST + timedelta(days=4))
    DailyStationTotal.objects.bulk_create(daily_row(stations[s], FIRST + timedelta(days=d), c) for s, d, c in cartons)

    aggregate_campaign(campaign=campaign)

    expected: dict[int, tuple[int, int]] = {}
    for s, d, c in cartons:
        if 0 <= d <= 4:
            total, days = expected.get(stations[s].pk, (0, 0))
            expected[stations[s].pk] = (total + c, days + 1)
    got = dict(
        (station, (total, days))
        for station, total, days in CampaignStationTotal.objects.values_list("station_id", "cartons", "days_active")
    )
    assert got == expected


def test_campaigns_containing_a_day_or_a_range(db):
    a = RecyclingCampaignFactory(name="a", start_day=date(2022, 11, 1), end_day=date(2022, 11, 10))
    b = RecyclingCampaignFactory(name="b", start_day=date(2022, 11, 10), end_day=date(2022, 11, 20))
    assert campaigns_containing(first=date(2022, 11, 10)) == [a, b]
    assert campaigns_containing(first=date(2022, 11, 11)) == [b]
    assert campaigns_containing(first=date(2022, 10, 1), last=date(2022, 11, 1)) == [a]
    assert campaigns_containing(first=date(2022, 12, 1)) == []


# Tasks ------------------------------------------------------------------------------------------


@pytest.fixture
def refreshes(monkeypatch) -> list[int]:
    """The campaigns whose refresh was enqueued (our own task's enqueue is observed; the
    on-commit machinery is Django's own)."""
    enqueued: list[int] = []

    class Recorder:
        @staticmethod
        def delay_on_commit(campaign_id: int) -> None:
            enqueued.append(campaign_id)

    monkeypatch.setattr(tasks, "aggregate_campaign_totals", Recorder)
    return enqueued


def test_a_days_recompute_enqueues_the_refresh_of_each_campaign_containing_it_once(db, refreshes):
    """aggregate_day_totals, once the day is written, enqueues one refresh per campaign whose
    window holds the day, and none for the others."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    staff, member = StationStaffFactory(), MemberFactory()
    record_dropoff(
        station=staff.station,
        member_code=member.code,
        cartons=4,
        staff=staff.user,
        idempotency_key="k",
        occurred_at=datetime(2022, 11, 5, 4, 0, tzinfo=UTC),
    )
    current = RecyclingCampaignFactory(name="2022", start_day=FIRST, end_day=LAST)
    overlapping = RecyclingCampaignFactory(name="early", start_day=date(2022, 10, 20), end_day=date(2022, 11, 5))
    RecyclingCampaignFactory(name="2021", start_day=date(2021, 11, 1), end_day=date(2021, 11, 10))

    result = tasks.aggregate_day_totals.apply(args=["2022-11-05"]).get()

    assert result == {"day": "2022-11-05", "stations": 1, "cities": 1}
    assert sorted(refreshes) == sorted([current.pk, overlapping.pk])
    refreshes.clear()
    tasks.aggregate_day_totals.apply(args=["2022-10-01"]).get()  # a day of no campaign
    assert refreshes == []


def test_the_refresh_is_sent_only_after_the_days_transaction_commits(db, django_capture_on_commit_callbacks):
    """Inside a transaction the refresh waits for the commit (a worker must not read the day's
    rows before they are committed)."""
    campaign = RecyclingCampaignFactory(start_day=FIRST, end_day=LAST)
    sent: list[int] = []
    original = tasks.aggregate_campaign_totals.delay
    try:
        tasks.aggregate_campaign_totals.delay = lambda campaign_id: sent.append(campaign_id)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            tasks.refresh_campaigns_after_commit(date(2022, 11, 3))
        assert sent == []
        assert len(callbacks) == 1
        callbacks[0]()
        assert sent == [campaign.pk]
    finally:
        tasks.aggregate_campaign_totals.delay = original


def test_the_campaign_task_runs_the_service(campaign):
    result = tasks.aggregate_campaign_totals.apply(args=[campaign.pk]).get()
    assert result == {"campaign": campaign.pk, "stations": 30}
    assert rollup(campaign) == ground_truth(FIRST, LAST)


def test_the_campaign_task_of_a_deleted_campaign_does_nothing(db):
    assert tasks.aggregate_campaign_totals.apply(args=[987654]).get() == {"campaign": 987654, "stations": 0}


def test_the_campaign_task_retries_like_the_day_tasks():
    task = tasks.aggregate_campaign_totals
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert task.autoretry_for == tasks.aggregate_day_totals.autoretry_for


# Commands --------------------------------------------------------------------------------------


def test_aggregate_totals_refreshes_the_campaigns_covering_the_range(db):
    """The command recomputes the days, then the station totals of each campaign sharing a day
    with the range."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    staff, member = StationStaffFactory(), MemberFactory()
    for n, day in enumerate([3, 4]):
        record_dropoff(
            station=staff.station,
            member_code=member.code,
            cartons=n + 2,
            staff=staff.user,
            idempotency_key=f"k{n}",
            occurred_at=datetime(2022, 11, day, 4, 0, tzinfo=UTC),
        )
    campaign = RecyclingCampaignFactory(start_day=FIRST, end_day=LAST)
    other = RecyclingCampaignFactory(name="2021", start_day=date(2021, 11, 1), end_day=date(2021, 11, 10))
    out = StringIO()

    call_command("aggregate_totals", "--from", "2022-11-03", "--to", "2022-11-04", stdout=out, verbosity=0)

    row = CampaignStationTotal.objects.get(campaign=campaign)
    assert (row.station_id, row.cartons, row.days_active) == (staff.station.pk, 5, 2)
    assert not CampaignStationTotal.objects.filter(campaign=other).exists()
    assert "Refreshed the station totals" in out.getvalue()
