"""Throttles: DRF's per user (AnonRateThrottle, UserRateThrottle) and one per station, each
failing open when Redis is down.

Rates are REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (scopes "anon", "user", "station"); DRF reads
them once, when rest_framework.throttling is imported. Counts live in Django's cache: Redis when
REDIS_URL is set, so every web worker shares them; per process otherwise.

Fail open: a throttle is a guard against floods, not part of a drop-off, so when the cache cannot
be reached the request goes through unthrottled rather than failing (station devices keep
logging cartons). Each such request is logged (WARNING on "greenbox.degraded") and counted in
PostgreSQL, per hour (audit.HourlyCount, kind "throttle_failed_open"), which ops read on
/ops/health/. After a failure the process leaves Redis alone for FAIL_OPEN_SECONDS, so an
unreachable server costs one connection time-out per process every few seconds, not two per
request.
"""

import time

from redis.exceptions import RedisError
from rest_framework import throttling
from rest_framework.throttling import SimpleRateThrottle

from audit.models import HourlyCount
from audit.services import count_per_hour
from core.unavailable import logger

FAIL_OPEN_SECONDS = 5.0


class _RedisDown:
    """When this process may try Redis again. Race condition: two threads failing at once may
    both retry Redis; it's OK to be a little inexact here."""

    retry_at = 0.0

    def skipping(self) -> bool:
        return time.monotonic() < self.retry_at

    def failed(self) -> None:
        self.retry_at = time.monotonic() + FAIL_OPEN_SECONDS


_redis_down = _RedisDown()


class FailOpenThrottle(SimpleRateThrottle):
    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        if _redis_down.skipping():
            if self.get_cache_key(request, view) is not None:  # a request this throttle counts
                self._let_through(request, error=None)
            return True
        try:
            return super().allow_request(request, view)
        except RedisError as error:  # only the cache's: a bad body (400, 413) still refuses
            self._let_through(request, error=error)
            return True

    def _let_through(self, request, *, error: RedisError | None) -> None:
        if error is not None:
            _redis_down.failed()
        count_per_hour(HourlyCount.Kind.THROTTLE_FAILED_OPEN)
        logger.warning(
            "throttle %s failed open (Redis unavailable%s): %s %s let through unthrottled",
            self.scope,
            f": {type(error).__name__}: {error}" if error else ", retried shortly",
            request.method,
            request.path[:200],
        )


class AnonRateThrottle(FailOpenThrottle, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(FailOpenThrottle, throttling.UserRateThrottle):
    pass


class StationRateThrottle(FailOpenThrottle):
    """Writes at one station ("station"), whoever sends them: a station's devices share its rate,
    and guessing pickup codes at a station is slowed down whatever account tries.

    The view names the station with throttle_station_id(request), read from the body or the URL;
    a request without a recognisable station is left to validation (not throttled here).
    """

    scope = "station"

    def get_cache_key(self, request, view) -> str | None:
        if request.method != "POST":
            return None
        station_id = view.throttle_station_id(request)
        if station_id is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": station_id}


def station_id_in_body(request) -> int | None:
    """The "station" of a JSON object body, if it is a plausible id."""
    data = request.data
    if isinstance(data, dict):
        station = data.get("station")
        if isinstance(station, int) and not isinstance(station, bool) and 0 < station < 2**63:
            return station
    return None
