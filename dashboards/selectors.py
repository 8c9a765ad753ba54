"""Every read of the ops dashboards: set-based queries over the daily totals and the campaigns.

Nothing here reads a drop-off. National figures come from the daily city totals (315 rows a
day); station figures from the daily station totals (up to 130,000 rows a day), always as one
aggregate query whose size does not depend on how many rows it reads, so a page runs the same
number of queries whatever the data.

Two national figures need every station's total over the window (the top 10 stations, and the
median station total a city's stations are compared with): one aggregate over up to 2.6 million
station-days, which takes most of a second at national scale. They are kept in Django's cache
under a fingerprint of the window's city totals (how many rows, when they were last computed,
their sums), so they are recomputed as soon as a recompute changes a day of the window, and at
the latest after NATIONAL_STATION_FIGURES_TTL (a recompute that moves cartons between two
stations of a city without changing any city figure is the one change the fingerprint misses).
"""

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Max, Q, Sum

from recycling.models import DailyCityTotal, RecyclingCampaign
from stations.models import City

FIGURES = [
    "cartons",
    "dropoffs",
    "members",
    "points_issued",
    "points_redeemed",
    "points_donated",
    "cartons_reused",
    "co2e_kg",
]
NATIONAL_STATION_FIGURES_TTL = 600  # seconds; today's totals are recomputed every 5 minutes
TOP = 10


def kg(value) -> Decimal:
    """kg CO2e to the gram, as the daily totals store it (SQLite sums decimals with extra digits)."""
    return Decimal(value or 0).quantize(Decimal("0.001"))


# The window ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The days a page looks at: a campaign, and a range of its days. The compared campaign's days
    are matched by day number (day 1 against day 1)."""

    campaign: RecyclingCampaign
    start: date
    end: date
    compared: RecyclingCampaign | None = None

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def compared_day(self, day: date) -> date | None:
        """The compared campaign's day with the same day number as `day`, if it has one."""
        if self.compared is None:
            return None
        matched = self.compared.start_day + (day - self.campaign.start_day)
        return matched if self.compared.start_day <= matched <= self.compared.end_day else None

    @property
    def compared_range(self) -> tuple[date, date] | None:
        matched = [d for d in (self.compared_day(day) for day in self.days) if d is not None]
        return (matched[0], matched[-1]) if matched else None


def campaigns() -> list[RecyclingCampaign]:
    """All campaigns, latest first (one query; the compared campaign is looked up in this list)."""
    return list(RecyclingCampaign.objects.order_by("-start_day", "-pk"))


def cities() -> list[City]:
    return list(City.objects.only("id", "code", "name", "name_zh").order_by("code"))


# Daily series --------------------------------------------------------------------------------


@dataclass
class DayFigures:
    day: date
    cartons: int = 0
    dropoffs: int = 0
    members: int = 0
    points_issued: int = 0
    points_redeemed: int = 0
    points_donated: int = 0
    cartons_reused: int = 0
    co2e_kg: Decimal = Decimal("0.000")
    cumulative: int = 0
    compared_day: date | None = None
    compared_cartons: int | None = None
    compared_cumulative: int | None = None

    @property
    def reuse_rate(self) -> float | None:
        return self.cartons_reused / self.cartons if self.cartons else None


@dataclass
class Series:
    """A window's days with their figures, and the window's totals."""

    days: list[DayFigures]
    fingerprint: str  # changes whenever a recompute rewrites a city row of the window
    totals: DayFigures = field(init=False)

    def __post_init__(self) -> None:
        totals = DayFigures(day=self.days[0].day if self.days else date.min)
        for day in self.days:
            for name in FIGURES:
                setattr(totals, name, getattr(totals, name) + getattr(day, name))
        totals.cumulative = totals.cartons
        compared = [d.compared_cartons for d in self.days if d.compared_cartons is not None]
        totals.compared_cartons = sum(compared) if compared else None
        self.totals = totals

    @property
    def growth(self) -> float | None:
        """Cartons against the compared campaign's same days, as a fraction (0.5 is +50%)."""
        compared = self.totals.compared_cartons
        return self.totals.cartons / compared - 1 if compared else None


