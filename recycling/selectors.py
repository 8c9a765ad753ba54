"""Reads about members, drop-offs and earning rules."""

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, DecimalField, Exists, ExpressionWrapper, F, IntegerField, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from stations.selectors import stations_for_user

from . import errors
from .days import SHANGHAI, cap_period_days, day_bounds, shanghai_day
from .mobile import normalize_mobile
from .models import (
    MEMBER_CODE_PATTERN,
    DailyCityTotal,
    DailyStationTotal,
    DropOff,
    EarningRule,
    EmissionFactor,
    FlagReview,
    Member,
    RecyclingCampaign,
)
from .pricing import EarnedTally, price_dropoff, rule_in_force


@dataclass(frozen=True)
class EarningTerms:
    """What a drop-off at some time earns under: the earning rule and the emission factor in force."""

    rule: EarningRule | None
    emission_factor_id: int | None


# The drop-off write's reads are raw SQL over model instances (Model.objects.raw) or rows: on the
# write path the ORM's query building cost about 1 ms of CPU per read (1.45 ms for the rules,
# 1.06 ms for the day's cartons, 0.45 ms for the members) against 0.15 to 0.3 ms for the same
# statement raw, and with it single drop-off POSTs ran at 7.7% of the minimal drop-off
# transaction's rate against a target of 15% (bench/bench_api.py). Arrays, not IN lists, keep
# each statement's text the same whatever the number of items, so it is prepared once.


def earning_terms_at(*, city_id: int, times: Collection[datetime]) -> dict[datetime, EarningTerms]:
    """The earning rule (recycling.pricing.rule_in_force: the city's own beats a national one,
    then the latest start wins) and the emission factor (the latest valid_from on or before the
    Shanghai day) in force at each of `times`, in two queries whatever their number.

    Read at every drop-off rather than cached, so a rule or factor changed in the admin applies
    to the very next drop-off in every process.
    """
    if not times:
        return {}
    first, last = min(times), max(times)
    rules = list(
        EarningRule.objects.raw(
            "SELECT * FROM recycling_earningrule WHERE (city_id = %s OR city_id IS NULL)"
            " AND valid_from <= %s AND (valid_to IS NULL OR valid_to > %s)",
            [city_id, last, first],
        )
    )
    factors = _factors_in_force(at=last)  # latest first
    return {
        at: EarningTerms(
            rule=rule_in_force(rules, city_id=city_id, at=at),
            emission_factor_id=next((f.pk for f in factors if f.valid_from <= shanghai_day(at)), None),
        )
        for at in times
    }


# --- Finding a member at the counter ---------------------------------------------------------

LAST_DIGITS = 4
_LAST_DIGITS = re.compile(rf"^[0-9]{{{LAST_DIGITS}}}$")
_CODE = re.compile(MEMBER_CODE_PATTERN)
_SEPARATORS = re.compile(r"[\s\-]")


@dataclass(frozen=True)
class MemberSearchTerm:
    by: str  # "code", "mobile" (the full number) or "last_digits"
    value: str


def member_search_term(term: str) -> MemberSearchTerm | None:
    """What a staff search means: a member code (the QR code, 16 characters), a full mobile
    number (any accepted spelling, full-width digits from Chinese IMEs too), or exactly its
    last 4 digits. None for anything else, which finds nobody: shorter or longer digit strings
    would let a masked number (138****5678) be completed digit by digit."""
    term = unicodedata.normalize("NFKC", term or "").strip()[:40]
    if not term:
        return None
    try:
        return MemberSearchTerm(by="mobile", value=normalize_mobile(term))
    except ValidationError:
        pass
    compact = _SEPARATORS.sub("", term)
    if _LAST_DIGITS.match(compact):
        return MemberSearchTerm(by="last_digits", value=compact)
    if _CODE.match(compact.upper()):
        return MemberSearchTerm(by="code", value=compact.upper())
    return None


