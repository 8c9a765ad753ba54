"""Anomaly flags: station-days whose cartons are far above the other stations of their city that
day, and (at the end of this module) members at the cap at several stations, staff users far
above their city's norm, and drop-offs recorded long after they happened.

The rule (Tukey's far-out fence, on a log scale):

    flag station s on day d  when  log(cartons[s, d]) > Q3 + 3 * IQR

where Q1 and Q3 are the quartiles (linear interpolation, as PostgreSQL's percentile_cont) of
log(cartons) over the stations of the same city with cartons on day d, and IQR = Q3 - Q1.

Why so:
- Station sizes are roughly log-normal (a busy city-centre station takes in tens of times what a
  suburban one does), so the spread is judged on the log scale: a multiplicative outlier.
- Quartiles, not the mean and standard deviation, so that the outlier itself cannot widen the
  fence that should catch it; 3 IQR (the "far out" fence) rather than 1.5 keeps the ordinary
  busy stations of a big city below it.
- The same city and the same day, so the 11.11 peak and a city's own level do not raise flags.
- The IQR is floored at log 2 (a doubling): when most stations of a city report the same count,
  a station with one carton more is not an anomaly. The fence is then at least 8 times Q3.
- A city-day with fewer than MIN_STATIONS stations with cartons flags nothing: quartiles of a
  handful of numbers say little. Station-days without cartons are neither counted nor flagged.

Reads only the daily station totals, in two queries whatever the data: how many stations had
each number of cartons, per city and day (station cartons are small whole numbers, so a city-day
of 10,000 stations has a few hundred distinct counts; on PostgreSQL one slice of the
(city, day, cartons) index, already in order), from which the order statistics around each
quartile are read off; then the rows above the fences.
"""

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Min, Sum
from django.db.models.functions import TruncDate

from recycling.days import SHANGHAI, day_bounds
from recycling.mobile import mask_mobile
from recycling.models import DropOff, FlagReview
from recycling.selectors import flag_subject
from stations.models import City

from .selectors import Window, big_read, days_in

FENCE_IQRS = 3.0
MIN_IQR = math.log(2)
MIN_STATIONS = 8
QUARTILES = (0.25, 0.75)


@dataclass(frozen=True)
class Fence:
    city_id: int
    day: date
    stations: int  # stations of the city with cartons that day
    q1: float  # log-cartons quartiles
    q3: float

    @property
    def iqr(self) -> float:
        return max(self.q3 - self.q1, MIN_IQR)

    @property
    def log_limit(self) -> float:
        return self.q3 + FENCE_IQRS * self.iqr

    @property
    def limit(self) -> float:
        """The fence in cartons: a station-day above it is flagged."""
        return math.exp(self.log_limit)

    @property
    def min_flagged(self) -> int:
        """The fewest whole cartons above the fence, exactly as is_anomalous compares them."""
        cartons = max(1, math.floor(self.limit))
        while cartons > 1 and math.log(cartons - 1) > self.log_limit:
            cartons -= 1
        while not math.log(cartons) > self.log_limit:
            cartons += 1
        return cartons

    @property
    def median_like(self) -> float:
        """exp(Q3): the typical busy station of the city that day, for the reader."""
        return math.exp(self.q3)


