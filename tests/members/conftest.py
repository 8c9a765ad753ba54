"""Shared set-up for the member pages: a member who can sign in, a station with eggs and a
tote bag in stock, an open notebook campaign, and clients signed in as members."""

import itertools
from types import SimpleNamespace

import pytest
from django.test import Client

from idempotency.models import IdempotencyKey
from ledger.models import Account, Transfer
from recycling.models import Member
from recycling.services import record_dropoff, register_member
from rewards.models import Donation, Redemption, StationStock
from tests.factories import (
    DonationCampaignFactory,
    EarningRuleFactory,
    RewardFactory,
    StationStaffFactory,
    StationStockFactory,
)

PASSWORD = "recycle-cartons-2022"
_keys = itertools.count()


def give_points(member: Member, points: int, *, station=None, staff=None) -> None:
    """Credit points the way they are earned: one carton through record_dropoff at a desk
    whose city's earning rule pays `points` a carton."""
    if station is None:
        desk = StationStaffFactory()
        station, staff = desk.station, desk.user
    EarningRuleFactory(city=station.city, points_per_carton=points, daily_carton_cap=50)
    record_dropoff(
        station=station, member_code=member.code, cartons=1, staff=staff, idempotency_key=f"members-{next(_keys)}"
    )


def balance_of(member: Member) -> int:
    return Account.objects.get(member=member).balance


def snapshot() -> dict:
    """Everything a refused page must leave as it was."""
    return {
        "balances": dict(Account.objects.values_list("pk", "balance")),
        "stock": dict(StationStock.objects.values_list("pk", "quantity")),
        "transfers": Transfer.objects.count(),
        "redemptions": list(Redemption.objects.values_list("pk", "status")),
        "donations": Donation.objects.count(),
        "successes": IdempotencyKey.objects.filter(refusal_code="").count(),
    }


def signed_in_client(member: Member, *, language: str = "en", **kwargs) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language, **kwargs)
    client.force_login(member.user, backend="recycling.auth.MobileNumberBackend")
    return client


@pytest.fixture
def shop(db):
    """A station (with a staff desk) stocking eggs (20 points, 10 in stock, at most 2 a day) and a
    tote bag (10 points, 5 in stock), an open campaign (50 points a notebook) and a member with
    100 points signed up through the service, whose home station it is."""
    desk = StationStaffFactory()
    member = register_member(mobile="13812345678", password=PASSWORD)
    give_points(member, 100, station=desk.station, staff=desk.user)
    eggs = RewardFactory(name="Four eggs", name_zh="四个鸡蛋", points_cost=20, daily_limit_per_member=2)
    tote = RewardFactory(name="Tote bag", name_zh="环保袋", points_cost=10)
    StationStockFactory(station=desk.station, reward=eggs, quantity=10)
    StationStockFactory(station=desk.station, reward=tote, quantity=5)
    member.refresh_from_db()
    return SimpleNamespace(
        station=desk.station,
        staff=desk.user,
        member=member,
        eggs=eggs,
        tote=tote,
        campaign=DonationCampaignFactory(points_per_notebook=50, target_notebooks=200),
    )


@pytest.fixture
def member_client(shop) -> Client:
    return signed_in_client(shop.member)
