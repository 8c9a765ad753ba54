"""load_demo_data (what `make run` loads into an empty database): campaigns whose targets are at
the simulation's scale, the planted anomalies that the ops anomaly page flags on its default
day, and today's totals for the "now" page."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from dashboards import anomalies
from dashboards.selectors import Window, recent_totals
from ledger.audit import ledger_violations
from recycling.models import DailyStationTotal, RecyclingCampaign
from simulator.generate import PLANTED_CITY_STATIONS

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    call_command("load_demo_data", stdout=StringIO())
    campaign = RecyclingCampaign.objects.get(start_day__year=2022)
    return Window(campaign=campaign, start=campaign.start_day, end=campaign.end_day, compared=campaign.compared_with)


def test_the_demo_campaigns_targets_are_at_the_demo_scale(demo):
    """1/1000 of the published 6,000,000 and 4,000,000: the demo reaches about 100% of its target."""
    assert demo.campaign.target_cartons == 6_000
    assert demo.compared.target_cartons == 4_000
    assert demo.campaign.target_cartons == sum(
        DailyStationTotal.objects.filter(day__range=(demo.start, demo.end)).values_list("cartons", flat=True)
    )


def test_the_anomaly_page_has_a_flag_of_every_kind_on_its_default_day(demo):
    """The page opens on the campaign's last day, every city: a station-day and its staff login
    far above their city, a member at the cap at three stations, a late record; another
    station-day the day before, in another city."""
    last_day = demo.end
    station_days = anomalies.flag_station_days(window=demo, day=last_day)
    assert [flag.station_code[-5:] for flag in station_days] == ["00002"]
    assert station_days[0].fence.stations >= 8
    assert len(anomalies.flag_staff_days(window=demo, day=last_day)) == 1
    (capped,) = anomalies.flag_cap_at_stations(window=demo, day=last_day)
    assert capped.stations == 3 and capped.earning_cartons == capped.cap
    assert len(anomalies.flag_late_records(window=demo, day=last_day)) == 1
    day_before = anomalies.flag_station_days(window=demo, day=last_day.replace(day=last_day.day - 1))
    assert len(day_before) == 1 and day_before[0].city_id != station_days[0].city_id
    city_stations = DailyStationTotal.objects.filter(city_id=station_days[0].city_id).values("station_id").distinct()
    assert city_stations.count() == PLANTED_CITY_STATIONS
    assert ledger_violations() == []


def test_the_demo_drop_offs_of_today_are_in_the_now_figures(demo):
    today = recent_totals(today=timezone.localdate()).periods[0]
    assert today.figures.cartons == 5  # the two demo drop-offs of 3 and 2 cartons
