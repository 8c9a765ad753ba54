"""Every read of the ops dashboards: set-based queries over the daily totals and the campaigns.

Nothing here reads a drop-off. National figures come from the daily city totals (315 rows a
day); station figures from the station totals, always as one aggregate query whose size does not
depend on how many rows it reads, so a page runs the same number of queries whatever the data.

Station figures over a window (the top 10 stations, the median station total a city's stations
are compared with, a city's stations ranked) need every station's total over the window:
- for the campaign's whole window to date (the pages' default) they are read from the campaign
  station totals (recycling.models.CampaignStationTotal, one row per station, refreshed by the
  totals pipeline after every recompute of a day of the campaign): the top stations and the
  median are a few rows of an index, a city's ranking its own rows. The pages say when those
  totals were computed, and that a refresh is under way if a day changed since;
- for any other range they are summed live from the daily station totals (up to 2.6 million
  station-days nationally: most of a second, which the pages say in a note). A city's ranking
  reads only its own rows, from the (city, day) index that holds every column it needs.
A campaign whose station totals were never computed (none yet after an upgrade) is read live.
"""

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Max, Q, Sum
from django.utils import timezone

from recycling.models import DAILY_TOTAL_FIGURES, DailyCityTotal, RecyclingCampaign
from stations.models import City

TOP = 10


def kg(value) -> Decimal:
    """kg CO2e to the gram, as the daily totals store it."""
    return Decimal(value or 0).quantize(Decimal("0.001"))


# The window ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The days a page looks at: a campaign, and a range of its days, or (campaign None: the
    "now" page) any range of days. The compared campaign's days are matched by day number (day 1
    against day 1)."""

    campaign: RecyclingCampaign | None
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
    def is_campaign_to_date(self) -> bool:
        """Whether the window is the campaign's whole window so far (the pages' default): from its
        first day to its last, or to today while it runs (later days have no totals yet). The
        campaign station totals then hold every station's figures over the window."""
        campaign = self.campaign
        if campaign is None:
            return False
        return self.start == campaign.start_day and self.end >= min(campaign.end_day, timezone.localdate())

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

    window: Window
    days: list[DayFigures]
    computed_at: datetime | None  # the latest change to a daily city total of the window
    totals: DayFigures = field(init=False)

    def __post_init__(self) -> None:
        totals = DayFigures(day=self.days[0].day if self.days else date.min)
        for day in self.days:
            for name in DAILY_TOTAL_FIGURES:
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
        .annotate(**{name: Sum(name) for name in DAILY_TOTAL_FIGURES}, computed=Max("computed_at"))
        .order_by()
    }
    series, cumulative, compared_cumulative = [], 0, 0
    for day in window.days:
        figures = DayFigures(day=day)
        row = rows.get(day)
        if row is not None:
            for name in DAILY_TOTAL_FIGURES:
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
    computed = [rows[day]["computed"] for day in window.days if day in rows]
    return Series(window=window, days=series, computed_at=max(computed) if computed else None)


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
    latitude: Decimal | None = None
    longitude: Decimal | None = None


def top_cities(*, window: Window, limit: int | None = TOP) -> list[CityRow]:
    """The cities with the most cartons in the window (ties by city code), in one query; every
    city with a daily total row in the window with limit=None (the overview's map)."""
    rows = (
        DailyCityTotal.objects.filter(day__range=(window.start, window.end))
        .values("city_id", "city__code", "city__name", "city__name_zh", "city__latitude", "city__longitude")
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
            latitude=r["city__latitude"],
            longitude=r["city__longitude"],
        )
        for n, r in enumerate(rows, start=1)
    ]


# Now: today, the last 7 and 30 days, all time --------------------------------------------------

RECENT_PERIODS = (("today", 1), ("7_days", 7), ("30_days", 30), ("all_time", None))


@dataclass(frozen=True)
class Period:
    key: str  # one of RECENT_PERIODS
    start: date | None  # None: all time
    end: date
    figures: DayFigures


@dataclass(frozen=True)
class Recent:
    today: date
    periods: list[Period]
    today_computed_at: datetime | None  # when today's totals were last recomputed; None: not yet


