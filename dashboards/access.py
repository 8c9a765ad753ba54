"""Who may open the dashboards: superusers and users in the "Ops" group, read-only.

The group is the one the REST API's ops read the daily totals with (api/reference_data.py
creates it too); both apps create it idempotently, so either may run first or alone.
Everyone else who is signed in (station staff, members, other staff) gets 403; a visitor
who is not signed in is sent to the ops sign-in page first.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

OPS_GROUP = "Ops"

OPS_PERMISSIONS = [
    ("recycling", "view_dailystationtotal"),
    ("recycling", "view_dailycitytotal"),
    ("recycling", "view_recyclingcampaign"),
]


def is_ops(user: AbstractBaseUser) -> bool:
    """A superuser or a member of the "Ops" group (one query, then cached on the user)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if not hasattr(user, "_dashboards_is_ops"):
        user._dashboards_is_ops = user.is_superuser or user.groups.filter(name=OPS_GROUP).exists()
    return user._dashboards_is_ops


def ops_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Sign-in first for anonymous visitors, then 403 for anyone who is not ops."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("dashboards:login"))
        if not is_ops(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def ensure_ops_group(**kwargs) -> None:
    """post_migrate: create the "Ops" group and give it the view permissions the dashboards'
    data stands on; never removes anything an administrator added to the group."""
    from django.contrib.auth.models import Group, Permission

    group, _created = Group.objects.get_or_create(name=OPS_GROUP)
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="recycling",
            codename__in=[codename for _app, codename in OPS_PERMISSIONS],
        )
    )
