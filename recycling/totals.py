"""Daily totals per station and per city: the service that computes them.

A run for one Shanghai day recomputes that day's rows from set-based aggregate queries
(INSERT ... SELECT ... GROUP BY) and overwrites them, all in one transaction: afterwards the
day holds exactly the rows a fresh computation gives (a row's computed_at is when its figures
were last written). It never increments, so a re-run, a retried Celery task or a worker killed mid-run leaves either the
old or the new complete rows. Two runs for the same day serialize on an
advisory lock for that day.

What counts on day D (Shanghai time):
- cartons, drop-offs, distinct members, points issued, kg CO2e: accepted drop-offs whose
  `occurred_at` falls on D (a voided drop-off counts nowhere; voids and late drop-offs
  enqueue a recompute of their day);
- points redeemed and donated: redemption and donation transfers posted on D that have not
  been reversed (a cancelled or expired reservation counts nowhere), at the redemption's
  pickup station and the donation's station (the member's home station), from the SQL that
  rewards registers (rewards/totals.py: this app cannot read the tables of the app above it);
- cartons reused: carton movements of kind "reused" on D.

kg CO2e is summed exactly, in whole milligrams (a factor has three decimals of kg of board
times three of kg CO2e per kg), and rounded half up to the gram once per row: a city's figure
is its own exact total rounded, not a sum of its stations' rounded figures.

One statement does the whole day: a single scan of the day's drop-offs grouped
by GROUPING SETS ((city, station), (city)) gives the station rows and the city's distinct
members together, and the city rows are inserted from the station rows the same statement
inserts (a data-modifying CTE). bench/bench_totals.py times the PostgreSQL path on a
national peak day against a bare GROUP BY.

Campaign station totals (CampaignStationTotal): each station's sums over a campaign's whole
window, for the national station figures of the dashboards (the top stations, the median
station, a city's stations ranked), which would otherwise aggregate every station-day of the
campaign (2.6 million rows at national scale) on each page view. aggregate_campaign() recomputes
a campaign's rows from its daily station totals in one set-based GROUP BY and overwrites them
(rows of stations with nothing left are deleted), in one transaction, so it is safe to re-run;
every row of a refresh carries the same computed_at, which the dashboards show as "as of".
Two refreshes of a campaign serialize on an advisory lock, and the second then
reads the daily totals as they are after the first (each statement takes a fresh snapshot).

It is refreshed by the Celery task recycling.aggregate_campaign_totals, which
recycling.aggregate_day_totals enqueues (after its day has committed) once for each campaign whose
window contains the day, so during a campaign it follows the five-minute recompute of today by
the time the refresh takes. The simulator and `manage.py aggregate_totals` refresh the campaigns
covering the days they aggregated. A row counts what the daily totals of the campaign's days
hold: days_active is the number of days with a daily row, city is the city of those rows, and
rank is the station's place in the campaign (1: most cartons; ties by station id), by which the
dashboards find the top stations and the median station in a few index entries.
"""

from dataclasses import dataclass
from datetime import date

from django.db import connection, transaction
from django.utils import timezone

from .days import day_bounds
from .models import (
    CAMPAIGN_STATION_TOTAL_FIGURES,
    DAILY_TOTAL_FIGURES,
    CartonMovement,
    DropOff,
    RecyclingCampaign,
)

# Milligrams of CO2e per carton of each emission factor, exact (two numerics of three decimals
# each multiply to a whole number of milligrams); the sums are cast back to integers (PostgreSQL
# sums bigints as numeric) so that grams are rounded half up by integer division of non-negative
# sums.
_FACTORS = """
    SELECT id, CAST(ROUND(kg_board_per_carton * kg_co2e_per_kg * 1000000) AS BIGINT) AS co2e_mg
    FROM recycling_emissionfactor
"""
_DAY_DROPOFFS = "d.status = %(accepted)s AND d.occurred_at >= %(start)s AND d.occurred_at < %(end)s"

