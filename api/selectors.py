"""Reads the API needs beyond one line: who sees which drop-offs, and a member's figures.

(member_figures() would sit well in recycling/selectors.py once the member pages need it too.)
"""

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import DecimalField, ExpressionWrapper, F, Q, QuerySet, Sum

from recycling.models import DropOff, Member
from stations.selectors import stations_for_user

from .permissions import is_station_staff, member_of


def dropoffs_visible_to(*, user: AbstractBaseUser) -> QuerySet[DropOff]:
    """Drop-offs at the stations the user works at, and the user's own as a member."""
    dropoffs = DropOff.objects.select_related("station", "member").order_by("-occurred_at", "-pk")
    if user.is_superuser:
        return dropoffs
    visible = Q(pk__in=[])
    if is_station_staff(user):
        visible |= Q(station__in=stations_for_user(user=user))
    member = member_of(user)
    if member is not None:
        visible |= Q(member=member)
    return dropoffs.filter(visible)


def dropoff_list(
    *, user: AbstractBaseUser, station_id: int | None = None, status: str | None = None
) -> QuerySet[DropOff]:
    """dropoffs_visible_to(), at one station and of one status when given."""
    dropoffs = dropoffs_visible_to(user=user)
    if station_id is not None:
        dropoffs = dropoffs.filter(station_id=station_id)
    if status is not None:
        dropoffs = dropoffs.filter(status=status)
    return dropoffs


@dataclass(frozen=True)
class MemberFigures:
    balance: int
    cartons: int
    kg_co2e: Decimal


def member_figures(*, member: Member) -> MemberFigures:
    """Balance, cartons recycled and kg CO2e avoided (each drop-off with the factor it recorded)."""
    co2e = ExpressionWrapper(
        F("cartons") * F("emission_factor__kg_board_per_carton") * F("emission_factor__kg_co2e_per_kg"),
        output_field=DecimalField(max_digits=20, decimal_places=6),
    )
    totals = DropOff.objects.filter(member=member, status=DropOff.Status.ACCEPTED).aggregate(
        total_cartons=Sum("cartons"), total_co2e=Sum(co2e)
    )
    return MemberFigures(
        balance=member.account.balance,
        cartons=totals["total_cartons"] or 0,
        kg_co2e=Decimal(str(totals["total_co2e"] or 0)).quantize(Decimal("0.001")),
    )
