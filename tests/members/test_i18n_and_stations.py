"""Chinese first with a language switcher, and the stations page (read from the daily totals)."""

from datetime import timedelta

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from recycling.days import shanghai_day
from tests.factories import DailyStationTotalFactory, StationFactory

from .conftest import PASSWORD


def lang_of(response) -> str:
    html = response.content.decode()
    return html.split('<html lang="', 1)[1].split('"', 1)[0]


def test_chinese_is_the_default_and_for_browsers_that_ask_for_it(db):
    assert lang_of(Client().get(reverse("members:signin"))) == "zh-hans"
    assert lang_of(Client(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").get(reverse("members:signin"))) == "zh-hans"
    assert lang_of(Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.8").get(reverse("members:signin"))) == "en"
    # Django's own Chinese catalog already translates the shared words, e.g. the password label.
    assert "密码" in Client().get(reverse("members:signin")).content.decode()


def test_the_language_switcher_switches_and_back(shop):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-CN")
    client.post(reverse("members:signin"), {"username": shop.member.mobile, "password": PASSWORD})
    home = reverse("members:home")
    assert lang_of(client.get(home)) == "zh-hans"
    switched = client.post(reverse("set_language"), {"language": "en", "next": home})
    assert switched.status_code == 302 and switched["Location"] == home
    english = client.get(home)
    assert lang_of(english) == "en" and "Points balance" in english.content.decode()
    client.post(reverse("set_language"), {"language": "zh-hans", "next": home})
    assert lang_of(client.get(home)) == "zh-hans"


def test_the_stations_page_shows_address_hours_stock_and_cartons_this_week(member_client, shop):
    today = shanghai_day(timezone.now())
    DailyStationTotalFactory(station=shop.station, day=today, cartons=12)
    DailyStationTotalFactory(station=shop.station, day=today - timedelta(days=6), cartons=30)
    DailyStationTotalFactory(station=shop.station, day=today - timedelta(days=7), cartons=500)  # last week
    closed = StationFactory(city=shop.station.city, is_active=False)
    with CaptureQueriesContext(connection) as queries:
        response = member_client.get(reverse("members:stations") + f"?city={shop.station.city_id}")
    html = response.content.decode()
    assert shop.station.address in html and "08:00-21:00" in html
    assert "Four eggs: 10" in html and "Tote bag: 5" in html
    assert "<dt>Cartons this week</dt><dd>42</dd>" in html
    assert closed.name not in html
    assert not [q for q in queries.captured_queries if "recycling_dropoff" in q["sql"]]  # never the drop-offs
