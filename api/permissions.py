"""Who may call what. Roles come from the data, not from flags on the user:

- a member is a user with a recycling.Member (user.member): sees only their own data;
- station staff are users with StationStaff rows (stations.selectors): act only at those
  stations (a superuser counts as working at every station, as in the admin);
- ops are superusers and members of the "Ops" group: read the daily totals.

These classes check the role; which objects a user reaches is the querysets' job (views
filter by role, so another party's object is a 404) and the services' (a drop-off at a
station the user does not work at is refused with not_station_staff).

A station device's token narrows its user's reach to that one station (token_station_id,
check_token_station): a tablet taken from one station cannot log cartons at the user's other
stations. It never widens it: the user's assignments still decide, at that station, what the
token may do. A partner's token (no station) and a signed-in session reach what the user does.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from recycling.models import Member
from stations.models import StationStaff

from .models import ApiToken
from .reference_data import OPS_GROUP


def member_of(user: AbstractBaseUser) -> Member | None:
    """The user's Member, or None (one query, then cached on the user by Django's descriptor)."""
    if not user.is_authenticated:
        return None
    try:
        return user.member
    except Member.DoesNotExist:
        return None


def token_station_id(request) -> int | None:
    """The station the request's token is bound to (a station device's), or None."""
    token = request.auth
    return token.station_id if isinstance(token, ApiToken) else None


class TokenForAnotherStation(PermissionDenied):
    default_detail = _("This token belongs to another station's device: it acts at its own station only.")
    default_code = "token_for_another_station"


def check_token_station(request, station_id: int) -> None:
    """Refuse (403 token_for_another_station) a station device's token used at another station."""
    bound = token_station_id(request)
    if bound is not None and bound != station_id:
        raise TokenForAnotherStation()


def is_station_staff(user: AbstractBaseUser) -> bool:
    """Whether the user works at any station (or is a superuser): one EXISTS query each time asked."""
    if not user.is_authenticated:
        return False
    return user.is_superuser or StationStaff.objects.filter(user=user).exists()


def is_ops(user: AbstractBaseUser) -> bool:
    return user.is_authenticated and (user.is_superuser or user.groups.filter(name=OPS_GROUP).exists())


class IsMember(BasePermission):
    message = _("This is for members: sign in with a member's account.")
    code = "not_a_member"

    def has_permission(self, request, view) -> bool:
        return member_of(request.user) is not None


class IsStationStaff(BasePermission):
    message = _("This is for station staff.")
    code = "not_station_staff"

    def has_permission(self, request, view) -> bool:
        return is_station_staff(request.user)


class IsStaffOrMember(BasePermission):
    message = _("This is for station staff and members.")
    code = "not_staff_or_member"

    def has_permission(self, request, view) -> bool:
        return is_station_staff(request.user) or member_of(request.user) is not None


class IsOps(BasePermission):
    message = _("This is for the operations team.")
    code = "not_ops"

    def has_permission(self, request, view) -> bool:
        return is_ops(request.user)
