"""Reads for the member pages. Writes go through recycling.services and rewards.services."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import DecimalField, ExpressionWrapper, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from recycling.days import SHANGHAI, shanghai_day
from recycling.models import DailyStationTotal, DropOff, Member
from rewards.models import Donation, Reward, StationStock
from stations.models import City, Station

WEEK_DAYS = 7


def member_for_user(*, user: AbstractBaseUser) -> Member | None:
    """The signed-in user's Member with its account, or None (staff, ops, anonymous)."""
    if not user.is_authenticated:
        return None
    return Member.objects.select_related("account", "user").filter(user=user).first()


@dataclass(frozen=True)
class MonthTotals:
    start: date  # the first day of the Shanghai month
    cartons: int
    points: int


@dataclass(frozen=True)
class MemberSummary:
    balance: int
    cartons: int  # accepted drop-offs only: voided ones do not count
    kg_co2e: Decimal
    notebooks: int
    this_month: MonthTotals
    last_month: MonthTotals


def month_start(day: date) -> date:
    return day.replace(day=1)


def previous_month_start(day: date) -> date:
    return month_start(month_start(day) - timedelta(days=1))


def _aware(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def member_summary(*, member: Member, now: datetime | None = None) -> MemberSummary:
    """Balance, cartons, carbon avoided, notebooks funded and this Shanghai month against the last.

    Carbon counts each accepted drop-off with the emission factor recorded on it (cartons x kg
    of board per carton x kg CO2e per kg), so a newer factor does not rewrite the past. Two
    queries whatever the member's history.
    """
    today = shanghai_day(now or timezone.now())
    this_start, last_start = month_start(today), previous_month_start(today)
    this_from, last_from = _aware(this_start), _aware(last_start)
    co2e = ExpressionWrapper(
        F("cartons") * F("emission_factor__kg_board_per_carton") * F("emission_factor__kg_co2e_per_kg"),
        output_field=DecimalField(max_digits=20, decimal_places=6),
    )
    this_month = Q(occurred_at__gte=this_from)
    last_month = Q(occurred_at__gte=last_from, occurred_at__lt=this_from)
    zero = 0
    totals = DropOff.objects.filter(member=member, status=DropOff.Status.ACCEPTED).aggregate(
        all_cartons=Coalesce(Sum("cartons"), zero, output_field=IntegerField()),
        kg_co2e=Sum(co2e),
        this_cartons=Coalesce(Sum("cartons", filter=this_month), zero, output_field=IntegerField()),
        this_points=Coalesce(Sum("points", filter=this_month), zero, output_field=IntegerField()),
        last_cartons=Coalesce(Sum("cartons", filter=last_month), zero, output_field=IntegerField()),
        last_points=Coalesce(Sum("points", filter=last_month), zero, output_field=IntegerField()),
    )
    notebooks = Donation.objects.filter(member=member).aggregate(total=Sum("notebooks"))["total"] or 0
    kg_co2e = Decimal(totals["kg_co2e"] or 0).quantize(Decimal("0.1"))
    return MemberSummary(
        balance=member.account.balance,
        cartons=totals["all_cartons"],
        kg_co2e=kg_co2e,
        notebooks=notebooks,
        this_month=MonthTotals(start=this_start, cartons=totals["this_cartons"], points=totals["this_points"]),
        last_month=MonthTotals(start=last_start, cartons=totals["last_cartons"], points=totals["last_points"]),
    )


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