def members_matching(*, user: AbstractBaseUser, what: MemberSearchTerm, limit: int) -> list[Member]:
    """The members a staff user's search term (member_search_term()) finds: the member with that
    code, the member with that full number (anywhere: the member is at the counter and says it),
    or the members whose number ends in those 4 digits among those who left cartons at one of
    the user's own stations (any station for a superuser). At most `limit`, deleted accounts
    never. Only recycling.services.search_members() calls it: it counts and audits the search."""
    members = Member.objects.filter(anonymised_at__isnull=True)
    if what.by == "code":
        members = members.filter(code=what.value)
    elif what.by == "mobile":
        members = members.filter(mobile=what.value)
    else:
        left_cartons = DropOff.objects.filter(member=OuterRef("pk"))
        if not user.is_superuser:  # a superuser's own stations are all of them
            left_cartons = left_cartons.filter(station__in=stations_for_user(user=user))
        members = members.filter(Exists(left_cartons), mobile__endswith=what.value)
    return list(members.order_by("pk")[:limit])


def members_by_code(*, codes: Collection[str]) -> dict[str, Member]:
    """The members with these codes (unknown ones are left out), by code."""
    members = Member.objects.raw("SELECT * FROM recycling_member WHERE code = ANY(%s)", [sorted(codes)])
    return {member.code: member for member in members}


def earning_cartons_on_days(*, member_ids: Collection[int], days: Collection[date]) -> dict[tuple[int, date], int]:
    """Cartons that earned points for each of the members on each Shanghai day from the first to
    the last of `days` (voided ones excluded), by (member id, day), in one query; a pair with
    none is left out."""
    if not member_ids or not days:
        return {}
    start, end = day_bounds(min(days))[0], day_bounds(max(days))[1]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT member_id, (occurred_at AT TIME ZONE %s)::date, sum(earning_cartons)"
            " FROM recycling_dropoff WHERE member_id = ANY(%s) AND status = %s"
            " AND occurred_at >= %s AND occurred_at < %s GROUP BY 1, 2",
            [str(SHANGHAI), sorted(member_ids), DropOff.Status.ACCEPTED, start, end],
        )
        return {(member_id, day): cartons for member_id, day, cartons in cursor.fetchall()}


def closed_campaigns_on_days(*, days: Collection[date], today: date) -> list[RecyclingCampaign]:
    """The campaigns over before `today` (last day earlier) whose days overlap `days`' span, in one query."""
    return list(RecyclingCampaign.objects.filter(end_day__lt=today, start_day__lte=max(days), end_day__gte=min(days)))


def emission_factor_in_force(*, at: datetime) -> EmissionFactor | None:
    """The factor with the latest valid_from on or before the Shanghai day of `at`."""
    return next(iter(_factors_in_force(at=at)), None)


def _factors_in_force(*, at: datetime) -> list[EmissionFactor]:
    """The factors valid from the Shanghai day of `at` or earlier, latest first (raw SQL: it is
    one of the drop-off write's reads, see above)."""
    return list(
        EmissionFactor.objects.raw(
            "SELECT * FROM recycling_emissionfactor WHERE valid_from <= %s ORDER BY valid_from DESC", [shanghai_day(at)]
        )
    )


@dataclass(frozen=True)
class MonthTotals:
    start: date  # the first day of the Shanghai month
    cartons: int
    points: int


@dataclass(frozen=True)
class MemberFigures:
    balance: int
    cartons: int  # accepted drop-offs only: voided ones do not count
    kg_co2e: Decimal  # to the gram
    this_month: MonthTotals
    last_month: MonthTotals


def month_start(day: date) -> date:
    return day.replace(day=1)


def previous_month_start(day: date) -> date:
    return month_start(month_start(day) - timedelta(days=1))


