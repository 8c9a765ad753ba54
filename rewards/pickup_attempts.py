"""The limit on wrong pickup codes at a station's desk, per staff user and station.

A pickup code (6 digits) is what proves the member is at the counter; without a limit a staff
login could try codes until one hands out somebody's reward. Both hand-outs count (the admin's
and the API's collect by code, the admin's page of one reservation): after
GREENBOX_PICKUP_CODE_FAILURE_LIMIT wrong codes by one staff user at one station, that user is
refused further codes there (TooManyPickupCodes) until GREENBOX_PICKUP_CODE_COOLOFF has passed
since the first of them; other staff, and the same user at other stations, are not affected.

Why the cache and not django-axes: axes counts sign-ins (per account and client address), while
this counts a desk action per staff user and station, with no account to lock; and a count in
the database would be rolled back with the refused collection's transaction, which is exactly
when it must be kept. Django's cache is Redis in production (shared by every web worker), so
the count is across processes. Race condition: two wrong codes typed at the same moment may
both pass the check at the limit minus one; being one attempt inexact keeps this simple.
With the cache unreachable the desk keeps handing out rewards (the limit fails open, logged),
as the API's throttles do.
"""

import logging

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from stations.models import Station

from . import errors

logger = logging.getLogger(__name__)


def check_pickup_attempts(*, staff: AbstractBaseUser, station: Station) -> None:
    """Refuse (TooManyPickupCodes) a staff user who has typed too many wrong codes at the station."""
    try:
        failures = cache.get(_key(staff, station), 0)
    except RedisError:
        logger.warning("Pickup code limit not checked: the cache is unreachable", exc_info=True)
        return
    if failures >= settings.GREENBOX_PICKUP_CODE_FAILURE_LIMIT:
        minutes = int(settings.GREENBOX_PICKUP_CODE_COOLOFF.total_seconds() // 60)
        raise errors.TooManyPickupCodes(
            _(
                "Too many wrong pickup codes at this station: wait %(minutes)s minutes, "
                "then type the code the member shows again."
            )
            % {"minutes": minutes}
        )


def count_wrong_pickup_code(*, staff: AbstractBaseUser, station: Station) -> None:
    """Count one wrong code; the count expires GREENBOX_PICKUP_CODE_COOLOFF after its first."""
    key = _key(staff, station)
    try:
        cache.add(key, 0, timeout=settings.GREENBOX_PICKUP_CODE_COOLOFF.total_seconds())
        cache.incr(key)
    except ValueError:
        pass  # expired between add and incr: this failure starts no new count, harmlessly
    except RedisError:
        logger.warning("Wrong pickup code not counted: the cache is unreachable", exc_info=True)


def _key(staff: AbstractBaseUser, station: Station) -> str:
    return f"greenbox:pickup-code-failures:{staff.pk}:{station.pk}"