def daily_series(*, window: Window, city: City | None = None) -> Series:
    """The window's days, nationally or for one city, beside the compared campaign's same days,
    from the daily city totals in one query.

    "members" is the sum of the cities' distinct members: for one city it is that city's distinct
    members of the day; nationally a member who left cartons in two cities that day counts twice.
    """
    days = Q(day__range=(window.start, window.end))
    if window.compared_range is not None:
        days |= Q(day__range=window.compared_range)
    totals = DailyCityTotal.objects.filter(days)
    if city is not None:
        totals = totals.filter(city=city)
    rows = {
        row["day"]: row
        for row in totals.values("day")
        .annotate(**{name: Sum(name) for name in FIGURES}, rows=Count("id"), computed=Max("computed_at"))
        .order_by()
    }
    series, cumulative, compared_cumulative = [], 0, 0
    for day in window.days:
        figures = DayFigures(day=day)
        row = rows.get(day)
        if row is not None:
            for name in FIGURES:
                setattr(figures, name, row[name])
            figures.co2e_kg = kg(row["co2e_kg"])
        cumulative += figures.cartons
        figures.cumulative = cumulative
        figures.compared_day = window.compared_day(day)
        if figures.compared_day is not None:
            compared = rows.get(figures.compared_day)
            figures.compared_cartons = compared["cartons"] if compared else 0
            compared_cumulative += figures.compared_cartons
            figures.compared_cumulative = compared_cumulative
        series.append(figures)
    own = [rows[day] for day in window.days if day in rows]
    fingerprint = hashlib.sha1(
        repr([(r["day"], r["rows"], r["computed"], r["cartons"], r["dropoffs"]) for r in own]).encode()
    ).hexdigest()
    return Series(days=series, fingerprint=fingerprint)


def national_fingerprint(*, window: Window) -> str:
    """What daily_series(window=window).fingerprint is, in one small query (for pages that show
    a city's series but use national station figures)."""
    rows = (
        DailyCityTotal.objects.filter(day__range=(window.start, window.end))
        .values("day")
        .annotate(rows=Count("id"), computed=Max("computed_at"), cartons=Sum("cartons"), dropoffs=Sum("dropoffs"))
        .order_by("day")
    )
    return hashlib.sha1(
        repr([(r["day"], r["rows"], r["computed"], r["cartons"], r["dropoffs"]) for r in rows]).encode()
    ).hexdigest()


# Cities -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CityRow:
    rank: int
    city_id: int
    code: str
    name: str
    name_zh: str
    cartons: int
    members: int
    cartons_reused: int
    co2e_kg: Decimal


def top_cities(*, window: Window, limit: int = TOP) -> list[CityRow]:
    """The cities with the most cartons in the window (ties by city code), in one query."""
    rows = (
        DailyCityTotal.objects.filter(day__range=(window.start, window.end))
        .values("city_id", "city__code", "city__name", "city__name_zh")
        .annotate(
            cartons=Sum("cartons"), members=Sum("members"), cartons_reused=Sum("cartons_reused"), co2e=Sum("co2e_kg")
        )
        .order_by("-cartons", "city__code")[:limit]
    )
    return [
        CityRow(
            rank=n,
            city_id=r["city_id"],
            code=r["city__code"],
            name=r["city__name"],
            name_zh=r["city__name_zh"],
            cartons=r["cartons"],
            members=r["members"],
            cartons_reused=r["cartons_reused"],
            co2e_kg=kg(r["co2e"]),
        )
        for n, r in enumerate(rows, start=1)
    ]


# Stations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StationRow:
    rank: int
    station_id: int
    code: str
    name: str
    city_code: str
    city_name: str
    city_name_zh: str
    cartons: int
    days: int  # days of the window with a total row (something counted there)
    dropoffs: int
    cartons_reused: int

    @property
    def per_day(self) -> float:
        return self.cartons / self.days if self.days else 0.0


_STATION_COLUMNS = "s.id, s.code, s.name, c.code, c.name, c.name_zh, t.cartons, t.days, t.dropoffs, t.cartons_reused"

# Aggregate first, then join the few stations kept: joining 2.6 million station-days to their
# stations before grouping would cost a hash join for nothing.
_TOP_STATIONS_SQL = f"""
SELECT {_STATION_COLUMNS}
FROM (
    SELECT station_id, SUM(cartons) AS cartons, COUNT(*) AS days, SUM(dropoffs) AS dropoffs,
           SUM(cartons_reused) AS cartons_reused
    FROM recycling_dailystationtotal
    WHERE day BETWEEN %(start)s AND %(end)s
    GROUP BY station_id
    ORDER BY SUM(cartons) DESC, station_id
    LIMIT %(limit)s
) t
JOIN stations_station s ON s.id = t.station_id
JOIN stations_city c ON c.id = s.city_id
ORDER BY t.cartons DESC, t.station_id
"""

