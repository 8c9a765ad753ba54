"""Benchmark: the ops dashboards (national overview, a city page) at national scale.

    python bench/bench_dashboards.py          (or `make bench`)

Needs PostgreSQL: BENCH_DASH_DATABASE_URL, by default postgres://postgres@127.0.0.1:5432/greenbox_bench_dash,
which is created and migrated if missing. The first run writes, with set-based SQL
(INSERT ... SELECT generate_series), the daily totals of two campaigns: 2022 (1-20 November:
315 cities, 130,000 stations, a row for every station and day, about 6 million cartons, nearly 4
million of them by the 11th) and 2021 (the same window, about 4 million cartons over 100,000 of
the stations), the city rows summed from the station rows, and the two RecyclingCampaign rows
(2022 compared with 2021). The dashboards read only those tables, so no drop-off is written.
Later runs find the data and skip straight to the timings.

Every run then computes both campaigns' station totals with recycling.totals.aggregate_campaign,
as the totals pipeline does after a recompute, outside the timings (it prints how long a refresh
takes: the pipeline runs one after each five-minute recompute of today).

It then renders, through the Django test client signed in as an ops user, the overview of the
2022 campaign and the page of its largest city for the campaign's whole window (the default,
read from the campaign station totals): server time best of 5, after a first view right after a
refresh of the station totals (printed as "first view after a station totals refresh", once
the process has rendered each page once); and in the same run re-runs the bare SQL each
page ran (captured with CaptureQueriesContext, replayed with cursor.execute, each page's queries
summed, best of 5). For information it also times both pages for a custom range (1-19 November),
whose station figures are summed live from the daily station totals. It prints a table (figure,
reference, ratio, target, pass); the last line is machine-readable:
    RESULT dash_overview_ms=... dash_city_ms=...
The exit status is 1 if a page of the whole window misses the 150 ms target.
"""

import os
import sys
import time
from pathlib import Path

from database import ensure_database, setup_django, step  # bench/database.py
from report import figure  # bench/report.py, beside this script

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
# Its own database, whatever DATABASE_URL says (`make bench` may export one for the other benchmarks).
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DASH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/greenbox_bench_dash"
)
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

CITIES = 315
STATIONS = 130_000
STATIONS_2021 = 100_000
DAYS = 20
CARTONS_2022 = 6_000_000
CARTONS_2022_BY_11TH = 4_000_000
CARTONS_2021 = 4_000_000
TARGET_MS = 150.0
RUNS = 5
PREFIX = "D"  # the bench's cities are D + three letters, its stations DXXX-000001...
OPS_USER = "bench-ops"


# A station's daily cartons: its size (log-normal across stations, mean 1, fixed for the station)
# times the day's national average per station (a ramp to the 11.11 peak, then a tail) times a
# day-to-day wobble (log-normal, mean 1), at least one carton. Box-Muller turns random() into
# normal draws; setseed makes the data the same on every machine.
_NORMAL = "sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())"
_STATION_ROWS = """
INSERT INTO recycling_dailystationtotal
    (day, station_id, city_id, cartons, dropoffs, members, points_issued, points_redeemed, points_donated,
     cartons_reused, co2e_kg, computed_at)
SELECT x.day, x.station_id, x.city_id, x.cartons,
       ceil(x.cartons / 2.6)::int + 1, ceil(x.cartons / 2.8)::int + 1, x.cartons * 10,
       floor(x.cartons * 10 * 0.3 * random())::int, floor(x.cartons * 10 * 0.1 * random())::int,
       floor(x.cartons * 0.2 * random())::int, round(x.cartons * 0.264, 3), now()
FROM (
    SELECT d.day, s.id AS station_id, s.city_id,
           GREATEST(1, round(s.size * d.per_station * exp(0.35 * ({normal}) - 0.06125)))::int AS cartons
    FROM bench_station s
    CROSS JOIN bench_day d
    WHERE s.n < %(stations)s
) x
"""
_CITY_ROWS = """
INSERT INTO recycling_dailycitytotal
    (day, city_id, stations, cartons, dropoffs, members, points_issued, points_redeemed, points_donated,
     cartons_reused, co2e_kg, computed_at)
SELECT day, city_id, COUNT(*), SUM(cartons), SUM(dropoffs), floor(SUM(members) * 0.93)::int, SUM(points_issued),
       SUM(points_redeemed), SUM(points_donated), SUM(cartons_reused), SUM(co2e_kg), now()
FROM recycling_dailystationtotal
WHERE day BETWEEN %(first)s AND %(last)s
GROUP BY day, city_id
"""


