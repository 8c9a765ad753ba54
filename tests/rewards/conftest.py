"""Shared set-up for the rewards tests: a station desk with a funded member and a catalog."""

import itertools
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache

from idempotency.models import IdempotencyKey
from ledger.models import Account, Transfer
from recycling.models import Member
from recycling.services import record_dropoff
from rewards.models import Donation, Redemption, StationStock
from tests.factories import (
    DonationCampaignFactory,
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    StationManagerFactory,
    StationStaffFactory,
    StationStockFactory,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A fixed "now" for the services: Tuesday 15 November 2022, 10:00 in Shanghai, mid-festival.
NOW = datetime(2022, 11, 15, 10, 0, tzinfo=SHANGHAI)

_funding_keys = itertools.count()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Wrong pickup codes are counted in the cache (rewards/pickup_attempts.py): every test starts with none."""
    cache.clear()
    yield
    cache.clear()


def give_points(member: Member, points: int) -> None:
    """Credit `points` to the member the way points are really earned: one carton recorded by
    record_dropoff at a station of a fresh city whose earning rule pays `points` a carton."""
    desk = StationStaffFactory()
    EarningRuleFactory(city=desk.station.city, points_per_carton=points, daily_carton_cap=50)
    record_dropoff(
        station=desk.station,
        member_code=member.code,
        cartons=1,
        staff=desk.user,
        idempotency_key=f"test-funding-{next(_funding_keys)}",
    )


def balance_of(member: Member) -> int:
    return Account.objects.get(member=member).balance


def stock_at(station, reward) -> int:
    return StationStock.objects.get(station=station, reward=reward).quantity


def snapshot() -> dict:
    """What a refused or failed operation must leave as it was."""
    return {
        "balances": dict(Account.objects.values_list("pk", "balance")),
        "stock": dict(StationStock.objects.values_list("pk", "quantity")),
        "transfers": Transfer.objects.count(),
        "redemptions": list(Redemption.objects.values_list("pk", "status")),
        "donations": Donation.objects.count(),
    }


def refusals() -> list[tuple[str, str]]:
    """The refusals stored under their idempotency keys: (key, code)."""
    return list(IdempotencyKey.objects.exclude(refusal_code="").values_list("key", "refusal_code"))


@pytest.fixture
def desk(db):
    """A station with its manager (who adjusts its stock), a member with 100 points, eggs (20
    points, at most 2 a day, 10 in stock), a tote bag (10 points, 5 in stock) and an open
    notebook campaign (50 points)."""
    staff = StationManagerFactory()
    member = MemberFactory()
    give_points(member, 100)
    eggs = RewardFactory(name="Four eggs", name_zh="四个鸡蛋", points_cost=20, daily_limit_per_member=2)
    tote = RewardFactory(name="Tote bag", name_zh="环保袋", points_cost=10)
    StationStockFactory(station=staff.station, reward=eggs, quantity=10)
    StationStockFactory(station=staff.station, reward=tote, quantity=5)
    return SimpleNamespace(
        station=staff.station,
        staff=staff.user,
        member=member,
        eggs=eggs,
        tote=tote,
        campaign=DonationCampaignFactory(points_per_notebook=50),
    )
