"""`manage.py aggregate_totals` and the campaign selectors that read the totals it writes."""

from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from recycling.models import DailyCityTotal, DailyStationTotal, RecyclingCampaign
from recycling.selectors import CampaignDay, campaign_cartons, campaign_days
from recycling.services import record_dropoff
from tests.factories import CityFactory, EarningRuleFactory, MemberFactory, StationStaffFactory

# A history on fixed dates, recorded through record_dropoff().
pytestmark = pytest.mark.usefixtures("any_past_time")


def aggregate(*args: str) -> str:
    out = StringIO()
    call_command("aggregate_totals", *args, stdout=out, verbosity=0)
    return out.getvalue()


@pytest.fixture
def three_days(db):
    """Drop-offs at one station on 10, 11 and 12 November 2022 (Shanghai), 1, 2 and 3 cartons."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    staff, member = StationStaffFactory(), MemberFactory()
    for n in range(3):
        record_dropoff(
            station=staff.station,
            member_code=member.code,
            cartons=n + 1,
            staff=staff.user,
            idempotency_key=f"k{n}",
            occurred_at=datetime(2022, 11, 10 + n, 2, 0, tzinfo=UTC),  # 10:00 in Shanghai
        )
    return staff.station


def test_the_command_writes_the_rows_of_every_day_in_the_range(three_days):
    """--from 2022-11-10 --to 2022-11-12 writes one station and one city row per day."""
    output = aggregate("--from", "2022-11-10", "--to", "2022-11-12")

    assert "Aggregated 3 day(s), 2022-11-10 to 2022-11-12: 3 station rows." in output
    assert list(DailyStationTotal.objects.order_by("day").values_list("day", "station_id", "cartons")) == [
        (date(2022, 11, 10), three_days.pk, 1),
        (date(2022, 11, 11), three_days.pk, 2),
        (date(2022, 11, 12), three_days.pk, 3),
    ]
    assert list(DailyCityTotal.objects.order_by("day").values_list("day", "city_id", "cartons", "points_issued")) == [
        (date(2022, 11, 10), three_days.city_id, 1, 10),
        (date(2022, 11, 11), three_days.city_id, 2, 20),
        (date(2022, 11, 12), three_days.city_id, 3, 30),
    ]


def test_the_command_is_safe_to_rerun_and_defaults_to_one_day(three_days):
    """Running a range again writes no duplicates; without --to only the first day is computed."""
    aggregate("--from", "2022-11-10", "--to", "2022-11-12")
    aggregate("--from", "2022-11-10", "--to", "2022-11-12")
    assert DailyStationTotal.objects.count() == 3

    DailyStationTotal.objects.all().delete()
    DailyCityTotal.objects.all().delete()
    aggregate("--from", "2022-11-11")
    assert list(DailyStationTotal.objects.values_list("day", "cartons")) == [(date(2022, 11, 11), 2)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2022-11-31"], "is not a date"),
        (["--from", "yesterday"], "is not a date"),
        (["--from", "2022-11-10", "--to", "2022/11/12"], "is not a date"),
        (["--from", "2022-11-12", "--to", "2022-11-10"], "--to is before --from"),
        (["--to", "2022-11-10"], "--from"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_written(three_days, args, message):
    """Dates that are not YYYY-MM-DD, a --to before --from and a missing --from are refused."""
    with pytest.raises(CommandError, match=message):
        aggregate(*args)
    assert not DailyStationTotal.objects.exists()


def test_future_days_are_refused(three_days):
    """A range ending after today (Shanghai) is refused; one ending today is accepted."""
    today = timezone.localdate()
    tomorrow = (today + timedelta(days=1)).isoformat()
    with pytest.raises(CommandError, match="in the future"):
        aggregate("--from", today.isoformat(), "--to", tomorrow)
    with pytest.raises(CommandError, match="in the future"):
        aggregate("--from", tomorrow)
    assert not DailyStationTotal.objects.exists()
    aggregate("--from", today.isoformat())


# --- Campaign selectors -------------------------------------------------------------------


@pytest.fixture
def campaigns(db):
    """Double 11 2023 (10-12 Nov, three days) compared with Double 11 2022 (10-11 Nov, two days),
    with city totals in two cities, and totals just outside both windows that must not count."""
    hangzhou, ningbo = CityFactory(), CityFactory()
    totals = {
        (date(2022, 11, 9), hangzhou): 1000,  # the day before the 2022 window
        (date(2022, 11, 10), hangzhou): 10,
        (date(2022, 11, 10), ningbo): 5,
        (date(2022, 11, 11), hangzhou): 30,
        (date(2022, 11, 12), hangzhou): 2000,  # the day after the 2022 window
        (date(2023, 11, 10), hangzhou): 20,
        (date(2023, 11, 10), ningbo): 1,
        # 11 November 2023 has no totals at all: it counts 0.
        (date(2023, 11, 12), ningbo): 40,
        (date(2023, 11, 13), ningbo): 3000,  # the day after the 2023 window
    }
    for (day, city), cartons in totals.items():
        DailyCityTotal.objects.create(day=day, city=city, cartons=cartons, dropoffs=1, stations=1)
    earlier = RecyclingCampaign.objects.create(
        name="Double 11 2022", start_day=date(2022, 11, 10), end_day=date(2022, 11, 11), target_cartons=40
    )
    current = RecyclingCampaign.objects.create(
        name="Double 11 2023",
        start_day=date(2023, 11, 10),
        end_day=date(2023, 11, 12),
        target_cartons=100,
        compared_with=earlier,
    )
    return current, earlier


def test_campaign_days_compare_each_day_with_the_same_day_number_of_the_earlier_campaign(campaigns):
    """Day 1 is compared with day 1 and day 2 with day 2, nationally (all cities summed), with
    running totals; a day without totals counts 0, and a day beyond the earlier campaign's
    length has nothing to compare with."""
    current, _earlier = campaigns
    assert campaign_days(campaign=current) == [
        CampaignDay(date(2023, 11, 10), cartons=21, cumulative=21, compared_cartons=15, compared_cumulative=15),
        CampaignDay(date(2023, 11, 11), cartons=0, cumulative=21, compared_cartons=30, compared_cumulative=45),
        CampaignDay(date(2023, 11, 12), cartons=40, cumulative=61, compared_cartons=None, compared_cumulative=None),
    ]


def test_campaign_days_without_a_compared_campaign(campaigns):
    """A campaign compared with nothing lists its own days only."""
    _current, earlier = campaigns
    assert campaign_days(campaign=earlier) == [
        CampaignDay(date(2022, 11, 10), cartons=15, cumulative=15, compared_cartons=None, compared_cumulative=None),
        CampaignDay(date(2022, 11, 11), cartons=30, cumulative=45, compared_cartons=None, compared_cumulative=None),
    ]


def test_campaign_cartons_counts_the_window_up_to_a_day(campaigns):
    """Cartons in the window (never outside it), up to and including `through` when given."""
    current, earlier = campaigns
    assert campaign_cartons(campaign=current) == 61
    assert campaign_cartons(campaign=earlier) == 45
    assert campaign_cartons(campaign=current, through=date(2023, 11, 11)) == 21
    assert campaign_cartons(campaign=current, through=date(2023, 11, 30)) == 61
    assert campaign_cartons(campaign=current, through=date(2023, 11, 9)) == 0