def _day_weights() -> list[float]:
    """Relative cartons of campaign days 1..20: rising to the 11th, then falling off."""
    return [1.0 + 0.12 * n for n in range(10)] + [3.2] + [1.1 - 0.04 * n for n in range(9)]


def generate() -> None:
    """Write both campaigns' daily totals with set-based SQL, unless an earlier run already did."""
    from datetime import date, timedelta

    from django.db import connection, transaction

    from recycling.models import RecyclingCampaign
    from stations.models import Station

    if (
        Station.objects.filter(code__regex=rf"^{PREFIX}[A-J]{{3}}-").count() == STATIONS
        and RecyclingCampaign.objects.filter(name__startswith="Bench ").count() == 2
    ):
        print("Bench data found; skipping generation.")
        return
    print("Generating two campaigns of daily totals (set-based SQL)...")
    weights = _day_weights()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.1111)")
        step(
            "cities",
            cursor,
            "INSERT INTO stations_city (code, name, name_zh, province)"
            " SELECT %(prefix)s || translate(lpad(n::text, 3, '0'), '0123456789', 'ABCDEFGHIJ'),"
            "        'Bench city ' || n, '测试城市' || n, 'Bench' FROM generate_series(0, %(cities)s - 1) n",
            {"prefix": PREFIX, "cities": CITIES},
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_city ON COMMIT DROP AS"
            " SELECT row_number() OVER (ORDER BY code) - 1 AS n, id, code FROM stations_city"
            " WHERE code ~ ('^' || %s || '[A-J]{3}$')",
            [PREFIX],
        )
        # Cities differ in size: a city's share of the stations falls with its rank (the first
        # city has about 6,000 stations, the last a few dozen).
        step(
            "stations",
            cursor,
            "INSERT INTO stations_station (code, name, city_id, address, opening_hours, is_active)"
            " SELECT c.code || '-' || lpad(x.n::text, 6, '0'), 'Bench station ' || x.n, c.id, x.n || ' Bench Road',"
            "        '08:00-21:00', true"
            " FROM (SELECT n, floor(%(cities)s * power(random(), 2.2))::int AS cn"
            "       FROM generate_series(1, %(stations)s) n) x"
            " JOIN bench_city c ON c.n = x.cn",
            {"cities": CITIES, "stations": STATIONS},
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_station ON COMMIT DROP AS"
            f" SELECT row_number() OVER (ORDER BY random()) - 1 AS n, s.id, s.city_id,"
            f"        exp(0.8 * ({_NORMAL}) - 0.32) AS size"
            " FROM stations_station s JOIN bench_city c ON c.id = s.city_id"
        )
        for year, stations, cartons, by_11th in [
            (2021, STATIONS_2021, CARTONS_2021, None),
            (2022, STATIONS, CARTONS_2022, CARTONS_2022_BY_11TH),
        ]:
            first = date(year, 11, 1)
            days = [first + timedelta(days=n) for n in range(DAYS)]
            if by_11th is None:
                per_day = [cartons * w / sum(weights) for w in weights]
            else:  # the first eleven days carry by_11th, the other nine the rest
                early, late = sum(weights[:11]), sum(weights[11:])
                per_day = [by_11th * w / early for w in weights[:11]] + [
                    (cartons - by_11th) * w / late for w in weights[11:]
                ]
            cursor.execute("DROP TABLE IF EXISTS bench_day")
            cursor.execute("CREATE TEMP TABLE bench_day (day date, per_station float8) ON COMMIT DROP")
            # Every station-day gets at least one carton, so the day's average is aimed a little lower.
            cursor.executemany(
                "INSERT INTO bench_day VALUES (%s, %s)",
                [(d, max(c / stations - 0.35, 0.3)) for d, c in zip(days, per_day, strict=True)],
            )
            step(
                f"{year} station totals",
                cursor,
                _STATION_ROWS.format(normal=_NORMAL),
                {"stations": stations},
            )
            step(f"{year} city totals", cursor, _CITY_ROWS, {"first": days[0], "last": days[-1]})
        first_year = RecyclingCampaign.objects.create(
            name="Bench 2021 Green Recycling Box",
            start_day=date(2021, 11, 1),
            end_day=date(2021, 11, 20),
            target_cartons=CARTONS_2021,
        )
        RecyclingCampaign.objects.create(
            name="Bench 2022 Green Recycling Box",
            start_day=date(2022, 11, 1),
            end_day=date(2022, 11, 20),
            target_cartons=CARTONS_2022,
            compared_with=first_year,
        )
    print("  vacuum analyze")
    with connection.cursor() as cursor:  # as autovacuum would, before ops look at the pages
        for table in ("recycling_dailystationtotal", "recycling_dailycitytotal", "stations_station"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def campaigns() -> list:
    from recycling.models import RecyclingCampaign

    return list(RecyclingCampaign.objects.filter(name__startswith="Bench ").order_by("start_day"))


def refresh_campaign_totals(*, quiet: bool = False) -> None:
    """The campaign station totals, by the service the totals pipeline runs, then the planner's
    statistics (ANALYZE only: a refresh rewrites every row, so the pages are timed without the
    visibility map a VACUUM would give an index-only scan)."""
    from django.db import connection

    from recycling.totals import aggregate_campaign

    for campaign in campaigns():
        started = time.perf_counter()
        totals = aggregate_campaign(campaign=campaign)
        if not quiet:
            print(f"  {campaign}: {totals.stations:,} station totals in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE recycling_campaignstationtotal")


def main() -> int:
    ensure_database()
    setup_django()
    generate()
    print("Computing the campaign station totals (recycling.totals.aggregate_campaign)...")
    refresh_campaign_totals()
    if "--generate-only" in sys.argv:
        return 0
    return measure()


def ops_client():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    user, _created = get_user_model().objects.get_or_create(username=OPS_USER)
    user.groups.add(Group.objects.get(name="Ops"))
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def best_of(runs: int, action) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def measure_page(client, url: str) -> tuple[float, float, int, float]:
    """(server ms best of RUNS, bare SQL ms best of RUNS, queries, cold server ms: the first view
    right after a refresh of the campaign station totals)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    refresh_campaign_totals(quiet=True)
    started = time.perf_counter()
    response = client.get(url)
    cold = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    queries = [q["sql"] for q in captured.captured_queries]

    def render() -> None:
        assert client.get(url).status_code == 200

    def bare() -> None:
        with connection.cursor() as cursor:
            for sql in queries:
                cursor.execute(sql)
                if cursor.description is not None:
                    cursor.fetchall()

    return best_of(RUNS, render), best_of(RUNS, bare), len(queries), cold


def measure() -> int:
    from django.db.models import Count

    from recycling.models import RecyclingCampaign
    from stations.models import City

    campaign = RecyclingCampaign.objects.get(name="Bench 2022 Green Recycling Box")
    largest = (
        City.objects.filter(code__regex=rf"^{PREFIX}[A-J]{{3}}$").annotate(n=Count("stations")).order_by("-n").first()
    )
    client = ops_client()
    query = f"?campaign={campaign.pk}&start=2022-11-01&end=2022-11-20"
    custom = f"?campaign={campaign.pk}&start=2022-11-01&end=2022-11-19"
    city = f"city {largest.code} ({largest.n:,} stations)"
    pages = [
        ("dash_overview_ms", "overview", f"/ops/{query}"),
        ("dash_city_ms", city, f"/ops/cities/{largest.code}/{query}"),
        (None, "overview, custom range (live)", f"/ops/{custom}"),
        (None, f"{city}, custom range (live)", f"/ops/cities/{largest.code}/{custom}"),
    ]
    for _key, _label, url in pages:  # the process's first views (templates, translations) are not a page's cost
        assert client.get(url).status_code == 200
    results, ok = {}, True
    print(f"{'figure':<48} {'server ms':>10} {'bare SQL ms':>12} {'ratio':>6} {'target':>8} {'queries':>8} pass")
    for key, label, url in pages:
        server, bare, queries, cold = measure_page(client, url)
        passed = server < TARGET_MS
        if key is not None:
            ok &= passed
            results[key] = server
            figure(f"{label}: server time", server, "ms", reference=bare, target=f"< {TARGET_MS:.0f} ms", passed=passed)
        print(
            f"{label:<48} {server:>10.1f} {bare:>12.1f} {server / bare:>6.2f}"
            f" {('<' + str(int(TARGET_MS))) if key else 'info':>8} {queries:>8} {'yes' if passed else 'NO'}"
        )
        print(f"{'  first view after a station totals refresh':<48} {cold:>10.1f}")
    print("RESULT " + " ".join(f"{key}={value:.1f}" for key, value in results.items()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
