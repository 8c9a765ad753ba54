"""Who may open the station desk, and at which station they stand.

Staff users (is_staff) who work at a station, and superusers. A visitor who is not signed in
is sent to the staff sign-in page (the admin's, which brings station staff back here); a
signed-in user who is not staff (a member) gets 403. The station is the one the user picked,
kept in the session and checked against stations_for_user() on every request, so removing
someone from a station takes effect at once; a user of one station never has to pick.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from stations.models import Station
from stations.selectors import stations_for_user

SESSION_KEY = "desk_station"


def session_station(request: HttpRequest) -> Station | None:
    """The station the user picked, if they may still act there; else their only station."""
    stations = stations_for_user(user=request.user).select_related("city")
    picked = request.session.get(SESSION_KEY)
    if isinstance(picked, int):
        station = stations.filter(pk=picked).first()
        if station is not None:
            return station
    if not request.user.is_superuser:
        only = list(stations[:2])
        if len(only) == 1:
            return only[0]
    return None


def pick_station(request: HttpRequest, station: Station) -> None:
    request.session[SESSION_KEY] = station.pk


def may_use_desk(user: AbstractBaseUser) -> bool:
    return user.is_active and user.is_staff


def desk_page(*, needs_station: bool = True) -> Callable:
    """Sign-in first, 403 for non-staff, then (unless needs_station is False) the picked
    station as request.desk_station, or the station picker when there is none yet."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            if not may_use_desk(request.user):
                raise PermissionDenied
            request.desk_station = session_station(request)
            if needs_station and request.desk_station is None:
                return redirect("desk:station")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
