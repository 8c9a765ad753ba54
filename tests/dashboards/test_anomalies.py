"""The anomaly rule flags the planted station-day and no ordinary one, and the SQL applies the
same rule as the plain-Python statement of it."""

from collections import defaultdict
from datetime import date

from django.urls import reverse

from dashboards.anomalies import flag_station_days, is_anomalous
from dashboards.selectors import Window
from recycling.models import DailyStationTotal


def window(national) -> Window:
    return Window(campaign=national.campaign, start=date(2022, 11, 1), end=date(2022, 11, 12))


def test_the_planted_station_day_is_the_only_flag(national):
    city = next(
        c
        for c in national.cities
        if c.pk == DailyStationTotal.objects.get(station_id=national.planted[0], day=national.planted[1]).city_id
    )
    flags = flag_station_days(window=window(national), city=city)
    assert [(f.station_id, f.day) for f in flags] == [national.planted]
    national_day = flag_station_days(window=window(national), day=national.planted[1])
    assert [(f.station_id, f.day) for f in national_day] == [national.planted]


def test_the_sql_applies_the_python_rule_to_every_station_day(national):
    rows = DailyStationTotal.objects.filter(day__year=2022).values_list("city_id", "day", "station_id", "cartons")
    by_city_day = defaultdict(list)
    for city_id, day, _station, cartons in rows:
        by_city_day[(city_id, day)].append(cartons)
    expected = sorted(
        (day, station) for city_id, day, station, cartons in rows if is_anomalous(cartons, by_city_day[(city_id, day)])
    )
    found = sorted(
        (f.day, f.station_id) for city in national.cities for f in flag_station_days(window=window(national), city=city)
    )
    assert found == expected == [(national.planted[1], national.planted[0])]


def test_ordinary_busy_days_raise_no_flag(db):
    """Without a planted station, realistic random data (fixed seed) flags nothing."""
    from tests.dashboards.conftest import generate

    data = generate(cities=5, stations=120, days=12, seed=7, plant=False)
    w = Window(campaign=data.campaign, start=date(2022, 11, 1), end=date(2022, 11, 12))
    assert [f for city in data.cities for f in flag_station_days(window=w, city=city)] == []


def test_a_flag_links_to_the_stations_dropoffs_of_that_day_in_the_admin(ops_client, national, people):
    station_id, day = national.planted
    city_id = DailyStationTotal.objects.get(station_id=station_id, day=day).city_id
    code = next(c.code for c in national.cities if c.pk == city_id)
    response = ops_client.get(reverse("dashboards:city", args=[code]), {"campaign": national.campaign.pk})
    flags = next(t for t in response.context["tables"] if t.slug == "city-anomalies")
    (row,) = flags.rows
    href = row[-1].href
    assert href.startswith(reverse("admin:recycling_dropoff_changelist") + "?")
    assert f"station={station_id}" in href and "occurred_at__day=11" in href and "occurred_at__month=11" in href
    # The admin accepts the filters (a superuser sees the changelist, not an "invalid lookup" redirect).
    from tests.dashboards.conftest import signed_in

    admin = signed_in(people.superuser).get(href)
    assert admin.status_code == 200


def test_too_few_stations_flag_nothing():
    assert not is_anomalous(1000, [1, 1, 2, 1000])
    assert is_anomalous(1000, [3, 4, 5, 3, 4, 6, 5, 4, 1000])
    # The IQR is floored at a doubling: among stations with 1 carton each, the fence is 8 cartons.
    assert not is_anomalous(8, [1] * 8 + [8])
    assert is_anomalous(9, [1] * 8 + [9])