def member_figures(*, member: Member, now: datetime | None = None) -> MemberFigures:
    """Balance, cartons recycled, kg CO2e avoided, and this Shanghai month against the last: the
    figures the API's /me and the member's home page show. One query whatever the history
    (the balance is the cached one on the member's account, which the caller joined in).

    Carbon counts each accepted drop-off with the emission factor recorded on it (cartons x kg
    of board per carton x kg CO2e per kg), so a newer factor does not rewrite the past.
    """
    today = shanghai_day(now or timezone.now())
    this_start, last_start = month_start(today), previous_month_start(today)
    this_from, last_from = day_bounds(this_start)[0], day_bounds(last_start)[0]
    co2e = ExpressionWrapper(
        F("cartons") * F("emission_factor__kg_board_per_carton") * F("emission_factor__kg_co2e_per_kg"),
        output_field=DecimalField(max_digits=20, decimal_places=6),
    )
    this_month = Q(occurred_at__gte=this_from)
    last_month = Q(occurred_at__gte=last_from, occurred_at__lt=this_from)

    def total(field: str, only: Q | None = None) -> Coalesce:
        return Coalesce(Sum(field, filter=only), 0, output_field=IntegerField())

    totals = DropOff.objects.filter(member=member, status=DropOff.Status.ACCEPTED).aggregate(
        all_cartons=total("cartons"),
        kg_co2e=Sum(co2e),
        this_cartons=total("cartons", this_month),
        this_points=total("points", this_month),
        last_cartons=total("cartons", last_month),
        last_points=total("points", last_month),
    )
    return MemberFigures(
        balance=member.account.balance,
        cartons=totals["all_cartons"],
        kg_co2e=Decimal(totals["kg_co2e"] or 0).quantize(Decimal("0.001")),
        this_month=MonthTotals(start=this_start, cartons=totals["this_cartons"], points=totals["this_points"]),
        last_month=MonthTotals(start=last_start, cartons=totals["last_cartons"], points=totals["last_points"]),
    )


@dataclass(frozen=True)
class CampaignDay:
    day: date
    cartons: int
    cumulative: int
    compared_cartons: int | None  # the same day of the compared campaign (by day number)
    compared_cumulative: int | None


def campaign_days(*, campaign: RecyclingCampaign) -> list[CampaignDay]:
    """The campaign's national cartons day by day, beside the same day number of the campaign it is
    compared with (day 1 against day 1), read from the daily city totals only."""
    own = _national_cartons_by_day(campaign)
    earlier = _national_cartons_by_day(campaign.compared_with) if campaign.compared_with_id else None
    earlier_days = sorted(earlier) if earlier is not None else []
    rows, total, compared_total = [], 0, 0
    for n in range((campaign.end_day - campaign.start_day).days + 1):
        day = campaign.start_day + timedelta(days=n)
        total += own.get(day, 0)
        compared = None
        if earlier is not None and n < len(earlier_days):
            compared = earlier[earlier_days[n]]
            compared_total += compared
        rows.append(
            CampaignDay(
                day=day,
                cartons=own.get(day, 0),
                cumulative=total,
                compared_cartons=compared,
                compared_cumulative=compared_total if compared is not None else None,
            )
        )
    return rows


def _national_cartons_by_day(campaign: RecyclingCampaign) -> dict[date, int]:
    """Cartons per day over the whole campaign window (days without totals count 0)."""
    totals = dict(
        DailyCityTotal.objects.filter(day__range=(campaign.start_day, campaign.end_day))
        .values("day")
        .annotate(cartons=Sum("cartons"))
        .values_list("day", "cartons")
    )
    days = (campaign.end_day - campaign.start_day).days + 1
    return {
        campaign.start_day + timedelta(days=n): totals.get(campaign.start_day + timedelta(days=n), 0)
        for n in range(days)
    }


def campaign_cartons(*, campaign: RecyclingCampaign, through: date | None = None) -> int:
    """Cartons collected in the campaign window, up to and including `through` if given."""
    last = min(campaign.end_day, through) if through else campaign.end_day
    return (
        DailyCityTotal.objects.filter(day__range=(campaign.start_day, last)).aggregate(total=Sum("cartons"))["total"]
        or 0
    )


def city_totals(
    *, start: date | None = None, end: date | None = None, city_code: str | None = None
) -> QuerySet[DailyCityTotal]:
    """Daily city totals with their city, by day then city code; within the days and the city
    (its code in any case) given."""
    totals = _totals_in(DailyCityTotal.objects.select_related("city"), start=start, end=end, city_code=city_code)
    return totals.order_by("day", "city__code")