@dataclass(frozen=True)
class Flag:
    day: date
    station_id: int
    station_code: str
    station_name: str
    city_id: int
    city_code: str
    cartons: int
    fence: Fence
    kind: str = FlagReview.Kind.STATION_DAY

    @property
    def subject(self) -> str:
        return flag_subject(of=self.station_id, day=self.day)

    @property
    def times_q3(self) -> float:
        return self.cartons / self.fence.median_like


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics, as PostgreSQL's percentile_cont."""
    position = q * (len(values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (position - low) * (values[high] - values[low])


def is_anomalous(cartons: int, others_that_day: list[int]) -> bool:
    """The rule on plain numbers (`others_that_day` includes the station itself), for tests
    and for reading: the SQL below applies the same rule to a whole city or country."""
    logs = sorted(math.log(c) for c in others_that_day if c > 0)
    if cartons <= 0 or len(logs) < MIN_STATIONS:
        return False
    q1, q3 = (quantile(logs, q) for q in QUARTILES)
    return math.log(cartons) > q3 + FENCE_IQRS * max(q3 - q1, MIN_IQR)


# How many stations of each city had each number of cartons on each day. The order statistics
# each quartile interpolates between are read off these counts in Python (_order_statistics).
_HISTOGRAM_SQL = """
SELECT city_id, day, cartons, COUNT(*) FROM recycling_dailystationtotal
WHERE {days} AND cartons > 0 {city}
GROUP BY city_id, day, cartons
ORDER BY city_id, day, cartons
"""

_FLAGS_SQL = """
SELECT t.day, t.station_id, s.code, s.name, t.city_id, c.code, t.cartons
FROM recycling_dailystationtotal t
JOIN stations_station s ON s.id = t.station_id
JOIN stations_city c ON c.id = t.city_id
WHERE {days} {city} AND ({fences})
ORDER BY t.day, c.code, t.cartons DESC, s.code
"""


def _order_statistics(histogram: list[tuple]) -> list[tuple]:
    """(city_id, day, stations, n, cartons) for the 1-based ranks n each quartile interpolates
    between, floor(h) + 1 and floor(h) + 2 for h = q * (stations - 1), of each city-day with at
    least MIN_STATIONS stations with cartons; from rows (city_id, day, cartons, stations with
    that many cartons) in order of city, day and cartons."""
    groups: dict[tuple[int, date], list[tuple[int, int]]] = {}
    for city_id, day, cartons, count in histogram:
        groups.setdefault((city_id, day), []).append((cartons, count))
    rows = []
    for (city_id, day), counts in groups.items():
        stations = sum(count for _cartons, count in counts)
        if stations < MIN_STATIONS:
            continue
        wanted = sorted(
            {(stations - 1) * k // 4 + step for k in (1, 3) for step in (1, 2)} & set(range(1, stations + 1))
        )
        last_rank, position = 0, 0
        for cartons, count in counts:
            last_rank += count
            while position < len(wanted) and wanted[position] <= last_rank:
                rows.append((city_id, day, stations, wanted[position], cartons))
                position += 1
    return rows


def _fences(rows: list[tuple]) -> dict[tuple[int, date], Fence]:
    by_group: dict[tuple[int, date], tuple[int, dict[int, int]]] = {}
    for city_id, day, stations, n, cartons in rows:
        by_group.setdefault((city_id, day), (stations, {}))[1][n] = cartons
    fences = {}
    for (city_id, day), (stations, ranks) in by_group.items():
        q = []
        for quartile in QUARTILES:
            position = quartile * (stations - 1)
            low = math.floor(position)
            low_value = math.log(ranks[low + 1])
            high_value = math.log(ranks.get(low + 2, ranks[low + 1]))
            q.append(low_value + (position - low) * (high_value - low_value))
        fences[(city_id, day)] = Fence(city_id=city_id, day=day, stations=stations, q1=q[0], q3=q[1])
    return fences


def flag_station_days(*, window: Window, city: City | None = None, day: date | None = None) -> list[Flag]:
    """Flagged station-days of one city over the window, or of every city on one day of it."""
    if day is not None:
        window = replace(window, start=day, end=day)
    ops = connection.ops
    days, params = days_in(window, "t.day")
    city_filter = ""
    if city is not None:
        city_filter = "AND city_id = %(city)s"
        params["city"] = city.pk
    with big_read() as cursor:
        cursor.execute(_HISTOGRAM_SQL.format(days=days.replace("t.day", "day"), city=city_filter), params)
        fences = _fences(_order_statistics(cursor.fetchall()))
        # The second query runs even with no fence (and finds nothing): a page runs the same
        # number of queries whatever the data.
        conditions = []
        for n, ((city_id, fence_day), fence) in enumerate(sorted(fences.items(), key=lambda item: item[0][1])):
            params[f"c{n}"], params[f"d{n}"] = city_id, ops.adapt_datefield_value(fence_day)
            params[f"m{n}"] = fence.min_flagged
            conditions.append(f"(t.city_id = %(c{n})s AND t.day = %(d{n})s AND t.cartons >= %(m{n})s)")
        cursor.execute(
            _FLAGS_SQL.format(
                days=days, city=city_filter.replace("city_id", "t.city_id"), fences=" OR ".join(conditions) or "1 = 0"
            ),
            params,
        )
        rows = cursor.fetchall()
    flags = []
    for flag_day, station_id, code, name, city_id, city_code, cartons in rows:
        flag_day = flag_day if isinstance(flag_day, date) else date.fromisoformat(flag_day)
        flags.append(
            Flag(
                day=flag_day,
                station_id=station_id,
                station_code=code,
                station_name=name,
                city_id=city_id,
                city_code=city_code,
                cartons=cartons,
                fence=fences[(city_id, flag_day)],
            )
        )
    return flags


# More signals, read from the drop-offs themselves ----------------------------------------------
#
# The station-day fence above reads the daily totals. Three more signals need who did what, so
# they read the drop-offs of the days shown (one city over the range, or every city on one day,
# as the fence), each in one query:
# - a member whose earning cartons reached the daily cap with drop-offs at MIN_CAP_STATIONS or
#   more stations that day: a member does not usually carry a cap's worth of cartons round
#   several stations, a collector (or a borrowed member code) does;
# - a staff user whose cartons logged that day are above the far-out fence (the rule above, on
#   the staff users of the same city that day, at least MIN_STATIONS of them): one login
#   logging for many members who never came;
# - a drop-off recorded long after it happened (GREENBOX_LATE_DROPOFF_FLAG_HOURS, never more
#   than the desk's window), which includes every drop-off of an offline batch beyond the
#   desk's window: back-dating is how caps are walked round.
# Each flag is a (kind, subject) that ops review or act on (recycling.reviews).

MIN_CAP_STATIONS = 3


@dataclass(frozen=True)
class CapFlag:
    day: date
    member_id: int
    member: str  # the masked mobile number
    stations: int
    cartons: int
    earning_cartons: int
    cap: int
    kind: str = FlagReview.Kind.CAP_AT_STATIONS

    @property
    def subject(self) -> str:
        return flag_subject(of=self.member_id, day=self.day)


@dataclass(frozen=True)
class StaffFlag:
    day: date
    user_id: int
    username: str
    city_code: str
    cartons: int
    dropoffs: int
    fence: Fence  # over the city's staff users that day (`stations` counts them)
    kind: str = FlagReview.Kind.STAFF_DAY

    @property
    def subject(self) -> str:
        return flag_subject(of=self.user_id, day=self.day)


@dataclass(frozen=True)
class LateFlag:
    dropoff_id: int
    occurred_at: datetime
    recorded_at: datetime
    station_code: str
    logged_by: str
    cartons: int
    points: int
    status: str
    kind: str = FlagReview.Kind.LATE_RECORD

    @property
    def subject(self) -> str:
        return flag_subject(of=self.dropoff_id)

    @property
    def hours_late(self) -> float:
        return round((self.recorded_at - self.occurred_at).total_seconds() / 3600, 1)


def late_flag_after() -> timedelta:
    """How long after it happened a drop-off's recording is flagged: never more than the desk's
    window, so that every drop-off only an offline batch could record is flagged."""
    return timedelta(hours=min(settings.GREENBOX_LATE_DROPOFF_FLAG_HOURS, settings.GREENBOX_DROPOFF_MAX_AGE_HOURS))


def _dropoffs_of(window: Window, city: City | None, day: date | None):
    """The drop-offs of the days shown: the city's over the window, or every city's on `day`."""
    first, last = (day, day) if day is not None else (window.start, window.end)
    dropoffs = DropOff.objects.filter(occurred_at__gte=day_bounds(first)[0], occurred_at__lt=day_bounds(last)[1])
    return dropoffs.filter(station__city=city) if city is not None else dropoffs


def flag_cap_at_stations(*, window: Window, city: City | None = None, day: date | None = None) -> list[CapFlag]:
    rows = (
        _dropoffs_of(window, city, day)
        .filter(status=DropOff.Status.ACCEPTED)
        .annotate(day=TruncDate("occurred_at", tzinfo=SHANGHAI))
        .values("day", "member_id", "member__mobile")
        .annotate(
            stations=Count("station_id", distinct=True),
            cartons=Sum("cartons"),
            earning=Sum("earning_cartons"),
            cap=Min("rule__daily_carton_cap"),
        )
        .filter(stations__gte=MIN_CAP_STATIONS, earning__gte=F("cap"))
        .order_by("day", "-stations", "member_id")
    )
    return [
        CapFlag(
            day=row["day"],
            member_id=row["member_id"],
            member=mask_mobile(row["member__mobile"] or ""),  # a deleted account has no number
            stations=row["stations"],
            cartons=row["cartons"],
            earning_cartons=row["earning"],
            cap=row["cap"],
        )
        for row in rows
    ]


def flag_staff_days(*, window: Window, city: City | None = None, day: date | None = None) -> list[StaffFlag]:
    rows = (
        _dropoffs_of(window, city, day)
        .filter(status=DropOff.Status.ACCEPTED)
        .annotate(day=TruncDate("occurred_at", tzinfo=SHANGHAI))
        .values("day", "station__city_id", "station__city__code", "logged_by_id", "logged_by__username")
        .annotate(cartons=Sum("cartons"), dropoffs=Count("id"))
        .order_by()
    )
    groups: dict[tuple[int, date], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["station__city_id"], row["day"]), []).append(row)
    flags = []
    for (city_id, flag_day), staff_rows in groups.items():
        logs = sorted(math.log(row["cartons"]) for row in staff_rows)
        if len(logs) < MIN_STATIONS:
            continue
        q1, q3 = (quantile(logs, q) for q in QUARTILES)
        fence = Fence(city_id=city_id, day=flag_day, stations=len(logs), q1=q1, q3=q3)
        flags.extend(
            StaffFlag(
                day=flag_day,
                user_id=row["logged_by_id"],
                username=row["logged_by__username"],
                city_code=row["station__city__code"],
                cartons=row["cartons"],
                dropoffs=row["dropoffs"],
                fence=fence,
            )
            for row in staff_rows
            if math.log(row["cartons"]) > fence.log_limit
        )
    return sorted(flags, key=lambda flag: (flag.day, flag.city_code, -flag.cartons, flag.username))


def flag_late_records(*, window: Window, city: City | None = None, day: date | None = None) -> list[LateFlag]:
    rows = (
        _dropoffs_of(window, city, day)
        .filter(recorded_at__gt=F("occurred_at") + late_flag_after())
        .values_list(
            "pk", "occurred_at", "recorded_at", "station__code", "logged_by__username", "cartons", "points", "status"
        )
        .order_by("occurred_at", "pk")
    )
    return [LateFlag(*row) for row in rows]
