"""Every member page renders for a member; the others are asked to sign in or told the pages
are for members; a member only ever reaches their own data."""

import pytest
from django.urls import reverse

from recycling.services import register_member
from rewards.models import Redemption
from rewards.services import reserve_reward
from tests.factories import StaffUserFactory, SuperuserFactory

from .conftest import give_points, signed_in_client

MEMBER_PAGES = [
    ("members:home", {}),
    ("members:history", {}),
    ("members:rewards", {}),
    ("members:redemptions", {}),
    ("members:donate", {}),
    ("members:stations", {}),
    ("members:password_change", {}),
]


@pytest.fixture
def reservation(shop):
    return reserve_reward(
        member=shop.member, reward=shop.eggs, station=shop.station, quantity=1, idempotency_key="pages-1"
    ).redemption


@pytest.mark.parametrize(("name", "kwargs"), MEMBER_PAGES)
def test_every_page_renders_for_a_member(member_client, reservation, name, kwargs):
    """Each page answers 200 with the site's layout, the navigation and the language switcher."""
    response = member_client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="language"' in html
    assert reverse("members:history") in html
    assert "<script src=" in html and "django_htmx/htmx" in html  # the bundled script, not a CDN
    assert "https://" not in html.split("<body")[0]


def test_the_reservation_page_and_the_chosen_station_render(member_client, shop, reservation):
    detail = member_client.get(reverse("members:redemption", args=[reservation.pk]))
    assert detail.status_code == 200
    assert reservation.pickup_code in detail.content.decode()
    url = reverse("members:rewards") + f"?city={shop.station.city_id}&station={shop.station.pk}"
    catalog = member_client.get(url).content.decode()
    assert "Four eggs" in catalog and "9 in stock here" in catalog  # one reserved above
    assert 'name="idempotency_key"' in catalog


@pytest.mark.parametrize(("name", "kwargs"), [*MEMBER_PAGES, ("members:redemption", {"pk": 1})])
def test_pages_ask_anonymous_visitors_to_sign_in(client, db, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('members:signin')}?next={url}"


@pytest.mark.parametrize("factory", [StaffUserFactory, SuperuserFactory])
def test_staff_and_ops_without_a_member_get_a_friendly_page(client, db, factory):
    """A staff or ops login is not a member: a 403 page that points to the station desk."""
    client.force_login(factory())
    response = client.get(reverse("members:home"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 403
    html = response.content.decode()
    assert "Members only" in html and reverse("admin:index") in html


def test_signed_out_pages_render(client, db):
    for name in ("members:signin", "members:signup"):
        assert client.get(reverse(name)).status_code == 200


def test_another_members_redemption_answers_404(shop, reservation):
    """Neither the page nor the cancel of someone else's reservation exists for a member."""
    other = register_member(mobile="13900000001", password="another-member-pw")
    give_points(other, 50)
    other_client = signed_in_client(other)
    assert other_client.get(reverse("members:redemption", args=[reservation.pk])).status_code == 404
    assert other_client.post(reverse("members:cancel", args=[reservation.pk])).status_code == 404
    assert other_client.get(reverse("members:cancel", args=[reservation.pk])).status_code == 404
    reservation.refresh_from_db()
    assert reservation.status == Redemption.Status.RESERVED
    assert reservation.pickup_code not in other_client.get(reverse("members:redemptions")).content.decode()


def test_a_member_sees_only_their_own_history_and_number(shop, reservation):
    other = register_member(mobile="13900000002", password="another-member-pw")
    html = signed_in_client(other).get(reverse("members:history")).content.decode()
    assert "Four eggs" not in html and "No points yet" in html
    home = signed_in_client(other).get(reverse("members:home")).content.decode()
    assert "13900000002" in home  # their own number, in full, on their own page
    assert shop.member.mobile not in home and shop.member.code not in home


def test_the_full_mobile_number_is_shown_only_on_the_members_own_home(member_client, shop):
    html = member_client.get(reverse("members:history")).content.decode()
    assert shop.member.mobile not in html
    assert shop.member.masked_mobile in html