def recent_totals(*, today: date) -> Recent:
    """The national figures of today, the last 7 and the last 30 days (today included; Shanghai
    days) and all time, from the daily city totals that the Celery task recomputes (today's every
    five minutes), in one query: a drop-off logged at a desk counts here once its day's totals
    were recomputed, like everywhere else on these pages."""
    figures = DAILY_TOTAL_FIGURES
    aggregates = {"computed": Max("computed_at", filter=Q(day=today))}
    for key, days in RECENT_PERIODS:
        within = Q(day__range=(today - timedelta(days=days - 1), today)) if days else Q(day__lte=today)
        aggregates |= {f"{key}__{name}": Sum(name, filter=within) for name in figures}
    row = DailyCityTotal.objects.aggregate(**aggregates)
    periods = []
    for key, days in RECENT_PERIODS:
        start = today - timedelta(days=days - 1) if days else None
        totals = DayFigures(day=start or today)
        for name in figures:
            setattr(totals, name, row[f"{key}__{name}"] or 0)
        totals.co2e_kg = kg(totals.co2e_kg)
        periods.append(Period(key=key, start=start, end=today, figures=totals))
    return Recent(today=today, periods=periods, today_computed_at=row["computed"])


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

# From the campaign station totals: the first ranks of the campaign (the (campaign, rank)
# index), joined to their stations.
_CAMPAIGN_TOP_STATIONS_SQL = f"""
SELECT {_STATION_COLUMNS}
FROM (
    SELECT station_id, rank, cartons, days_active AS days, dropoffs, cartons_reused
    FROM recycling_campaignstationtotal
    WHERE campaign_id = %(campaign)s AND rank <= %(limit)s
) t
JOIN stations_station s ON s.id = t.station_id
JOIN stations_city c ON c.id = s.city_id
ORDER BY t.rank
"""

# The median station of the campaign station totals: the middle rank (the middle two when the
# number of stations, the last rank, is even), a few entries of the (campaign, rank) index; with
# the number of stations and when the totals were computed (every row of a refresh carries the
# refresh's time). One row, with NULLs, when the campaign has no station totals.
_CAMPAIGN_MEDIAN_SQL = """
WITH counted AS (SELECT MAX(rank) AS stations FROM recycling_campaignstationtotal WHERE campaign_id = %(campaign)s)
SELECT AVG(t.cartons * 1.0), MAX(counted.stations), MAX(t.computed_at)
FROM counted
LEFT JOIN recycling_campaignstationtotal t
       ON t.campaign_id = %(campaign)s AND t.rank IN ((counted.stations + 1) / 2, (counted.stations + 2) / 2)
"""

# Live, from the daily station totals. Aggregate first, then join the few stations kept:
# joining 2.6 million station-days to their stations before grouping would cost a hash join
# for nothing.
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
# once, the middle one (or the mean of the middle two).
_MEDIAN_SQL = """
WITH totals AS (
    SELECT SUM(cartons) AS cartons FROM recycling_dailystationtotal
    WHERE day BETWEEN %(start)s AND %(end)s
    GROUP BY station_id
),
ranked AS (
    SELECT cartons, ROW_NUMBER() OVER (ORDER BY cartons) AS n, COUNT(*) OVER () AS stations FROM totals
)
SELECT AVG(cartons * 1.0), MAX(stations), NULL FROM ranked WHERE n IN ((stations + 1) / 2, (stations + 2) / 2)
"""


def days_in(window: Window, column: str = "day") -> tuple[str, dict]:
    """`column IN (every day of the window)`: PostgreSQL then seeks each day's rows of a city on
    an index of (day, city) or (city, day), where `BETWEEN` on (day, city) would walk every
    station-day of the range."""
    ops = connection.ops
    params = {f"day{n}": ops.adapt_datefield_value(day) for n, day in enumerate(window.days)}
    return f"{column} IN ({', '.join(f'%({name})s' for name in params)})", params


