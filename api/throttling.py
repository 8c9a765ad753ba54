"""Throttles: per user (or, for anonymous requests, per address) and per station.

Rates are REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (scopes "user", "anon", "station"), read
at every request so that a settings change applies. Counts live in Django's cache: Redis
when REDIS_URL is set, so every web worker shares them; per process otherwise.

Each rate is counted over a sliding window, estimated from two fixed-window counters (this
window's count, plus the previous window's weighted by how much of it the sliding window still
covers): two integers per user or station instead of DRF's list of every request's time. All
of a request's throttles are counted at once (check_throttles(), which api.views.ApiView
calls): on Redis one round trip of INCRs (atomic, so every worker's requests count) and GETs,
undone if the request is refused; on another cache (local memory, per process) a read and a
write.
"""

import math
import time

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle


class _WindowThrottle(BaseThrottle):
    """A rate for one scope; get_scope() and get_ident() say whose requests count together."""

    def get_scope(self, request, view) -> str:
        raise NotImplementedError

    def get_ident(self, request, view) -> str | None:
        """Whose requests count together; None: this request is not throttled here."""
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        """DRF's interface, for views that are not ApiViews (the schema's)."""
        self._wait = check_throttles(request, view, [self])
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


def check_throttles(request, view, throttles: list[_WindowThrottle]) -> float | None:
    """Count this request against every throttle that applies to it; None if all allow it, else
    the seconds to wait (the longest). A refused request is not counted."""
    now = time.time()
    windows = []  # (key of this window, key of the previous one, limit, duration, elapsed)
    for throttle in throttles:
        scope = throttle.get_scope(request, view)
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        ident = throttle.get_ident(request, view) if rate else None
        if ident is None:
            continue
        limit, duration = parse_rate(rate)
        window = int(now // duration)
        key = f"throttle:{scope}:{ident}:{duration}"
        windows.append((f"{key}:{window}", f"{key}:{window - 1}", limit, duration, now - window * duration))
    if not windows:
        return None
    counted = _count(windows)
    waits = [
        _wait(this=this, last=last, limit=limit, duration=duration, elapsed=elapsed)
        for (_current, _previous, limit, duration, elapsed), (this, last) in zip(windows, counted, strict=True)
        if last * (1 - elapsed / duration) + this > limit
    ]
    if waits:
        _uncount(windows)
        return max(waits)
    return None


def _count(windows: list[tuple]) -> list[tuple[int, int]]:
    """Count the request in each window's current counter; (current count with it, previous
    window's count) per window. Each counter lives two windows: its own, then as the next one's
    previous."""
    if hasattr(cache, "pipeline"):  # Redis: config.redis_cache.RedisCache
        pipeline = cache.pipeline()
        for current, previous, _limit, duration, _elapsed in windows:
            current = cache.make_and_validate_key(current)
            pipeline.incr(current)
            pipeline.expire(current, 2 * duration)
            pipeline.get(cache.make_and_validate_key(previous))
        replies = pipeline.execute()
        return [(int(replies[3 * n]), int(replies[3 * n + 2] or 0)) for n in range(len(windows))]
    counts = cache.get_many([key for current, previous, *_ in windows for key in (current, previous)])
    for current, _previous, _limit, duration, _elapsed in windows:
        counts[current] = counts.get(current, 0) + 1
        cache.set(current, counts[current], timeout=2 * duration)
    return [(counts[current], counts.get(previous, 0)) for current, previous, *_ in windows]


def _uncount(windows: list[tuple]) -> None:
    """Take back what _count() added: a refused request does not count."""
    if hasattr(cache, "pipeline"):
        pipeline = cache.pipeline()
        for current, *_ in windows:
            pipeline.decr(cache.make_and_validate_key(current))
        pipeline.execute()
        return
    for current, _previous, _limit, duration, _elapsed in windows:
        cache.set(current, cache.get(current, 1) - 1, timeout=2 * duration)


def _wait(*, this: int, last: int, limit: int, duration: int, elapsed: float) -> float:
    """Seconds until one more request fits (this request is counted in `this`): once the previous
    window's weight has fallen far enough, or at the next window if this one alone is full."""
    if this > limit or last == 0:
        return max(1.0, math.ceil(duration - elapsed))
    return max(1.0, math.ceil(duration * (1 - (limit - this) / last) - elapsed))


def parse_rate(rate: str) -> tuple[int, int]:
    """DRF's rate syntax: "600/min" is (600, 60); the period's first letter counts (s, m, h, d)."""
    number, period = rate.split("/")
    return int(number), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]


class UserThrottle(_WindowThrottle):
    """Every request: per user ("user"), or per client address when anonymous ("anon")."""

    def get_scope(self, request, view) -> str:
        return "user" if request.user.is_authenticated else "anon"

    def get_ident(self, request, view) -> str:
        return str(request.user.pk) if request.user.is_authenticated else BaseThrottle.get_ident(self, request)


class StationThrottle(_WindowThrottle):
    """Writes at one station ("station"), whoever sends them: a station's devices share its rate,
    and guessing pickup codes at a station is slowed down whatever account tries.

    The view names the station with throttle_station_id(request), read from the body or the URL;
    a request without a recognisable station is left to validation (not throttled here).
    """

    def get_scope(self, request, view) -> str:
        return "station"

    def get_ident(self, request, view) -> str | None:
        if request.method != "POST":
            return None
        station_id = view.throttle_station_id(request)
        return None if station_id is None else str(station_id)


def station_id_in_body(request) -> int | None:
    """The "station" of a JSON object body, if it is a plausible id."""
    data = request.data
    if isinstance(data, dict):
        station = data.get("station")
        if isinstance(station, int) and not isinstance(station, bool) and 0 < station < 2**63:
            return station
    return None