def station_totals(
    *,
    start: date | None = None,
    end: date | None = None,
    city_code: str | None = None,
    station_id: int | None = None,
) -> QuerySet[DailyStationTotal]:
    """Daily station totals with their station and city, by day then station code; within the
    days, the city (its code in any case) and the station given."""
    totals = _totals_in(
        DailyStationTotal.objects.select_related("station", "city"), start=start, end=end, city_code=city_code
    )
    if station_id is not None:
        totals = totals.filter(station_id=station_id)
    return totals.order_by("day", "station__code")


def _totals_in(totals: QuerySet, *, start: date | None, end: date | None, city_code: str | None) -> QuerySet:
    if start is not None:
        totals = totals.filter(day__gte=start)
    if end is not None:
        totals = totals.filter(day__lte=end)
    if city_code is not None:
        totals = totals.filter(city__code=city_code.upper())
    return totals


def flag_subject(*, of: int, day: date | None = None) -> str:
    """A flag's subject (FlagReview.subject): the id of what it is about, and its day if any."""
    return f"{of}:{day.isoformat()}" if day is not None else str(of)


def flag_dropoffs(*, kind: str, subject: str) -> QuerySet[DropOff]:
    """The drop-offs an anomaly flag is about, by time: a station's, a member's or a staff user's
    of the Shanghai day, or the one drop-off. Raises UnknownFlag for a kind or subject that is
    not a flag's."""
    of, _colon, day_text = subject.partition(":")
    if not of.isdigit() or len(of) > 18:
        raise errors.UnknownFlag()
    if kind == FlagReview.Kind.LATE_RECORD:
        if day_text:
            raise errors.UnknownFlag()
        return DropOff.objects.filter(pk=int(of))
    field = {
        FlagReview.Kind.STATION_DAY: "station_id",
        FlagReview.Kind.CAP_AT_STATIONS: "member_id",
        FlagReview.Kind.STAFF_DAY: "logged_by_id",
    }.get(kind)
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise errors.UnknownFlag() from None
    if field is None:
        raise errors.UnknownFlag()
    start, end = day_bounds(day)
    return DropOff.objects.filter(**{field: int(of)}, occurred_at__gte=start, occurred_at__lt=end).order_by(
        "occurred_at", "pk"
    )


# --- The station desk ------------------------------------------------------------------------


def earning_cartons_left(*, member: Member, city_id: int, at: datetime | None = None) -> int | None:
    """How many more cartons the member can leave at `at` (default: now) and still earn points
    in that city: the room under every cap of the rule in force there, after the member's
    earning cartons of the day, week and month (recycling.pricing.price_dropoff, as the drop-off
    write counts them). None when no rule is in force. Three queries."""
    at = at or timezone.now()
    rule = earning_terms_at(city_id=city_id, times={at})[at].rule
    if rule is None:
        return None
    day = shanghai_day(at)
    earned = EarnedTally(earning_cartons_on_days(member_ids={member.pk}, days=cap_period_days(day)))
    # No drop-off earns more than the daily cap, so pricing that many cartons finds the room left.
    price = price_dropoff(cartons=rule.daily_carton_cap, earned_before=earned.before(member.pk, day), rule=rule)
    return price.earning_cartons


@dataclass(frozen=True)
class StationDay:
    """A station's accepted drop-offs on one Shanghai day, counted live (the daily totals lag
    behind by up to the aggregation's 5 minutes, which a clerk would notice)."""

    dropoffs: int
    cartons: int
    points: int


def station_day(*, station_id: int, day: date) -> StationDay:
    start, end = day_bounds(day)
    figures = DropOff.objects.filter(
        station_id=station_id, status=DropOff.Status.ACCEPTED, occurred_at__gte=start, occurred_at__lt=end
    ).aggregate(
        dropoffs=Count("pk"),
        cartons=Coalesce(Sum("cartons"), 0),
        points=Coalesce(Sum("points"), 0),
    )
    return StationDay(**figures)


def station_dropoffs(*, station_id: int, day: date) -> QuerySet[DropOff]:
    """The station's drop-offs logged on a Shanghai day (voided ones too), latest first."""
    start, end = day_bounds(day)
    return (
        DropOff.objects.filter(station_id=station_id, occurred_at__gte=start, occurred_at__lt=end)
        .select_related("member", "logged_by")
        .order_by("-occurred_at", "-pk")
    )