@contextmanager
def big_read():
    """A transaction whose sorts stay in memory and whose plans are not JIT-compiled: compiling
    costs PostgreSQL ~50 ms on these one-off aggregates, more than it saves (as in recycling.totals)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # one command per execute(): psycopg may prepare it
        cursor.execute("SET LOCAL work_mem = '32MB'")
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
    top: list[StationRow]  # empty unless asked for
    median: float | None  # median cartons per station over the window
    stations: int  # stations with a total row in the window
    computed_at: datetime | None  # when the campaign station totals read were computed; None: summed live

    @property
    def live(self) -> bool:
        return self.computed_at is None


def national_station_figures(*, window: Window, top: bool = True) -> NationalStationFigures:
    """The median station of the window, how many stations, and (with top) the top stations:
    from the campaign station totals for the campaign's window to date, else live (see the
    module docstring). Two queries either way (one without top)."""
    with big_read() as cursor:
        if window.is_campaign_to_date:
            params = {"campaign": window.campaign.pk, "limit": TOP}
            cursor.execute(_CAMPAIGN_MEDIAN_SQL, params)
            median, stations, computed_at = cursor.fetchone()
            if stations:
                rows = []
                if top:
                    cursor.execute(_CAMPAIGN_TOP_STATIONS_SQL, params)
                    rows = _station_rows(cursor)
                return NationalStationFigures(
                    top=rows, median=float(median), stations=int(stations), computed_at=computed_at
                )
        rows = []
        if top:
            cursor.execute(_TOP_STATIONS_SQL, {**_day_params(window), "limit": TOP})
            rows = _station_rows(cursor)
        cursor.execute(_MEDIAN_SQL, _day_params(window))
        median, stations, _none = cursor.fetchone()
    return NationalStationFigures(
        top=rows, median=float(median) if median is not None else None, stations=int(stations or 0), computed_at=None
    )


@dataclass(frozen=True)
class StationPage:
    rows: list[StationRow]
    count: int  # stations of the city with a total row in the window


_CITY_RANKING_SQL = f"""
SELECT {_STATION_COLUMNS}, t.stations
FROM ({{ranked}}) t
JOIN stations_station s ON s.id = t.station_id
JOIN stations_city c ON c.id = s.city_id
ORDER BY t.cartons DESC, t.station_id
"""
# The city's rows of the campaign station totals in national rank order (cartons, then station
# id), a slice of the (campaign, city, rank) index.
_CAMPAIGN_CITY_STATIONS = """
    SELECT station_id, cartons, days_active AS days, dropoffs, cartons_reused, COUNT(*) OVER () AS stations
    FROM recycling_campaignstationtotal
    WHERE campaign_id = %(campaign)s AND city_id = %(city)s
    ORDER BY rank
    LIMIT %(limit)s OFFSET %(offset)s
"""
# Live: the city's station-days of the range, one slice of the (city, day) index that holds
# every column read here (PostgreSQL reads no table row).
_LIVE_CITY_STATIONS = """
    SELECT station_id, SUM(cartons) AS cartons, COUNT(*) AS days, SUM(dropoffs) AS dropoffs,
           SUM(cartons_reused) AS cartons_reused, COUNT(*) OVER () AS stations
    FROM recycling_dailystationtotal
    WHERE city_id = %(city)s AND day BETWEEN %(start)s AND %(end)s
    GROUP BY station_id
    ORDER BY SUM(cartons) DESC, station_id
    LIMIT %(limit)s OFFSET %(offset)s
"""


def city_stations(
    *, window: Window, city: City, national: NationalStationFigures, offset: int = 0, limit: int | None = None
) -> StationPage:
    """The city's stations ranked by cartons in the window (ties by station id), one page of
    them (all with limit=None) and how many there are, in one query: from the campaign station
    totals when `national` came from them (so that the stations and the median they are set
    against are of the same computation), else live."""
    ranked = _LIVE_CITY_STATIONS if national.live else _CAMPAIGN_CITY_STATIONS
    if limit is None:
        ranked = ranked.replace("LIMIT %(limit)s OFFSET %(offset)s", "")
    params = {**_day_params(window), "campaign": window.campaign.pk, "city": city.pk, "offset": offset, "limit": limit}
    with big_read() as cursor:
        cursor.execute(_CITY_RANKING_SQL.format(ranked=ranked), params)
        rows = cursor.fetchall()
    count = rows[0][10] if rows else 0
    return StationPage(rows=[_station_row(offset + n, row) for n, row in enumerate(rows, start=1)], count=count)