# Points spent count where the spending happened, which only the spending's own rows record
# (the ledger's transfers know no station). Those rows belong to apps above this one, so each
# registers its SELECT here (rewards/totals.py): station_id, points_redeemed, points_donated
# for the transfers posted in [%(start)s, %(end)s) that still count.
_spending_sources: list[str] = []


def register_spending_sql(sql: str) -> None:
    """Add a source of points spent per station to the daily totals (called from AppConfig.ready)."""
    if sql not in _spending_sources:
        _spending_sources.append(sql)


def _spending_sql() -> str:
    sources = "\n        UNION ALL\n".join(_spending_sources) or (
        "SELECT NULL::bigint AS station_id, 0 AS points_redeemed, 0 AS points_donated WHERE false"
    )
    return f"""
    SELECT station_id, SUM(points_redeemed) AS points_redeemed, SUM(points_donated) AS points_donated
    FROM ({sources}) spending
    GROUP BY station_id
"""


_REUSE = """
    SELECT m.station_id, SUM(m.cartons) AS cartons_reused
    FROM recycling_cartonmovement m
    WHERE m.kind = %(reused)s AND m.occurred_at >= %(start)s AND m.occurred_at < %(end)s
    GROUP BY m.station_id
"""
_STATION_COLUMNS = f"(day, station_id, city_id, {', '.join(DAILY_TOTAL_FIGURES)}, computed_at)"
_CITY_COLUMNS = f"(day, city_id, stations, {', '.join(DAILY_TOTAL_FIGURES)}, computed_at)"


def _upsert(table: str, key: str, figures: list[str]) -> str:
    """ON CONFLICT clause that rewrites a row (and its computed_at) only when a figure changed."""
    return (
        f"ON CONFLICT ({key}, day) DO UPDATE SET "
        + ", ".join(f"{f} = EXCLUDED.{f}" for f in [*figures, "computed_at"])
        + f" WHERE ({', '.join(f'{table}.{f}' for f in figures)})"
        + f" IS DISTINCT FROM ({', '.join(f'EXCLUDED.{f}' for f in figures)})"
    )


