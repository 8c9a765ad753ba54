"""Reads for the member pages. Writes go through recycling.services and rewards.services."""

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from recycling.days import shanghai_day
from recycling.models import DailyStationTotal, Member
from rewards.models import Reward, StationStock
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
