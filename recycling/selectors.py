"""Reads about members, drop-offs and earning rules."""

from datetime import datetime

from django.db.models import F, Q, Sum

from stations.models import City

from .days import day_bounds, shanghai_day
from .models import DropOff, EarningRule, Member


def earning_rule_in_force(*, city: City, at: datetime) -> EarningRule | None:
    """The rule for `city` at `at`: the city's own rule beats a national one, then the latest start wins."""
    return (
        EarningRule.objects.filter(Q(city=city) | Q(city__isnull=True), valid_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .order_by(F("city_id").asc(nulls_last=True), "-valid_from")
        .first()
    )


def earning_cartons_on_day(*, member: Member, at: datetime) -> int:
    """Cartons that earned points for the member on the Shanghai day of `at` (voided ones excluded)."""
    start, end = day_bounds(shanghai_day(at))
    total = DropOff.objects.filter(
        member=member, status=DropOff.Status.ACCEPTED, occurred_at__gte=start, occurred_at__lt=end
    ).aggregate(total=Sum("earning_cartons"))["total"]
    return total or 0
