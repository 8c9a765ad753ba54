"""The "now" page (today, the last 7 and 30 days, all time, from the daily city totals), the
overview's map of cities, the anomaly page's empty tables, and the chart scripts the pages load."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from dashboards.selectors import recent_totals
from recycling.days import shanghai_day
from recycling.models import DailyCityTotal
from recycling.services import record_dropoff
from recycling.tasks import aggregate_today_totals
from tests.factories import (
    CityFactory,
    EarningRuleFactory,
    EmissionFactorFactory,
    MemberFactory,
    StationStaffFactory,
)

pytestmark = pytest.mark.django_db

BUNDLE = "vendor/plotly.js-basic-dist-min/plotly-basic.min.js"
ZH_LOCALE = "vendor/plotly.js-locales/zh-cn.js"


def city_day(city, day, cartons: int) -> DailyCityTotal:
    return DailyCityTotal.objects.create(
        day=day,
        city=city,
        stations=1,
        cartons=cartons,
        dropoffs=cartons // 2 + 1,
        members=1,
        points_issued=cartons * 10,
        co2e_kg=Decimal("0.865") * cartons,
    )


def test_the_now_page_adds_up_today_the_last_7_and_30_days_and_all_time(ops_client):
    """Each period sums the national daily city totals of its Shanghai days, today included;
    a day 7 days back is outside "the last 7 days" and one 30 days back outside the 30."""
    today = timezone.localdate()
    hangzhou, beijing = CityFactory(), CityFactory()
    cartons = {0: 5, 1: 7, 6: 11, 7: 13, 29: 17, 30: 19, 400: 23}  # days ago -> cartons in Hangzhou
    for ago, n in cartons.items():
        city_day(hangzhou, today - timedelta(days=ago), n)
    city_day(beijing, today, 2)
    city_day(beijing, today + timedelta(days=1), 1000)  # a future day (a clock skew) counts nowhere

    response = ops_client.get(reverse("dashboards:now"))

    assert response.status_code == 200
    periods = {p.key: p.figures.cartons for p in response.context["recent"].periods}
    assert periods == {
        "today": 5 + 2,
        "7_days": 5 + 7 + 11 + 2,
        "30_days": 5 + 7 + 11 + 13 + 17 + 2,
        "all_time": sum(cartons.values()) + 2,
    }
    page = response.content.decode()
    assert 'data-testid="now-today">7<' in page
    daily = next(t for t in response.context["tables"] if t.slug == "now-daily")
    assert [row[0].value for row in daily.rows] == [today - timedelta(days=n) for n in range(29, -1, -1)]
    assert daily.rows[-1][1].value == 7
    assert "Compared day" not in daily.columns
    top = next(t for t in response.context["tables"] if t.slug == "now-top-cities")
    assert [(row[1].value, row[3].value) for row in top.rows] == [(hangzhou.code, 5 + 7 + 11), (beijing.code, 2)]
    download = ops_client.get(reverse("dashboards:csv", args=["now-periods"]))
    assert download.status_code == 200
    assert "Cartons,7,25,55," in download.content.decode()


def test_the_now_figures_come_from_one_query(django_assert_num_queries):
    CityFactory()
    with django_assert_num_queries(1):
        recent_totals(today=timezone.localdate())


def test_a_dropoff_logged_today_shows_on_the_now_page_after_the_aggregation_task(ops_client):
    """A drop-off at a desk counts on /ops/now/ once recycling.aggregate_today_totals (every five
    minutes under beat) has recomputed today, and not before: the page reads the daily totals."""
    EmissionFactorFactory()
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    desk, member = StationStaffFactory(), MemberFactory()
    record_dropoff(station=desk.station, member_code=member.code, cartons=4, staff=desk.user, idempotency_key="now-1")
    url = reverse("dashboards:now")

    before = ops_client.get(url)
    assert {p.key: p.figures.cartons for p in before.context["recent"].periods}["today"] == 0
    assert "have not been computed yet" in before.content.decode()

    aggregate_today_totals()

    after = ops_client.get(url)
    figures = {p.key: p.figures for p in after.context["recent"].periods}
    assert (figures["today"].cartons, figures["today"].dropoffs, figures["today"].points_issued) == (4, 1, 40)
    assert figures["all_time"].cartons == 4
    assert after.context["recent"].today == shanghai_day(timezone.now())
    assert "totals as of" in after.content.decode()


def test_the_map_puts_every_city_with_cartons_at_its_coordinates_linking_to_its_page(ops_client, national):
    for n, city in enumerate(national.cities):
        city.latitude, city.longitude = Decimal(f"{30 + n}.5"), Decimal(f"{110 + n}.25")
        city.save()
    national.cities[-1].latitude = None  # no coordinates: not on the map
    national.cities[-1].save()

    response = ops_client.get(reverse("dashboards:overview"), {"campaign": national.campaign.pk})

    drawn = response.context["map"]
    totals = {}
    for row in DailyCityTotal.objects.filter(day__range=(national.campaign.start_day, national.campaign.end_day)):
        totals[row.city_id] = totals.get(row.city_id, 0) + row.cartons
    placed = [c for c in national.cities if c.latitude is not None and c.pk in totals]
    assert len(drawn["lon"]) == len(placed) == len(national.cities) - 1
    by_lon = dict(zip(drawn["lon"], zip(drawn["lat"], drawn["cartons"], drawn["hrefs"], strict=True), strict=True))
    for city in placed:
        lat, cartons, href = by_lon[float(city.longitude)]
        assert (lat, cartons) == (float(city.latitude), totals[city.pk])
        assert href.startswith(reverse("dashboards:city", args=[city.code]) + "?campaign=")
    page = response.content.decode()
    assert 'id="map"' in page and 'id="map-data"' in page
    assert "No borders or outlines are drawn" in page


def test_a_day_without_flags_says_so(ops_client, national):
    """The planted flag is on 11 November; on the 3rd every table says there are no flags (not
    that there is nothing to show)."""
    response = ops_client.get(reverse("dashboards:anomalies"), {"campaign": national.campaign.pk, "day": "2022-11-03"})
    page = response.content.decode()
    assert page.count("No flags on these days") == 4
    assert "Nothing to show for these days" not in page
    flagged = ops_client.get(reverse("dashboards:anomalies"), {"campaign": national.campaign.pk, "day": "2022-11-11"})
    assert flagged.content.decode().count("No flags on these days") == 3  # the station-day table has its flag


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_chart_pages_load_the_basic_bundle_and_on_chinese_pages_its_locale(ops_client, national, language):
    """The pinned plotly.js basic bundle (scatter, bar, pie) from the app's static files, never
    the full plotly.min.js; the zh-CN locale only where the page is Chinese."""
    for url in (reverse("dashboards:overview"), reverse("dashboards:now")):
        page = ops_client.get(url, {"campaign": national.campaign.pk}, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert f"/static/{BUNDLE}" in page
        assert "plotly.min.js" not in page
        assert (f"/static/{ZH_LOCALE}" in page) == (language == "zh-hans")


def test_the_bundle_is_a_static_file_and_the_full_plotly_is_not():
    bundle = finders.find(BUNDLE)
    assert bundle is not None and finders.find(ZH_LOCALE) is not None
    assert finders.find("dashboards/plotly.min.js") is None
    with open(bundle, "rb") as script:
        assert len(script.read()) < 1_500_000  # under 1.5 MB even uncompressed (make run serves it so)
