"""Reads the API needs beyond one line: who sees which drop-offs. (A member's figures are
recycling.selectors.member_figures, shared with the member pages.)"""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from recycling.models import DropOff
from stations.selectors import stations_for_user

from .permissions import member_of


def dropoffs_visible_to(*, user: AbstractBaseUser) -> QuerySet[DropOff]:
    """Drop-offs at the stations the user works at, and the user's own as a member."""
    dropoffs = DropOff.objects.select_related("station", "member").order_by("-occurred_at", "-pk")
    if user.is_superuser:
        return dropoffs
    visible = Q(station__in=stations_for_user(user=user))  # none for a user who is not station staff
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