# The whole day in one statement and one scan of its drop-offs. The grouping set
# (city) carries the city's distinct members and exact CO2e (station_id NULL); the city rows
# sum the station rows computed beside them for everything else. Rows are upserted and only
# rewritten when a figure changed, and rows of stations or cities with nothing left to count
# are deleted: a void's recompute of a peak day rewrites one station and its city, not
# 130,000 rows (and their WAL and dead tuples).
_DAY_SQL = f"""
WITH dropoffs AS MATERIALIZED (
    SELECT s.city_id, d.station_id,
           SUM(d.cartons) AS cartons, COUNT(*) AS dropoffs, COUNT(DISTINCT d.member_id) AS members,
           SUM(d.points) AS points_issued, CAST(SUM(d.cartons * f.co2e_mg) AS BIGINT) AS co2e_mg
    FROM recycling_dropoff d
    JOIN stations_station s ON s.id = d.station_id
    JOIN ({_FACTORS}) f ON f.id = d.emission_factor_id
    WHERE {_DAY_DROPOFFS}
    GROUP BY GROUPING SETS ((s.city_id, d.station_id), (s.city_id))
),
spending AS ({{spending}}),  -- filled in at run time: _spending_sql()
reuse AS ({_REUSE}),
-- One row per station from a UNION ALL of the three sources: left joins of aggregates whose
-- sizes the planner cannot know would make it estimate billions of rows and pick quadratic plans.
station_rows AS MATERIALIZED (
    SELECT %(day)s AS day, x.station_id, s.city_id,
           SUM(x.cartons) AS cartons, SUM(x.dropoffs) AS dropoffs, SUM(x.members) AS members,
           SUM(x.points_issued) AS points_issued, SUM(x.points_redeemed) AS points_redeemed,
           SUM(x.points_donated) AS points_donated, SUM(x.cartons_reused) AS cartons_reused,
           (CAST(SUM(x.co2e_mg) AS BIGINT) + 500) / 1000 / 1000.0 AS co2e_kg, %(now)s AS computed_at
    FROM (
        SELECT station_id, cartons, dropoffs, members, points_issued, 0 AS points_redeemed, 0 AS points_donated,
               0 AS cartons_reused, co2e_mg
        FROM dropoffs WHERE station_id IS NOT NULL
        UNION ALL
        SELECT station_id, 0, 0, 0, 0, points_redeemed, points_donated, 0, 0 FROM spending
        UNION ALL
        SELECT station_id, 0, 0, 0, 0, 0, 0, cartons_reused, 0 FROM reuse
    ) x
    JOIN stations_station s ON s.id = x.station_id
    GROUP BY x.station_id, s.city_id
),
city_rows AS MATERIALIZED (
    SELECT st.city_id, COUNT(*) FILTER (WHERE st.dropoffs > 0) AS stations,
           SUM(st.cartons) AS cartons, SUM(st.dropoffs) AS dropoffs, COALESCE(MAX(c.members), 0) AS members,
           SUM(st.points_issued) AS points_issued, SUM(st.points_redeemed) AS points_redeemed,
           SUM(st.points_donated) AS points_donated, SUM(st.cartons_reused) AS cartons_reused,
           (COALESCE(MAX(c.co2e_mg), 0) + 500) / 1000 / 1000.0 AS co2e_kg
    FROM station_rows st
    LEFT JOIN dropoffs c ON c.city_id = st.city_id AND c.station_id IS NULL
    GROUP BY st.city_id
),
stations_written AS (
    INSERT INTO recycling_dailystationtotal {_STATION_COLUMNS}
    SELECT * FROM station_rows
    {_upsert("recycling_dailystationtotal", "station_id", ["city_id", *DAILY_TOTAL_FIGURES])}
    RETURNING 1
),
stations_removed AS (
    DELETE FROM recycling_dailystationtotal t
    WHERE t.day = %(day)s AND NOT EXISTS (SELECT 1 FROM station_rows n WHERE n.station_id = t.station_id)
    RETURNING 1
),
cities_written AS (
    INSERT INTO recycling_dailycitytotal {_CITY_COLUMNS}
    SELECT %(day)s, city_id, stations, {", ".join(DAILY_TOTAL_FIGURES)}, %(now)s FROM city_rows
    {_upsert("recycling_dailycitytotal", "city_id", ["stations", *DAILY_TOTAL_FIGURES])}
    RETURNING 1
),
cities_removed AS (
    DELETE FROM recycling_dailycitytotal t
    WHERE t.day = %(day)s AND NOT EXISTS (SELECT 1 FROM city_rows n WHERE n.city_id = t.city_id)
    RETURNING 1
)
SELECT (SELECT COUNT(*) FROM station_rows), (SELECT COUNT(*) FROM city_rows),
       (SELECT COUNT(*) FROM stations_written), (SELECT COUNT(*) FROM stations_removed),
       (SELECT COUNT(*) FROM cities_written), (SELECT COUNT(*) FROM cities_removed)
"""


@dataclass(frozen=True)
class DayTotals:
    day: date
    stations: int  # station rows written
    cities: int  # city rows written


def aggregate_day(*, day: date) -> DayTotals:
    """Recompute and overwrite the day's station and city totals in one transaction."""
    start, end = day_bounds(day)
    ops = connection.ops  # adapts values for raw SQL as the ORM would
    params = {
        "day": ops.adapt_datefield_value(day),
        "start": ops.adapt_datetimefield_value(start),
        "end": ops.adapt_datetimefield_value(end),
        "now": ops.adapt_datetimefield_value(timezone.now()),
        "accepted": DropOff.Status.ACCEPTED,
        "reused": CartonMovement.Kind.REUSED,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # One run per day at a time: a second run waits, then overwrites with its own fresh rows.
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_ADVISORY_LOCK_CLASS, day.toordinal()])
        # The plan is a few sorts and hash tables over one day; compiling it (JIT) costs more
        # than it saves, and the default 4 MB of sort memory would spill the peak day to disk.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(_DAY_SQL.replace("{spending}", _spending_sql()), params)
        stations, cities, *_changes = cursor.fetchone()
    return DayTotals(day=day, stations=stations, cities=cities)


