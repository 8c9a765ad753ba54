"""Shared set-up for the API tests: two stations of one city, their staff, two members with
points, a reward in stock, a reservation, a campaign and some daily totals, and an API client
per role, signed in with a token."""

import itertools
import uuid
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from api.reference_data import OPS_GROUP
from api.services import create_api_token
from recycling.services import record_dropoff
from rewards.services import reserve_reward
from tests.factories import (
    CityFactory,
    DailyCityTotalFactory,
    DailyStationTotalFactory,
    DonationCampaignFactory,
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    StationFactory,
    StationStaffFactory,
    StationStockFactory,
    UserFactory,
)

ROLES = ("staff_a", "staff_b", "member_x", "member_y", "ops", "anonymous")

_keys = itertools.count()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Throttle counts live in the cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()


class KeyedClient(APIClient):
    """An API client that sends a fresh Idempotency-Key with every POST, as a device does (every
    write requires one), unless the test gives its own or sets `sends_keys = False`."""

    sends_keys = True

    def post(self, path, data=None, format=None, content_type=None, follow=False, **extra):
        given = "HTTP_IDEMPOTENCY_KEY" in extra or "Idempotency-Key" in (extra.get("headers") or {})
        if self.sends_keys and not given:
            extra["HTTP_IDEMPOTENCY_KEY"] = f"test-{uuid.uuid4().hex}"
        return super().post(path, data, format, content_type, follow, **extra)


@pytest.fixture
def throttle_rates(monkeypatch):
    """throttle_rates(user="2/min"): set throttle rates for this test (None lifts one).

    DRF's throttles read the rates once, when rest_framework.throttling is imported
    (SimpleRateThrottle.THROTTLE_RATES), so overriding the REST_FRAMEWORK setting does not reach
    them; this replaces that dict for the test."""

    def set_rates(**rates: str | None) -> None:
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, **rates})

    return set_rates


def token_client(user) -> APIClient:
    client = KeyedClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {create_api_token(user=user, name='test device').secret}")
    return client


def fund(*, member, staff, station, cartons: int = 10):
    """Points the way they are earned: cartons recorded by the service (10 points a carton)."""
    return record_dropoff(
        station=station, member_code=member.code, cartons=cartons, staff=staff, idempotency_key=f"fund-{next(_keys)}"
    ).dropoff


@pytest.fixture
def world(db):
    city = CityFactory(code="HZ")
    station_a = StationFactory(city=city, code="HZ-00001")
    station_b = StationFactory(city=city, code="HZ-00002")
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)  # national
    staff_a = StationStaffFactory(station=station_a).user
    staff_b = StationStaffFactory(station=station_b).user
    member_x = MemberFactory()
    member_y = MemberFactory()
    ops = UserFactory(username="ops-1")
    ops.groups.add(Group.objects.get(name=OPS_GROUP))
    fund(member=member_x, staff=staff_a, station=station_a)  # X: 100 points
    fund(member=member_y, staff=staff_b, station=station_b)  # Y: 100 points
    eggs = RewardFactory(name="Four eggs", name_zh="四个鸡蛋", points_cost=20)
    StationStockFactory(station=station_a, reward=eggs, quantity=10)
    StationStockFactory(station=station_b, reward=eggs, quantity=10)
    redemption = reserve_reward(
        member=member_x, reward=eggs, station=station_a, quantity=1, idempotency_key=f"world-{next(_keys)}"
    ).redemption  # X: 80 points
    dropoff = fund(member=member_x, staff=staff_a, station=station_a, cartons=2)  # X: 100 points, voidable
    campaign = DonationCampaignFactory(points_per_notebook=50)
    DailyCityTotalFactory(city=city)
    DailyStationTotalFactory(station=station_a)
    users = {"staff_a": staff_a, "staff_b": staff_b, "member_x": member_x.user, "member_y": member_y.user, "ops": ops}
    return SimpleNamespace(
        city=city,
        station_a=station_a,
        station_b=station_b,
        staff_a=staff_a,
        staff_b=staff_b,
        member_x=member_x,
        member_y=member_y,
        ops=ops,
        dropoff=dropoff,
        eggs=eggs,
        redemption=redemption,
        campaign=campaign,
        users=users,
    )


@pytest.fixture
def client_for(world):
    """client_for("staff_a"): an API client signed in (by token) as that role; "anonymous": none."""

    def make(role: str) -> APIClient:
        return token_client(world.users.get(role))

    return make
