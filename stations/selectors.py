"""Reads about stations that other apps share."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, QuerySet

from .models import Station, StationStaff

# Where station_for_staff() leaves its answers on the user object: {station id: works there}.
_WORKS_AT_MEMO = "_stations_works_at"


def station_list(*, city_code: str | None = None, is_active: bool | None = None) -> QuerySet[Station]:
    """Stations with their city, by code; only those of the city with `city_code` (any case) and
    of the given activity, when given."""
    stations = Station.objects.select_related("city").order_by("code")
    if city_code is not None:
        stations = stations.filter(city__code=city_code.upper())
    if is_active is not None:
        stations = stations.filter(is_active=is_active)
    return stations


def stations_for_user(*, user: AbstractBaseUser) -> QuerySet[Station]:
    """The stations a user may act at: all of them for a superuser, else the ones they work at."""
    if user.is_superuser:
        return Station.objects.all()
    return Station.objects.filter(staff__user=user)


def works_at(*, user: AbstractBaseUser, station: Station) -> bool:
    """Whether the user may log cartons and void drop-offs at this station.

    Answers from the memo station_for_staff() left on this user object, if any (the API loads the
    station and this answer in one query, then the service asks again); otherwise one query.
    """
    if user.is_superuser:
        return True
    remembered = getattr(user, _WORKS_AT_MEMO, {}).get(station.pk)
    if remembered is not None:
        return remembered
    return station.staff.filter(user=user).exists()


def station_for_staff(*, user: AbstractBaseUser, station_id: int) -> Station | None:
    """The station (with its city), or None; whether `user` works there is read in the same query
    and remembered on the user object for works_at().

    The memo lives as long as the user object: meant for request.user, which authentication loads
    afresh for every request, so it never outlives the request it was read in.
    """
    station = (
        Station.objects.select_related("city")
        .annotate(user_works_here=Exists(StationStaff.objects.filter(station=OuterRef("pk"), user_id=user.pk)))
        .filter(pk=station_id)
        .first()
    )
    if station is not None:
        memo = getattr(user, _WORKS_AT_MEMO, None)
        if memo is None:
            memo = {}
            setattr(user, _WORKS_AT_MEMO, memo)  # through a session's lazy user too
        memo[station.pk] = user.is_superuser or station.user_works_here
    return station