_ADVISORY_LOCK_CLASS = 20221111  # namespaces GreenBox's advisory locks for daily totals


# Campaign station totals -------------------------------------------------------------------

_CAMPAIGN_COLUMNS = f"(campaign_id, station_id, {', '.join(CAMPAIGN_STATION_TOTAL_FIGURES)}, computed_at)"
# One GROUP BY over the campaign's station-days, ranked as it goes (most cartons first, ties by
# station id, as the dashboards order stations). A station's daily rows all carry its city
# (stations do not move); MAX picks it without grouping by it.
_CAMPAIGN_ROWS = """
SELECT %(campaign)s, t.station_id, MAX(t.city_id), SUM(t.cartons), SUM(t.dropoffs), SUM(t.points_issued),
       SUM(t.cartons_reused), SUM(t.co2e_kg), COUNT(*),
       ROW_NUMBER() OVER (ORDER BY SUM(t.cartons) DESC, t.station_id), %(now)s
FROM recycling_dailystationtotal t
WHERE t.day BETWEEN %(start)s AND %(end)s
GROUP BY t.station_id
"""
_CAMPAIGN_SQL = f"""
WITH station_rows AS MATERIALIZED ({_CAMPAIGN_ROWS}),
written AS (
    INSERT INTO recycling_campaignstationtotal {_CAMPAIGN_COLUMNS}
    SELECT * FROM station_rows
    ON CONFLICT (campaign_id, station_id) DO UPDATE SET
        {", ".join(f"{f} = EXCLUDED.{f}" for f in [*CAMPAIGN_STATION_TOTAL_FIGURES, "computed_at"])}
    RETURNING 1
),
removed AS (
    DELETE FROM recycling_campaignstationtotal c
    WHERE c.campaign_id = %(campaign)s
      AND NOT EXISTS (SELECT 1 FROM station_rows n WHERE n.station_id = c.station_id)
    RETURNING 1
)
SELECT (SELECT COUNT(*) FROM written), (SELECT COUNT(*) FROM removed)
"""


@dataclass(frozen=True)
class CampaignTotals:
    campaign_id: int
    stations: int  # station rows written


def aggregate_campaign(*, campaign: RecyclingCampaign) -> CampaignTotals:
    """Recompute and overwrite the campaign's station totals from its daily station totals, in
    one transaction (see the module docstring)."""
    ops = connection.ops
    params = {
        "campaign": campaign.pk,
        "start": ops.adapt_datefield_value(campaign.start_day),
        "end": ops.adapt_datefield_value(campaign.end_day),
        "now": ops.adapt_datetimefield_value(timezone.now()),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_CAMPAIGN_LOCK_CLASS, campaign.pk])
        cursor.execute("SET LOCAL jit = off")  # as for a day: compiling costs more than it saves
        cursor.execute("SET LOCAL work_mem = '64MB'")  # the GROUP BY's hash table stays in memory
        cursor.execute(_CAMPAIGN_SQL, params)
        stations, _removed = cursor.fetchone()
    return CampaignTotals(campaign_id=campaign.pk, stations=stations)


def campaigns_containing(*, first: date, last: date | None = None) -> list[RecyclingCampaign]:
    """The campaigns whose window shares a day with first..last (default: the day first)."""
    return list(
        RecyclingCampaign.objects.filter(start_day__lte=last or first, end_day__gte=first).order_by("start_day", "pk")
    )


_CAMPAIGN_LOCK_CLASS = 20221112  # advisory locks of campaign station totals, by campaign id
