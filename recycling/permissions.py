"""What a station role may do beyond working at the station (stations.selectors.works_at).

A station manager (StationStaff.Role.MANAGER, and a superuser everywhere) voids any drop-off of
their station, adjusts its rewards' stock and records its cartons baled (stations.selectors.
manages, used by rewards.services.adjust_stock and recycling.services.record_carton_movement).
A plain staff user logs drop-offs, hands out rewards and records cartons reused, and voids only
a drop-off they logged themselves within STAFF_VOID_WINDOW of logging it: the undo of a
mistaken entry, not a way to take back points later.
"""

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser

from stations.models import StationStaff
from stations.selectors import station_role

from .models import DropOff

STAFF_VOID_WINDOW = timedelta(minutes=15)


def can_void_dropoff(*, user: AbstractBaseUser, dropoff: DropOff, now: datetime) -> bool:
    """Whether `user` may void `dropoff` at `now`: the one statement of that rule, which the
    void service enforces (recycling.services.void_dropoff, behind the admin's action and the
    API) and the admin's action asks before it offers a void. One query (the role)."""
    role = station_role(user=user, station_id=dropoff.station_id)
    if role == StationStaff.Role.MANAGER:
        return True
    if role == StationStaff.Role.STAFF:
        return dropoff.logged_by_id == user.pk and now - dropoff.recorded_at <= STAFF_VOID_WINDOW
    return False
