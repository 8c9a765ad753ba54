"""Throttles: per user (or, for anonymous requests, per address) and per station.

Rates are REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (scopes "user", "anon", "station"), read
at every request so that a settings change applies. Counts live in Django's cache: Redis
when REDIS_URL is set, so every web worker shares them; per process otherwise.
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class _SettingsRateThrottle(SimpleRateThrottle):
    def __init__(self):  # the rate is looked up per request, once the scope is known
        pass

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        self.scope = self.get_scope(request, view)
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_scope(self, request, view) -> str:
        raise NotImplementedError


class UserThrottle(_SettingsRateThrottle):
    """Every request: per user ("user"), or per client address when anonymous ("anon")."""

    def get_scope(self, request, view) -> str:
        return "user" if request.user.is_authenticated else "anon"

    def get_cache_key(self, request, view) -> str:
        ident = request.user.pk if request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class StationThrottle(_SettingsRateThrottle):
    """Writes at one station ("station"), whoever sends them: a station's devices share its rate,
    and guessing pickup codes at a station is slowed down whatever account tries.

    The view names the station with throttle_station_id(request), read from the body or the URL;
    a request without a recognisable station is left to validation (not throttled here).
    """

    def get_scope(self, request, view) -> str:
        return "station"

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
