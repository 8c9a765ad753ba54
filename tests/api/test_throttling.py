"""The station's throttle (api.throttling.StationRateThrottle): DRF's SimpleRateThrottle, counted
per station that a write names, whoever sends it."""

from types import SimpleNamespace

import pytest
from django.core.cache import cache

from api.throttling import StationRateThrottle


@pytest.fixture(autouse=True)
def _no_counts():
    cache.clear()
    yield
    cache.clear()


def write(*, user: int, station: int | None, method: str = "POST") -> SimpleNamespace:
    user = SimpleNamespace(pk=user, is_authenticated=True)
    return SimpleNamespace(user=user, method=method, data={"station": station} if station else {})


VIEW = SimpleNamespace(throttle_station_id=lambda request: request.data.get("station"))


def allowed(n: int, request) -> int:
    """How many of n requests the station's throttle lets through."""
    return sum(StationRateThrottle().allow_request(request, VIEW) for _ in range(n))


def test_writes_at_a_station_share_its_rate_whoever_sends_them(throttle_rates):
    throttle_rates(station="3/min")
    assert allowed(2, write(user=1, station=7)) == 2
    assert allowed(3, write(user=2, station=7)) == 1
    assert allowed(3, write(user=2, station=8)) == 3  # another station's count


def test_a_refused_write_says_how_long_to_wait(throttle_rates):
    throttle_rates(station="1/min")
    assert allowed(1, write(user=1, station=7)) == 1
    throttle = StationRateThrottle()
    assert not throttle.allow_request(write(user=1, station=7), VIEW)
    assert 0 < throttle.wait() <= 60


def test_reads_and_writes_naming_no_station_are_not_counted_here(throttle_rates):
    throttle_rates(station="1/min")
    assert allowed(5, write(user=1, station=7, method="GET")) == 5
    assert allowed(5, write(user=1, station=None)) == 5
    assert allowed(1, write(user=1, station=7)) == 1  # none of the above used the station's rate


def test_a_scope_without_a_rate_is_not_throttled(throttle_rates):
    throttle_rates(station=None)
    assert allowed(50, write(user=1, station=7)) == 50
