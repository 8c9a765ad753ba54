"""A station desk to test: a Hangzhou station with a clerk and a manager, a second station with
its own clerk, a member with points, and eggs in stock."""

import itertools
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.test import Client

from recycling.services import record_dropoff
from rewards.services import reserve_reward
from tests.factories import (
    CityFactory,
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    StaffUserFactory,
    StationFactory,
    StationManagerFactory,
    StationStaffFactory,
    StationStockFactory,
)

_keys = itertools.count()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Member searches and wrong pickup codes are counted in the cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()


def client_of(user, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def log(world, *, cartons: int = 3, staff=None, member=None):
    """A drop-off recorded by the service, as the desk records it."""
    return record_dropoff(
        station=world.station,
        member_code=(member or world.member).code,
        cartons=cartons,
        staff=staff or world.clerk,
        idempotency_key=f"desk-test-{next(_keys)}",
    ).dropoff


@pytest.fixture
def world(db):
    city = CityFactory(code="HZ", name="Hangzhou", name_zh="杭州")
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    station = StationFactory(code="HZ-00001", name="菜鸟驿站 文三路店", city=city)
    other = StationFactory(code="HZ-00002", name="菜鸟驿站 古墩路店", city=city)
    clerk = StationStaffFactory(station=station).user
    manager = StationManagerFactory(station=station).user
    other_clerk = StationStaffFactory(station=other).user
    member = MemberFactory(mobile="13812345678", display_name="小王")
    eggs = RewardFactory(name="Four eggs", name_zh="四个鸡蛋", points_cost=20)
    StationStockFactory(station=station, reward=eggs, quantity=10)
    StationStockFactory(station=other, reward=eggs, quantity=10)
    world = SimpleNamespace(
        city=city,
        station=station,
        other=other,
        clerk=clerk,
        manager=manager,
        other_clerk=other_clerk,
        member=member,
        eggs=eggs,
    )
    log(world, cartons=10)  # 100 points to spend
    return world


def reserve(world, *, station=None, key=None):
    return reserve_reward(
        member=world.member,
        reward=world.eggs,
        station=station or world.station,
        quantity=1,
        idempotency_key=key or f"desk-reserve-{next(_keys)}",
    ).redemption


@pytest.fixture
def two_station_clerk(world):
    user = StaffUserFactory()
    StationStaffFactory(user=user, station=world.station)
    StationStaffFactory(user=user, station=world.other)
    return user
