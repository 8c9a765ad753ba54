"""Reads about stations that other apps share."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from .models import Station


def stations_for_user(*, user: AbstractBaseUser) -> QuerySet[Station]:
    """The stations a user may act at: all of them for a superuser, else the ones they work at."""
    if user.is_superuser:
        return Station.objects.all()
    return Station.objects.filter(staff__user=user)


def works_at(*, user: AbstractBaseUser, station: Station) -> bool:
    """Whether the user may log cartons and void drop-offs at this station."""
    return user.is_superuser or station.staff.filter(user=user).exists()
