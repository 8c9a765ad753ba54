"""The numbers on the pages and in their CSV files equal the daily totals, checked against an
independent SQL ground truth on generated data; filters work; queries per page are constant.
Station figures of the campaign's whole window come from the campaign station totals, those of
a custom range from the daily station totals: both equal the same ground truth."""

import csv
import io
import statistics
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from dashboards.tables import Table
from recycling.models import CampaignStationTotal, DailyCityTotal, DailyStationTotal, RecyclingCampaign
from recycling.totals import aggregate_campaign
from tests.dashboards.conftest import generate, ops_user, signed_in


def sql(query: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def table(response, slug):
    return next(t for t in response.context["tables"] if t.slug == slug)


def values(t) -> list[list]:
    return [[cell.value for cell in row] for row in t.rows]


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def query(national, **extra) -> dict:
    return {"campaign": national.campaign.pk, **extra}


def test_the_overview_equals_the_daily_totals(ops_client, national):
    response = ops_client.get(reverse("dashboards:overview"), query(national))
    assert response.status_code == 200
    truth = dict(
        sql(
            "SELECT day, SUM(cartons) FROM recycling_dailystationtotal WHERE day BETWEEN %s AND %s GROUP BY day",
            [date(2022, 11, 1), date(2022, 11, 12)],
        )
    )
    truth = {(d if isinstance(d, date) else date.fromisoformat(d)): int(c) for d, c in truth.items()}
    compared = {
        (d if isinstance(d, date) else date.fromisoformat(d)).day: int(c)
        for d, c in sql(
            "SELECT day, SUM(cartons) FROM recycling_dailycitytotal WHERE day BETWEEN %s AND %s GROUP BY day",
            [date(2021, 11, 1), date(2021, 11, 12)],
        )
    }
    daily = values(table(response, "overview-daily"))
    assert [row[0] for row in daily] == sorted(truth)
    assert [row[1] for row in daily] == [truth[d] for d in sorted(truth)]
    running = 0
    for row in daily:
        running += row[1]
        assert row[2] == running
        assert row[4] == compared[row[0].day]
    total = sum(truth.values())
    assert response.context["kpis"]["cartons"] == total
    assert response.context["kpis"]["share"] == round(100 * total / 50_000, 1)
    assert response.context["kpis"]["growth"] == round(100 * (total / sum(compared.values()) - 1), 1)
    summary = dict((row[0], row[1]) for row in values(table(response, "overview-summary")))
    ((points_redeemed, co2e, reused, members),) = sql(
        "SELECT SUM(points_redeemed), SUM(co2e_kg), SUM(cartons_reused), SUM(members) FROM recycling_dailycitytotal"
        " WHERE day BETWEEN %s AND %s",
        [date(2022, 11, 1), date(2022, 11, 12)],
    )
    assert summary["Points redeemed"] == points_redeemed
    assert summary["kg CO2e avoided"] == Decimal(str(co2e)).quantize(Decimal("0.001"))
    assert summary["Cartons reused"] == reused
    assert summary["Member-days by city"] == members
    assert summary["Reuse rate (%)"] == round(100 * int(reused) / total, 1)


def test_top_cities_and_stations_and_the_median_match_sql(ops_client, national):
    response = ops_client.get(reverse("dashboards:overview"), query(national))
    window = [date(2022, 11, 1), date(2022, 11, 12)]
    cities = sql(
        "SELECT c.code, SUM(t.cartons) FROM recycling_dailycitytotal t JOIN stations_city c ON c.id = t.city_id"
        " WHERE t.day BETWEEN %s AND %s GROUP BY c.code ORDER BY 2 DESC, 1 LIMIT 10",
        window,
    )
    assert [(r[1], r[3]) for r in values(table(response, "overview-top-cities"))] == [(c, int(n)) for c, n in cities]
    stations = sql(
        "SELECT s.code, SUM(t.cartons) FROM recycling_dailystationtotal t"
        " JOIN stations_station s ON s.id = t.station_id"
        " WHERE t.day BETWEEN %s AND %s GROUP BY s.id, s.code ORDER BY 2 DESC, s.id LIMIT 10",
        window,
    )
    assert [(r[1], r[4]) for r in values(table(response, "overview-top-stations"))] == [
        (c, int(n)) for c, n in stations
    ]
    per_station = [
        int(n)
        for (n,) in sql(
            "SELECT SUM(cartons) FROM recycling_dailystationtotal WHERE day BETWEEN %s AND %s GROUP BY station_id",
            window,
        )
    ]
    assert response.context["national"].median == statistics.median(per_station)
    assert response.context["national"].stations == len(per_station)


@pytest.mark.parametrize("slug", ["overview-summary", "overview-daily", "overview-top-cities", "overview-top-stations"])
def test_each_overview_csv_holds_the_numbers_of_its_table(ops_client, national, slug):
    page = ops_client.get(reverse("dashboards:overview"), query(national))
    download = ops_client.get(reverse("dashboards:csv", args=[slug]), query(national))
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    rows = csv_rows(download)
    t = table(page, slug)
    assert rows[0] == [str(c) for c in t.columns]
    assert rows[1:] == [[str(cell.csv) for cell in row] for row in t.rows]


def test_the_city_page_ranks_its_stations_against_the_national_median(ops_client, national):
    city = national.cities[0]
    response = ops_client.get(reverse("dashboards:city", args=[city.code]), query(national))
    assert response.status_code == 200
    window = [date(2022, 11, 1), date(2022, 11, 12)]
    truth = sql(
        "SELECT s.code, SUM(t.cartons), COUNT(*) FROM recycling_dailystationtotal t"
        " JOIN stations_station s ON s.id = t.station_id"
        " WHERE t.day BETWEEN %s AND %s AND t.city_id = %s GROUP BY s.id, s.code ORDER BY 2 DESC, s.id",
        [*window, city.pk],
    )
    median = statistics.median(
        int(n)
        for (n,) in sql(
            "SELECT SUM(cartons) FROM recycling_dailystationtotal WHERE day BETWEEN %s AND %s GROUP BY station_id",
            window,
        )
    )
    ranked = values(table(response, "city-stations"))
    assert [(r[1], r[4], r[5]) for r in ranked] == [(c, int(n), d) for c, n, d in truth][:50]
    assert [r[7] for r in ranked] == [round(100 * int(n) / median, 1) for _c, n, _d in truth][:50]
    daily = values(table(response, "city-daily"))
    city_truth = dict(
        sql(
            "SELECT day, cartons FROM recycling_dailycitytotal WHERE city_id = %s AND day BETWEEN %s AND %s",
            [city.pk, *window],
        )
    )
    city_truth = {(d if isinstance(d, date) else date.fromisoformat(d)): int(c) for d, c in city_truth.items()}
    assert {row[0]: row[1] for row in daily if row[1]} == city_truth
    # The CSV holds every station of the city, with the numbers of the page.
    download = ops_client.get(reverse("dashboards:csv", args=["city-stations"]), query(national, city=city.code))
    rows = csv_rows(download)[1:]
    assert len(rows) == len(truth)
    assert [r[1] for r in rows] == [c for c, _n, _d in truth]
    assert rows[: len(ranked)] == [[str(cell.csv) for cell in row] for row in table(response, "city-stations").rows]


def test_a_date_range_narrows_every_figure(ops_client, national):
    response = ops_client.get(reverse("dashboards:overview"), query(national, start="2022-11-03", end="2022-11-05"))
    daily = values(table(response, "overview-daily"))
    assert [row[0] for row in daily] == [date(2022, 11, 3), date(2022, 11, 4), date(2022, 11, 5)]
    ((total,),) = sql(
        "SELECT SUM(cartons) FROM recycling_dailycitytotal WHERE day BETWEEN %s AND %s",
        [date(2022, 11, 3), date(2022, 11, 5)],
    )
    assert response.context["kpis"]["cartons"] == total
    # Compared by day number: 3 to 5 November 2021.
    assert [row[3] for row in daily] == [date(2021, 11, 3), date(2021, 11, 4), date(2021, 11, 5)]


def test_the_campaign_filter_and_the_default_latest_campaign(ops_client, national):
    default = ops_client.get(reverse("dashboards:overview"))
    assert default.context["window"].campaign == national.campaign
    earlier = ops_client.get(reverse("dashboards:overview"), {"campaign": national.compared.pk})
    assert earlier.context["window"].campaign == national.compared
    assert values(table(earlier, "overview-daily"))[0][0] == date(2021, 11, 1)
    assert earlier.context["kpis"]["growth"] is None  # 2021 is compared with nothing


def test_choosing_a_city_opens_its_page_with_the_same_filters(ops_client, national):
    city = national.cities[1]
    response = ops_client.get(reverse("dashboards:overview"), query(national, city=city.code, end="2022-11-04"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("dashboards:city", args=[city.code]))
    assert "end=2022-11-04" in response["Location"]


def test_a_reversed_range_is_refused_politely(ops_client, national):
    response = ops_client.get(reverse("dashboards:overview"), query(national, start="2022-11-05", end="2022-11-02"))
    assert response.status_code == 200
    assert "must not be after" in response.content.decode()


def test_no_campaign_yet_shows_a_hint(ops_client):
    response = ops_client.get(reverse("dashboards:overview"))
    assert response.status_code == 200
    assert "There is no recycling campaign yet" in response.content.decode()


def _queries(client, url, params) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params).status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("page", ["overview", "city", "anomalies"])
@pytest.mark.parametrize("days", [{}, {"start": "2022-11-02", "end": "2022-11-03"}], ids=["campaign", "range"])
def test_queries_per_page_do_not_grow_with_the_data(db, page, days):
    """12 stations or 150, 3 cities or 8: the same number of queries, for the campaign's whole
    window (station figures from the campaign station totals) and for a custom range (live)."""
    small = generate(cities=3, stations=12, days=4, seed=1)
    client = signed_in(ops_user())
    city = small.cities[0]
    urls = {
        "overview": reverse("dashboards:overview"),
        "city": reverse("dashboards:city", args=[city.code]),
        "anomalies": reverse("dashboards:anomalies"),
    }
    before = _queries(client, urls[page], days)
    DailyStationTotal.objects.all().delete()
    DailyCityTotal.objects.all().delete()
    RecyclingCampaign.objects.filter(compared_with__isnull=False).delete()
    RecyclingCampaign.objects.all().delete()
    generate(cities=8, stations=150, days=4, seed=2, first_station=1000)
    after = _queries(client, urls[page], days)
    assert before == after


# Where the station figures come from -------------------------------------------------------


def station_truth(first: date, last: date, city=None) -> list[tuple[str, int, int]]:
    """(station code, cartons, days with a row) over the days, ranked, from the daily station totals."""
    city_filter = "AND t.city_id = %s" if city else ""
    return [
        (code, int(cartons), int(days))
        for code, cartons, days in sql(
            "SELECT s.code, SUM(t.cartons), COUNT(*) FROM recycling_dailystationtotal t"
            " JOIN stations_station s ON s.id = t.station_id"
            f" WHERE t.day BETWEEN %s AND %s {city_filter} GROUP BY s.id, s.code ORDER BY 2 DESC, s.id",
            [first, last, *([city.pk] if city else [])],
        )
    ]


def median_truth(first: date, last: date) -> float:
    return statistics.median(n for _code, n, _days in station_truth(first, last))


def page_queries(client, url, params) -> list[str]:
    """The SQL of the queries the page runs, in order."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params).status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def test_the_campaigns_window_reads_the_campaign_station_totals_not_the_station_days(ops_client, national):
    """The default window is the whole campaign: the overview reads no daily station total, and
    the city page reads them only for its anomaly flags; both say when the station totals were
    computed."""
    overview = page_queries(ops_client, reverse("dashboards:overview"), query(national))
    assert any("recycling_campaignstationtotal" in q for q in overview)
    assert not any("recycling_dailystationtotal" in q for q in overview)
    city = national.cities[0]
    page = page_queries(ops_client, reverse("dashboards:city", args=[city.code]), query(national))
    station_days = [q for q in page if "recycling_dailystationtotal" in q]
    assert len(station_days) == 2  # the anomaly flags' two queries
    assert any("recycling_campaignstationtotal" in q and "city_id" in q for q in page)

    response = ops_client.get(reverse("dashboards:overview"), query(national))
    as_of = timezone.localtime(CampaignStationTotal.objects.filter(campaign=national.campaign).first().computed_at)
    note = table(response, "overview-top-stations").note
    assert note.startswith(f"Station figures as of {as_of:%Y-%m-%d %H:%M}")
    assert "being refreshed" not in note
    assert f"as of {as_of:%Y-%m-%d %H:%M}" in response.content.decode()


def test_a_custom_range_sums_the_station_figures_live(ops_client, national):
    """Top stations, the national median and a city's ranking over a few days equal the ground
    truth of those days (the campaign station totals cannot give them), and the page says so."""
    first, last = date(2022, 11, 3), date(2022, 11, 5)
    days = query(national, start="2022-11-03", end="2022-11-05")
    response = ops_client.get(reverse("dashboards:overview"), days)
    truth = station_truth(first, last)
    assert [(r[1], r[4], r[5]) for r in values(table(response, "overview-top-stations"))] == truth[:10]
    assert response.context["national"].median == median_truth(first, last)
    assert response.context["national"].stations == len(truth)
    assert "custom date range" in table(response, "overview-top-stations").note

    city = national.cities[0]
    page = ops_client.get(reverse("dashboards:city", args=[city.code]), days)
    ranked = values(table(page, "city-stations"))
    city_truth = station_truth(first, last, city)
    assert [(r[1], r[4], r[5]) for r in ranked] == city_truth[:50]
    assert [r[7] for r in ranked] == [round(100 * n / median_truth(first, last), 1) for _c, n, _d in city_truth][:50]
    assert page.context["station_count"] == len(city_truth)
    assert "custom date range" in table(page, "city-stations").note


def test_the_whole_window_and_the_live_sums_agree(ops_client, national):
    """Without campaign station totals (none computed yet) the pages sum the same window live and
    show the same numbers; computing them changes nothing on the page but the note."""
    city = national.cities[0]
    url = reverse("dashboards:city", args=[city.code])
    from_totals = ops_client.get(reverse("dashboards:overview"), query(national))
    city_from_totals = ops_client.get(url, query(national))
    CampaignStationTotal.objects.all().delete()
    live = ops_client.get(reverse("dashboards:overview"), query(national))
    city_live = ops_client.get(url, query(national))
    assert live.context["national"].live and not from_totals.context["national"].live
    assert "not been computed yet" in table(live, "overview-top-stations").note
    for slug in ("overview-top-stations", "overview-summary"):
        assert values(table(live, slug)) == values(table(from_totals, slug))
    assert values(table(city_live, "city-stations")) == values(table(city_from_totals, "city-stations"))
    assert city_live.context["station_count"] == city_from_totals.context["station_count"]


def test_the_page_says_when_the_station_totals_are_behind_the_daily_totals(ops_client, national):
    """A day recomputed after the last refresh (the refresh is queued behind it): the note says
    the station totals are being refreshed, and no longer once they are."""
    later = timezone.now() + timedelta(minutes=1)
    DailyCityTotal.objects.filter(day=date(2022, 11, 4)).update(computed_at=later)
    response = ops_client.get(reverse("dashboards:overview"), query(national))
    assert "being refreshed" in table(response, "overview-top-stations").note
    CampaignStationTotal.objects.update(computed_at=later + timedelta(seconds=1))
    response = ops_client.get(reverse("dashboards:overview"), query(national))
    assert "being refreshed" not in table(response, "overview-top-stations").note


def test_a_refresh_brings_a_changed_station_day_to_the_pages(ops_client, national):
    """A station-day recomputed to far more cartons tops the overview once its campaign's station
    totals are refreshed, as the pipeline does after the day's recompute."""
    row = DailyStationTotal.objects.filter(day=date(2022, 11, 6)).order_by("station_id").last()
    DailyStationTotal.objects.filter(pk=row.pk).update(cartons=1_000_000)
    aggregate_campaign(campaign=national.campaign)
    response = ops_client.get(reverse("dashboards:overview"), query(national))
    top = values(table(response, "overview-top-stations"))[0]
    assert top[1] == station_truth(date(2022, 11, 1), date(2022, 11, 12))[0][0]
    assert top[4] > 1_000_000


def test_the_city_page_lists_its_first_flags_and_the_csv_all(ops_client, national, monkeypatch):
    """A city with more flagged station-days than the page lists shows the first ones and says
    how many there are; the summary counts them all and the CSV file holds them all."""
    from dashboards import views

    monkeypatch.setattr(views, "FLAGS_ON_CITY_PAGE", 0)
    city = next(
        c
        for c in national.cities
        if c.pk == DailyStationTotal.objects.get(station_id=national.planted[0], day=national.planted[1]).city_id
    )
    response = ops_client.get(reverse("dashboards:city", args=[city.code]), query(national))
    flags = table(response, "city-anomalies")
    assert flags.rows == []
    assert flags.note.startswith("The first 0 of 1 flagged station-days")
    summary = dict((row[0], row[1]) for row in values(table(response, "city-summary")))
    assert summary["Flagged station-days"] == 1
    download = ops_client.get(reverse("dashboards:csv", args=["city-anomalies"]), query(national, city=city.code))
    assert len(csv_rows(download)) == 2  # the header and the planted station-day


def test_a_csv_download_is_audited(ops_client, national):
    download = ops_client.get(reverse("dashboards:csv", args=["overview-daily"]), query(national))
    assert download.status_code == 200
    [event] = AuditEvent.objects.filter(action=AuditEvent.Action.CSV_EXPORTED)
    assert event.user.username == "ops-1" and event.details["table"] == "overview-daily"
    assert event.details["rows"] == len(csv_rows(download)) - 1


def test_csv_cells_that_start_like_a_formula_are_neutralised():
    """Every table's CSV goes through core.csv_cells: a text cell cannot become a formula, a
    negative number stays a number."""
    table = Table(slug="t", caption="t", columns=["=name", "change"])
    table.add('=HYPERLINK("http://evil")', -12.5)
    table.add("@SUM(A1)", -3)
    assert csv_rows(table.csv_response("t.csv")) == [
        ["'=name", "change"],
        ['\'=HYPERLINK("http://evil")', "-12.5"],
        ["'@SUM(A1)", "-3"],
    ]
