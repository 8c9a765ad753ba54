"""Reserving, cancelling and donating through the pages: the same changes as the services,
refusals shown with nothing written, a double submit acting once, and CSRF enforced."""

import re

from django.test import Client
from django.urls import reverse

from ledger.models import Transfer
from rewards.models import Donation, Redemption, StationStock
from tests.factories import RewardFactory, StationFactory, StationStockFactory

from .conftest import balance_of, signed_in_client, snapshot


def reserve_data(shop, *, reward=None, quantity=1, key="page-key-1") -> dict:
    return {
        "reward": (reward or shop.eggs).pk,
        "station": shop.station.pk,
        "quantity": quantity,
        "idempotency_key": key,
    }


def stock(shop, reward) -> int:
    return StationStock.objects.get(station=shop.station, reward=reward).quantity


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_reserving_takes_the_points_and_the_stock_and_shows_the_pickup_code(member_client, shop):
    response = member_client.post(reverse("members:reserve"), reserve_data(shop, quantity=2), follow=True)
    redemption = Redemption.objects.get()
    assert response.redirect_chain[-1][0] == reverse("members:redemption", args=[redemption.pk])
    assert (redemption.member, redemption.reward, redemption.station) == (shop.member, shop.eggs, shop.station)
    assert redemption.quantity == 2 and redemption.points == 40
    assert redemption.status == Redemption.Status.RESERVED
    assert balance_of(shop.member) == 60 and stock(shop, shop.eggs) == 8
    assert redemption.transfer.amount == 40
    html = response.content.decode()
    assert redemption.pickup_code in html and "40 points were taken" in html


def test_a_double_submit_reserves_once(member_client, shop):
    data = reserve_data(shop, key="same-form")
    first = member_client.post(reverse("members:reserve"), data)
    second = member_client.post(reverse("members:reserve"), data)
    assert Redemption.objects.count() == 1
    assert first["Location"] == second["Location"]
    assert balance_of(shop.member) == 80 and stock(shop, shop.eggs) == 9


def test_each_rendered_reserve_form_has_its_own_key(member_client, shop):
    url = reverse("members:rewards") + f"?city={shop.station.city_id}&station={shop.station.pk}"
    keys = [
        re.findall(r'name="idempotency_key" value="([^"]+)"', member_client.get(url).content.decode()) for _ in "ab"
    ]
    assert len(keys[0]) == 2 and len(set(keys[0] + keys[1])) == 4


def test_a_refused_reservation_shows_the_message_and_writes_nothing(member_client, shop):
    hamper = RewardFactory(name="Hamper", points_cost=60)
    StationStockFactory(station=shop.station, reward=hamper, quantity=5)
    before = snapshot()
    response = member_client.post(
        reverse("members:reserve"), reserve_data(shop, reward=hamper, quantity=2), follow=True
    )
    assert "This needs 120 points; you have 100." in " ".join(messages_of(response))
    assert snapshot() == before
    # Back on the catalog of the same station, with fresh keys for the next try.
    assert response.redirect_chain[-1][0].startswith(reverse("members:rewards") + "?city=")


def test_out_of_stock_is_refused_with_its_message(member_client, shop):
    StationStock.objects.filter(reward=shop.tote).update(quantity=0)
    before = snapshot()
    response = member_client.post(reverse("members:reserve"), reserve_data(shop, reward=shop.tote), follow=True)
    assert "out of stock" in " ".join(messages_of(response))
    assert snapshot() == before


def test_a_quantity_out_of_range_is_refused_by_the_form(member_client, shop):
    before = snapshot()
    for quantity in (0, 11, "two"):
        response = member_client.post(reverse("members:reserve"), reserve_data(shop, quantity=quantity), follow=True)
        assert messages_of(response)
    assert snapshot() == before


def test_cancelling_gives_the_points_and_the_stock_back(member_client, shop):
    member_client.post(reverse("members:reserve"), reserve_data(shop, quantity=1))
    redemption = Redemption.objects.get()
    response = member_client.post(reverse("members:cancel", args=[redemption.pk]), follow=True)
    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.CANCELLED
    assert balance_of(shop.member) == 100 and stock(shop, shop.eggs) == 10
    assert Transfer.objects.filter(reverses=redemption.transfer).count() == 1
    assert "20 points are back" in " ".join(messages_of(response))
    # A second cancel changes nothing.
    again = member_client.post(reverse("members:cancel", args=[redemption.pk]), follow=True)
    assert "already ended" in " ".join(messages_of(again))
    assert balance_of(shop.member) == 100 and Transfer.objects.filter(reverses=redemption.transfer).count() == 1