# The median of the stations' totals over the window, with the number of stations: sorted
# once, the middle one (or the mean of the middle two). Portable SQL (window functions), so
# SQLite in development gives the same number as PostgreSQL.
_MEDIAN_SQL = """
WITH totals AS (
    SELECT SUM(cartons) AS cartons FROM recycling_dailystationtotal
    WHERE day BETWEEN %(start)s AND %(end)s
    GROUP BY station_id
),
ranked AS (
    SELECT cartons, ROW_NUMBER() OVER (ORDER BY cartons) AS n, COUNT(*) OVER () AS stations FROM totals
)
SELECT AVG(cartons * 1.0), MAX(stations) FROM ranked WHERE n IN ((stations + 1) / 2, (stations + 2) / 2)
"""


def days_in(window: Window, column: str = "day") -> tuple[str, dict]:
    """`column IN (every day of the window)`: on the (day, city) index PostgreSQL then seeks each
    day's rows of the city, where `BETWEEN` would walk every station-day of the range."""
    ops = connection.ops
    params = {f"day{n}": ops.adapt_datefield_value(day) for n, day in enumerate(window.days)}
    return f"{column} IN ({', '.join(f'%({name})s' for name in params)})", params


@contextmanager
def big_read():
    """A transaction whose sorts stay in memory and whose plans are not JIT-compiled: compiling
    costs PostgreSQL ~50 ms on these one-off aggregates, more than it saves (as in recycling.totals)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL jit = off; SET LOCAL work_mem = '32MB'")
        yield cursor


def _day_params(window: Window) -> dict:
    ops = connection.ops
    return {"start": ops.adapt_datefield_value(window.start), "end": ops.adapt_datefield_value(window.end)}


def _station_row(rank: int, row: tuple) -> StationRow:
    # PostgreSQL sums bigints as numeric: the figures come back as Decimals, made ints here.
    station_id, code, name, city_code, city_name, city_name_zh, cartons, days, dropoffs, reused = row[:10]
    return StationRow(
        rank,
        station_id,
        code,
        name,
        city_code,
        city_name,
        city_name_zh,
        int(cartons),
        int(days),
        int(dropoffs),
        int(reused),
    )


def _station_rows(cursor, offset: int = 0) -> list[StationRow]:
    return [_station_row(offset + n, row) for n, row in enumerate(cursor.fetchall(), start=1)]


@dataclass(frozen=True)
class NationalStationFigures:
    top: list[StationRow]
    median: float | None  # median cartons per station over the window
    stations: int  # stations with a total row in the window


def national_station_figures(*, window: Window, fingerprint: str) -> NationalStationFigures:
    """The top stations and the median station of the window (see the module docstring for why
    they are cached, and under which key)."""
    key = f"dashboards:stations:{window.start}:{window.end}:{fingerprint}"
    figures = cache.get(key)
    if figures is None:
        with big_read() as cursor:
            cursor.execute(_TOP_STATIONS_SQL, {**_day_params(window), "limit": TOP})
            top = _station_rows(cursor)
            cursor.execute(_MEDIAN_SQL, _day_params(window))
            median, stations = cursor.fetchone()
        figures = NationalStationFigures(
            top=top, median=float(median) if median is not None else None, stations=int(stations or 0)
        )
        cache.set(key, figures, NATIONAL_STATION_FIGURES_TTL)
    return figures


@dataclass(frozen=True)
class StationPage:
    rows: list[StationRow]
    count: int  # stations of the city with a total row in the window


_CITY_STATIONS_SQL = f"""
SELECT {_STATION_COLUMNS}, t.stations
FROM (
    SELECT station_id, SUM(cartons) AS cartons, COUNT(*) AS days, SUM(dropoffs) AS dropoffs,
           SUM(cartons_reused) AS cartons_reused, COUNT(*) OVER () AS stations
    FROM recycling_dailystationtotal
    WHERE {{days}} AND city_id = %(city)s
    GROUP BY station_id
    ORDER BY SUM(cartons) DESC, station_id
    LIMIT %(limit)s OFFSET %(offset)s
) t
JOIN stations_station s ON s.id = t.station_id
JOIN stations_city c ON c.id = s.city_id
ORDER BY t.cartons DESC, t.station_id
"""


def city_stations(*, window: Window, city: City, offset: int = 0, limit: int | None = None) -> StationPage:
    """The city's stations ranked by cartons in the window (ties by station id), one page of
    them (all with limit=None) and how many there are, in one query."""
    days, params = days_in(window)
    params |= {"city": city.pk, "offset": offset, "limit": limit if limit is not None else -1}
    sql = _CITY_STATIONS_SQL.format(days=days)
    if limit is None:
        sql = sql.replace("LIMIT %(limit)s OFFSET %(offset)s", "")
    with big_read() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    count = rows[0][-1] if rows else 0
    return StationPage(rows=[_station_row(offset + n, row) for n, row in enumerate(rows, start=1)], count=count)
