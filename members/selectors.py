"""Reads for the member pages. Writes go through recycling.services and rewards.services."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, FloatField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from recycling.days import shanghai_day
from recycling.models import DailyStationTotal, DropOff, Member
from rewards.models import Reward, StationStock
from stations.divisions import PROVINCES, pinyin_syllables, province_name
from stations.models import City, Station

WEEK_DAYS = 7


def member_for_user(*, user: AbstractBaseUser) -> Member | None:
    """The signed-in user's Member with its account, or None (staff, ops, anonymous)."""
    if not user.is_authenticated:
        return None
    return Member.objects.select_related("account", "user").filter(user=user).first()


def cities_with_stations() -> QuerySet[City]:
    """Cities with at least one active station, for the city pickers."""
    return City.objects.filter(stations__is_active=True).distinct().order_by("code")


def active_stations(*, city: City) -> QuerySet[Station]:
    return Station.objects.filter(city=city, is_active=True).order_by("code")


def available_rewards(*, now: datetime | None = None) -> QuerySet[Reward]:
    """Goods a member can reserve now (donation entries are donated to, on the donate page)."""
    now = now or timezone.now()
    return Reward.objects.filter(
        Q(active_until__isnull=True) | Q(active_until__gt=now),
        kind=Reward.Kind.GOODS,
        is_active=True,
        active_from__lte=now,
    ).order_by("points_cost", "name")


def catalog_at_station(*, station: Station | None, now: datetime | None = None) -> QuerySet[Reward]:
    """The reservable rewards, each with `in_stock`: its quantity at `station` (None without one)."""
    rewards = available_rewards(now=now)
    if station is None:
        return rewards
    stock = StationStock.objects.filter(station=station, reward=OuterRef("pk")).values("quantity")[:1]
    return rewards.annotate(in_stock=Coalesce(Subquery(stock), 0))


def stock_by_station(*, stations: list[Station], now: datetime | None = None) -> dict[int, list[StationStock]]:
    """The reservable rewards in stock (quantity > 0) at each of `stations`, in one query."""
    now = now or timezone.now()
    rows = (
        StationStock.objects.filter(station__in=stations, quantity__gt=0, reward__in=available_rewards(now=now))
        .select_related("reward")
        .order_by("reward__points_cost", "reward__name")
    )
    stock: dict[int, list[StationStock]] = {station.pk: [] for station in stations}
    for row in rows:
        stock[row.station_id].append(row)
    return stock


def cartons_this_week(*, stations: list[Station], now: datetime | None = None) -> dict[int, int]:
    """Cartons collected at each station over the last 7 Shanghai days (today included), read
    from the daily station totals only: never from the drop-offs themselves."""
    today = shanghai_day(now or timezone.now())
    totals = dict(
        DailyStationTotal.objects.filter(
            station__in=stations, day__range=(today - timedelta(days=WEEK_DAYS - 1), today)
        )
        .values("station_id")
        .annotate(total=Sum("cartons"))
        .values_list("station_id", "total")
    )
    return {station.pk: totals.get(station.pk, 0) for station in stations}


# --- The station finder -------------------------------------------------------------------

NEAREST_STATIONS = 5
EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class FinderCity:
    city: City
    search: str  # what the filter matches: Chinese name, English name, pinyin and its initials


@dataclass(frozen=True)
class FinderProvince:
    name: str  # in the active language
    cities: list[FinderCity]


def cities_by_province() -> list[FinderProvince]:
    """The cities with an active station grouped by province, for the finder: provinces in the
    order of their division codes (Beijing first, Xinjiang last), cities by pinyin within each,
    each with the words a member may type to find it (杭州, Hangzhou, hangzhou, hz)."""
    groups: dict[str, list[tuple[str, FinderCity]]] = {}
    for city in cities_with_stations():
        syllables = pinyin_syllables(city.name_zh)
        pinyin = "".join(syllables).replace("ü", "v")
        words = [city.name_zh, city.name, pinyin, "".join(s[0] for s in syllables), city.province]
        finder_city = FinderCity(city=city, search=" ".join(words).lower())
        groups.setdefault(city.province, []).append((pinyin, finder_city))
    order = {name_zh: code for code, (name_zh, _name) in PROVINCES.items()}
    provinces = []
    for province_zh in sorted(groups, key=lambda name: (order.get(name, "99"), name)):
        cities = [item for _pinyin, item in sorted(groups[province_zh], key=lambda pair: (pair[0], pair[1].city.pk))]
        provinces.append(FinderProvince(name=province_name(province_zh), cities=cities))
    return provinces


@dataclass(frozen=True)
class NearStation:
    station: Station
    km: float


def nearest_stations(*, latitude: float, longitude: float, limit: int = NEAREST_STATIONS) -> list[NearStation]:
    """The active stations nearest to a point, nearest first, with their great-circle distance.

    The database orders by a flat-earth distance (degrees of longitude shrunk by the cosine of the
    latitude), good to a fraction of a percent at a city's scale, and the few it returns get
    their haversine distance here."""
    shrink = math.cos(math.radians(latitude))
    stations = (
        Station.objects.filter(is_active=True, latitude__isnull=False, longitude__isnull=False)
        .select_related("city")
        .annotate(lat=Cast("latitude", FloatField()), lng=Cast("longitude", FloatField()))
        .annotate(
            flat=(F("lat") - latitude) * (F("lat") - latitude)
            + (F("lng") - longitude) * (F("lng") - longitude) * (shrink * shrink)
        )
        .order_by("flat", "code")[:limit]
    )
    return [NearStation(s, haversine_km(latitude, longitude, float(s.latitude), float(s.longitude))) for s in stations]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def last_used_station(*, member: Member, saved_station_id: int | None = None) -> Station | None:
    """The station the member last used: the one they chose last (kept in their session), else
    that of their last drop-off that stands; only an active one."""
    if saved_station_id is not None:
        saved = Station.objects.filter(pk=saved_station_id, is_active=True).select_related("city").first()
        if saved is not None:
            return saved
    last = (
        DropOff.objects.filter(member=member, station__is_active=True)
        .exclude(status=DropOff.Status.VOIDED)
        .order_by("-occurred_at", "-pk")
        .values_list("station_id", flat=True)
        .first()
    )
    return Station.objects.select_related("city").filter(pk=last).first() if last else None