def test_cancelling_asks_first_and_only_the_post_cancels(member_client, shop):
    """The redemption page's cancel is a link to a page that asks; only its POST cancels."""
    member_client.post(reverse("members:reserve"), reserve_data(shop))
    redemption = Redemption.objects.get()
    url = reverse("members:cancel", args=[redemption.pk])
    assert f'href="{url}"' in member_client.get(reverse("members:redemption", args=[redemption.pk])).content.decode()
    before = snapshot()
    asked = member_client.get(url)
    html = asked.content.decode()
    assert asked.status_code == 200 and "Cancel the reservation?" in html and f'action="{url}"' in html
    assert "Your 20 points come back" in html
    assert snapshot() == before  # asking wrote nothing
    member_client.post(url)
    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.CANCELLED
    # Asked again once it has ended: back to the reservation, nothing to confirm.
    assert member_client.get(url).headers["Location"] == reverse("members:redemption", args=[redemption.pk])
    assert member_client.put(url).status_code == 405


def test_donating_funds_notebooks_and_moves_the_progress_bar(member_client, shop):
    data = {"notebooks": 2, "idempotency_key": "donate-1"}
    response = member_client.post(reverse("members:donate_to", args=[shop.campaign.pk]), data, follow=True)
    donation = Donation.objects.get()
    assert (donation.member, donation.campaign, donation.notebooks, donation.points) == (
        shop.member,
        shop.campaign,
        2,
        100,
    )
    assert balance_of(shop.member) == 0
    html = response.content.decode()
    assert "fund 2 notebooks" in html
    assert "2 of 200 notebooks" in html and '<progress class="progress" max="200" value="2">1.0%</progress>' in html
    # The same form again: replayed, not donated twice.
    member_client.post(reverse("members:donate_to", args=[shop.campaign.pk]), data)
    assert Donation.objects.count() == 1 and balance_of(shop.member) == 0


def test_a_refused_donation_shows_the_message_and_writes_nothing(member_client, shop):
    before = snapshot()
    response = member_client.post(
        reverse("members:donate_to", args=[shop.campaign.pk]), {"notebooks": 3, "idempotency_key": "d"}, follow=True
    )
    assert "This needs 150 points; you have 100." in " ".join(messages_of(response))
    assert snapshot() == before
    response = member_client.post(
        reverse("members:donate_to", args=[shop.campaign.pk]), {"notebooks": 101, "idempotency_key": "e"}, follow=True
    )
    assert "1 to 100 notebooks" in " ".join(messages_of(response))
    assert snapshot() == before


def test_csrf_is_enforced_on_every_form(shop):
    """Without the token every write is refused (403) and nothing changes; with it, it works."""
    client = signed_in_client(shop.member, enforce_csrf_checks=True)
    before = snapshot()
    posts = [
        (reverse("members:reserve"), reserve_data(shop)),
        (reverse("members:donate_to", args=[shop.campaign.pk]), {"notebooks": 1, "idempotency_key": "x"}),
        (reverse("members:signout"), {}),
        (reverse("members:password_change"), {"old_password": "x"}),
        (reverse("set_language"), {"language": "en"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert snapshot() == before
    assert Client(enforce_csrf_checks=True).post(reverse("members:signin"), {"username": "1"}).status_code == 403
    assert Client(enforce_csrf_checks=True).post(reverse("members:signup"), {"mobile": "1"}).status_code == 403

    page = client.get(reverse("members:rewards") + f"?city={shop.station.city_id}&station={shop.station.pk}")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post(reverse("members:reserve"), {**reserve_data(shop), "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and Redemption.objects.count() == 1


def test_choosing_a_city_with_htmx_redraws_only_the_catalog(member_client, shop):
    url = reverse("members:rewards") + f"?city={shop.station.city_id}"
    partial = member_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial
    assert f'value="{shop.station.pk}"' in partial  # the city's stations to choose from
    assert "Choose a city and a station to reserve" in partial
    full = member_client.get(url).content.decode()
    assert "<html" in full and 'hx-target="#catalog"' in full


def test_a_station_of_another_city_is_not_chosen(member_client, shop):
    elsewhere = StationFactory()
    url = reverse("members:rewards") + f"?city={shop.station.city_id}&station={elsewhere.pk}"
    response = member_client.get(url)
    assert response.context["station"] is None
