"""The throttles' sliding window (api.throttling): this window's count plus the previous one's,
weighted by how much of it the window still covers."""

from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.settings import api_settings

from api.throttling import StationThrottle, UserThrottle, check_throttles, parse_rate

START = 1_800_000_000  # a whole minute (and hour): the start of a window for every duration used here


def request_by(user_pk: int, station: int | None = None) -> SimpleNamespace:
    user = SimpleNamespace(pk=user_pk, is_authenticated=True)
    return SimpleNamespace(user=user, method="POST", data={"station": station} if station else {})


VIEW = SimpleNamespace(throttle_station_id=lambda request: request.data.get("station"))


@pytest.fixture
def clock(monkeypatch):
    now = SimpleNamespace(value=float(START))
    monkeypatch.setattr("api.throttling.time.time", lambda: now.value)
    cache.clear()
    yield now
    cache.clear()


def rates(**scopes):
    rest_framework = {"DEFAULT_THROTTLE_RATES": {**api_settings.DEFAULT_THROTTLE_RATES, **scopes}}
    return override_settings(REST_FRAMEWORK=rest_framework)


def allowed(n: int, request, throttles) -> int:
    """How many of n requests the throttles let through."""
    return sum(check_throttles(request, VIEW, throttles) is None for _ in range(n))


def test_the_previous_window_counts_as_much_as_the_sliding_window_still_covers(clock):
    with rates(user="10/min"):
        assert allowed(10, request_by(1), [UserThrottle()]) == 10
        clock.value = START + 60 + 30  # half-way through the next minute: the last one weighs 0.5
        assert allowed(10, request_by(1), [UserThrottle()]) == 5


def test_a_refused_request_is_not_counted_and_says_how_long_to_wait(clock):
    with rates(user="2/min"):
        assert allowed(2, request_by(1), [UserThrottle()]) == 2
        clock.value = START + 20
        assert check_throttles(request_by(1), VIEW, [UserThrottle()]) == 40  # this minute alone is full
        clock.value = START + 60  # the full minute now weighs 1, falling to 0 by the end of this one
        wait = check_throttles(request_by(1), VIEW, [UserThrottle()])
        assert 0 < wait <= 60
        clock.value = START + 120  # two minutes on: nothing of the refusals was counted
        assert allowed(2, request_by(1), [UserThrottle()]) == 2


def test_every_throttle_must_allow_and_a_refusal_counts_nowhere(clock):
    """The station's rate stops a second user; that user's own count did not move."""
    throttles = [UserThrottle(), StationThrottle()]
    with rates(user="5/min", station="3/min"):
        assert allowed(3, request_by(1, station=7), throttles) == 3
        assert allowed(2, request_by(2, station=7), throttles) == 0
        assert allowed(3, request_by(2, station=8), throttles) == 3
        assert allowed(5, request_by(2, station=9), throttles) == 2  # user 2's refusals were not counted


def test_a_scope_without_a_rate_is_not_throttled(clock):
    with rates(user=None):
        assert allowed(50, request_by(1), [UserThrottle()]) == 50


@pytest.mark.parametrize(("rate", "parsed"), [("600/min", (600, 60)), ("5/s", (5, 1)), ("100/hour", (100, 3600))])
def test_rates_are_read_as_drf_writes_them(rate, parsed):
    assert parse_rate(rate) == parsed
