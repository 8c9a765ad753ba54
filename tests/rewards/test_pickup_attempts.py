"""The limit on wrong pickup codes per staff user and station (rewards/pickup_attempts.py), through
the services, the admin's hand-out pages and the API."""

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import translation
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.test import APIClient

from api.services import create_api_token
from idempotency.models import IdempotencyKey
from rewards import errors, services
from rewards.models import Redemption
from tests.factories import StationStaffFactory, StationStockFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_english():
    """The services' messages are asserted in English, whatever language an earlier test left active."""
    with translation.override("en"):
        yield


@pytest.fixture
def waiting(desk):
    """A reservation waiting at the desk's station."""
    return services.reserve_reward(
        member=desk.member, reward=desk.eggs, station=desk.station, quantity=1, idempotency_key="here"
    ).redemption


def wrong_code(redemption: Redemption, n: int = 1) -> str:
    return f"{(int(redemption.pickup_code) + n) % 1_000_000:06d}"


def by_code(desk, code, *, staff=None, station=None, key=None):
    return services.collect_by_pickup_code(
        station=station or desk.station, pickup_code=code, staff=staff or desk.staff, idempotency_key=key
    )


def status_of(redemption: Redemption) -> str:
    return Redemption.objects.get(pk=redemption.pk).status


def test_five_wrong_codes_lock_that_staff_user_at_that_station(desk, waiting, settings):
    """Five wrong codes are each refused as unknown; then even the right code is refused with the
    limit's message, and the reservation still waits; another staff user of the station hands it out."""
    assert settings.GREENBOX_PICKUP_CODE_FAILURE_LIMIT == 5
    for n in range(1, 6):
        with pytest.raises(errors.NoSuchReservation):
            by_code(desk, wrong_code(waiting, n))
    with pytest.raises(errors.TooManyPickupCodes) as refusal:
        by_code(desk, waiting.pickup_code)
    assert "wait 15 minutes" in str(refusal.value.message)
    assert status_of(waiting) == Redemption.Status.RESERVED

    colleague = StationStaffFactory(station=desk.station).user
    assert by_code(desk, waiting.pickup_code, staff=colleague).redemption.status == Redemption.Status.COLLECTED


def test_the_lock_is_per_station(desk, waiting):
    """The same staff user, locked at one station, still hands out rewards at another."""
    elsewhere = StationStaffFactory(user=desk.staff).station
    StationStockFactory(station=elsewhere, reward=desk.tote, quantity=2)
    there = services.reserve_reward(
        member=desk.member, reward=desk.tote, station=elsewhere, quantity=1, idempotency_key="there"
    ).redemption
    for n in range(1, 6):
        with pytest.raises(errors.NoSuchReservation):
            by_code(desk, wrong_code(waiting, n))
    assert by_code(desk, there.pickup_code, station=elsewhere).redemption.status == Redemption.Status.COLLECTED


def test_wrong_codes_on_one_reservation_count_too(desk, waiting):
    """collect_redemption (the admin's page of one reservation) counts wrong codes in the same count."""
    for n in range(1, 4):
        with pytest.raises(errors.WrongPickupCode):
            services.collect_redemption(redemption_id=waiting.pk, pickup_code=wrong_code(waiting, n), staff=desk.staff)
    for n in range(4, 6):
        with pytest.raises(errors.NoSuchReservation):
            by_code(desk, wrong_code(waiting, n))
    with pytest.raises(errors.TooManyPickupCodes):
        services.collect_redemption(redemption_id=waiting.pk, pickup_code=waiting.pickup_code, staff=desk.staff)
    assert status_of(waiting) == Redemption.Status.RESERVED


def test_a_replayed_refusal_is_not_another_guess(desk, waiting):
    """A device re-sending one wrong code under its key gets the stored refusal each time, and it
    counts once."""
    for _ in range(6):
        with pytest.raises(errors.NoSuchReservation):
            by_code(desk, wrong_code(waiting), key="device-retry")
    assert by_code(desk, waiting.pickup_code, key="next").redemption.status == Redemption.Status.COLLECTED


def test_with_the_cache_unreachable_the_desk_keeps_handing_out(desk, waiting, monkeypatch):
    """The limit fails open (logged) when the cache cannot be reached: a reward is still handed out."""

    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Redis is down")

    for method in ("get", "add", "incr"):
        monkeypatch.setattr(cache, method, unreachable)
    with pytest.raises(errors.NoSuchReservation):
        by_code(desk, wrong_code(waiting))
    assert by_code(desk, waiting.pickup_code).redemption.status == Redemption.Status.COLLECTED


def test_the_desk_hand_out_page_refuses_clearly_at_the_limit(desk, waiting):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(desk.staff)
    url = reverse("desk:hand_out")
    for n in range(1, 6):
        response = client.post(url, {"pickup_code": wrong_code(waiting, n)})
        assert "No reservation is waiting" in response.content.decode()

    locked = client.post(url, {"pickup_code": waiting.pickup_code})

    assert locked.status_code == 400
    assert "Too many wrong pickup codes at this station: wait 15 minutes" in locked.content.decode()
    assert status_of(waiting) == Redemption.Status.RESERVED


def test_the_api_answers_429_at_the_limit(desk, waiting):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {create_api_token(user=desk.staff, name='test device').secret}")
    url = reverse("api:redemption-collect")

    def post(code, n):
        body = {"station": desk.station.pk, "pickup_code": code}
        return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=f"k{n}")

    assert [post(wrong_code(waiting, n), n).status_code for n in range(1, 6)] == [404] * 5
    locked = post(waiting.pickup_code, 6)

    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_pickup_codes"
    assert status_of(waiting) == Redemption.Status.RESERVED
    assert not IdempotencyKey.objects.filter(key="k6").exists()  # refused before any key is claimed
