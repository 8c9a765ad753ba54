"""The rewards admin: staff see the reservations (handed out at the station desk: tests/desk/)
and keep stock at their own stations only; superusers manage the catalog through the services;
nothing is deletable."""

import pytest
from django.test import Client
from django.urls import reverse

from ledger.models import Account
from rewards import services
from rewards.models import DonationCampaign, Reward, StationStock
from tests.factories import StationStaffFactory, StationStockFactory, SuperuserFactory

from .conftest import stock_at


@pytest.fixture
def staff_client(desk):
    """The desk's staff member, signed in, reading the admin in English: the tests assert English text."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(desk.staff)
    return client


@pytest.fixture
def waiting(desk):
    """A reservation waiting at the desk's station, and one waiting at another station."""
    here = services.reserve_reward(
        member=desk.member, reward=desk.eggs, station=desk.station, quantity=1, idempotency_key="here"
    ).redemption
    elsewhere = StationStockFactory(reward=desk.tote, quantity=3).station
    there = services.reserve_reward(
        member=desk.member, reward=desk.tote, station=elsewhere, quantity=1, idempotency_key="there"
    ).redemption
    return here, there


@pytest.mark.django_db
def test_staff_see_only_the_reservations_at_their_stations(staff_client, waiting):
    """The changelist lists the reservation at the staff's station, not the other one, and never
    shows a pickup code."""
    here, there = waiting

    response = staff_client.get(reverse("admin:rewards_redemption_changelist"))

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [here]
    assert here.pickup_code not in response.content.decode()
    assert staff_client.get(reverse("admin:rewards_redemption_change", args=[there.pk])).status_code == 302


@pytest.mark.django_db
def test_managers_manage_the_stock_of_their_stations_only(staff_client, desk):
    """A station's manager sees its stock, adds to it, and is refused (error shown, nothing
    written) when a change would go below zero; another station's stock is invisible."""
    other = StationStockFactory(reward=desk.eggs, quantity=7)

    listing = staff_client.get(reverse("admin:rewards_stationstock_changelist"))
    assert set(listing.context["cl"].result_list) == set(StationStock.objects.filter(station=desk.station))

    stock = StationStock.objects.get(station=desk.station, reward=desk.eggs)
    url = reverse("admin:rewards_stationstock_change", args=[stock.pk])
    assert staff_client.post(url, {"change": "6"}).status_code == 302
    refused = staff_client.post(url, {"change": "-100"})
    assert refused.status_code == 200 and "cannot go below zero" in refused.content.decode()
    assert stock_at(desk.station, desk.eggs) == 16

    assert staff_client.get(reverse("admin:rewards_stationstock_change", args=[other.pk])).status_code == 302
    added = staff_client.post(
        reverse("admin:rewards_stationstock_add"), {"station": other.station_id, "reward": desk.eggs.pk, "change": "5"}
    )
    assert added.status_code == 200  # the other station is not a choice
    assert stock_at(other.station, desk.eggs) == 7


@pytest.mark.django_db
def test_nothing_is_deletable_and_staff_cannot_edit_the_catalog(staff_client, desk, waiting):
    """Delete pages answer 403 for everyone; staff cannot add a reward."""
    here, _there = waiting
    stock = StationStock.objects.get(station=desk.station, reward=desk.eggs)

    for name, pk in (
        ("rewards_redemption_delete", here.pk),
        ("rewards_stationstock_delete", stock.pk),
        ("rewards_reward_delete", desk.eggs.pk),
    ):
        assert staff_client.post(reverse(f"admin:{name}", args=[pk])).status_code == 403
    assert staff_client.get(reverse("admin:rewards_reward_add")).status_code == 403


@pytest.mark.django_db
def test_superuser_adds_a_reward_and_a_campaign_with_their_accounts(client):
    """The admin's add forms create the reward and the campaign through the services, each with
    its ledger account."""
    client.force_login(SuperuserFactory())

    reward = client.post(
        reverse("admin:rewards_reward_add"),
        {
            "name": "Tote bag",
            "name_zh": "环保袋",
            "kind": "goods",
            "points_cost": "10",
            "is_active": "on",
            "active_from_0": "2022-11-01",
            "active_from_1": "00:00:00",
        },
    )
    campaign = client.post(
        reverse("admin:rewards_donationcampaign_add"),
        {
            "title": "Notebooks",
            "title_zh": "笔记本",
            "beneficiary": "School",
            "points_per_notebook": "50",
            "target_notebooks": "1000",
            "starts_at_0": "2022-01-01",
            "starts_at_1": "00:00:00",
            "ends_at_0": "2023-01-01",
            "ends_at_1": "00:00:00",
        },
    )

    assert reward.status_code == campaign.status_code == 302
    assert Reward.objects.get().account.kind == Account.Kind.REWARD
    assert DonationCampaign.objects.get().account.kind == Account.Kind.CAMPAIGN


@pytest.mark.django_db
def test_station_staff_group_has_the_rewards_permissions():
    """The data migration gives the "Station staff" group what the staff pages need."""
    user = StationStaffFactory().user

    assert user.has_perms(
        [
            "rewards.view_redemption",
            "rewards.collect_redemption",
            "rewards.view_stationstock",
            "rewards.add_stationstock",
            "rewards.change_stationstock",
            "rewards.view_reward",
        ]
    )
    assert not user.has_perm("rewards.add_reward")


@pytest.mark.django_db
def test_every_rewards_admin_page_renders_for_a_superuser(client, desk, waiting):
    """Changelists, detail pages and the stock forms answer 200 for a superuser."""
    client.force_login(SuperuserFactory())
    here, _there = waiting
    stock = StationStock.objects.get(station=desk.station, reward=desk.eggs)
    urls = [
        reverse("admin:rewards_reward_changelist"),
        reverse("admin:rewards_reward_change", args=[desk.eggs.pk]),
        reverse("admin:rewards_donationcampaign_changelist"),
        reverse("admin:rewards_donationcampaign_change", args=[desk.campaign.pk]),
        reverse("admin:rewards_redemption_changelist"),
        reverse("admin:rewards_redemption_change", args=[here.pk]),
        reverse("admin:rewards_stationstock_changelist"),
        reverse("admin:rewards_stationstock_change", args=[stock.pk]),
        reverse("admin:rewards_stationstock_add"),
    ]

    assert {url: client.get(url).status_code for url in urls} == dict.fromkeys(urls, 200)


@pytest.mark.django_db
def test_a_reservations_page_links_staff_to_nothing_they_cannot_open(staff_client, waiting):
    """The ledger's transfers are superusers' pages: a staff user's reservation page leaves them out."""
    here, _there = waiting
    page = staff_client.get(reverse("admin:rewards_redemption_change", args=[here.pk])).content.decode()
    assert "/admin/ledger/" not in page
