"""Throttles: DRF's per user (AnonRateThrottle, UserRateThrottle) and one per station.

Rates are REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (scopes "anon", "user", "station"); DRF reads
them once, when rest_framework.throttling is imported. Counts live in Django's cache: Redis when
REDIS_URL is set, so every web worker shares them; per process otherwise.
"""

from rest_framework.throttling import SimpleRateThrottle


class StationRateThrottle(SimpleRateThrottle):
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
