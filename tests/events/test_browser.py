"""The member's notices page in Debian's chromium at the three widths, in Chinese and English:
no sideways scrolling, nothing left untranslated (screenshots in test-artefacts/)."""

from datetime import date

import pytest
from django.test import Client

from recycling.notices import notify_points_expiring
from recycling.services import record_dropoff
from rewards.services import reserve_reward
from tests.browser import VIEWPORTS, launch, look
from tests.factories import (
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    StationManagerFactory,
    StationStockFactory,
)

pytestmark = [pytest.mark.browser]


@pytest.fixture
def session_cookie(transactional_db):
    """A member with a pickup-code notice and a points-expiry notice, signed in: their session
    cookie (the database is set up before the browser starts, see tests/members/test_browser.py)."""
    desk = StationManagerFactory(station__name="菜鸟驿站 文三路店")
    member = MemberFactory()
    EarningRuleFactory(city=desk.station.city, points_per_carton=25, daily_carton_cap=50)
    eggs = RewardFactory(name="Four eggs", name_zh="四个鸡蛋", points_cost=20)
    StationStockFactory(station=desk.station, reward=eggs, quantity=10)
    record_dropoff(station=desk.station, member_code=member.code, cartons=4, staff=desk.user, idempotency_key="f")
    reserve_reward(member=member, reward=eggs, station=desk.station, quantity=2, idempotency_key="r")
    notify_points_expiring(member=member, points=120, expires_on=date(2027, 1, 31))
    client = Client()
    client.force_login(member.user, backend="recycling.auth.MobileNumberBackend")
    return client.cookies["sessionid"].value


def test_the_notices_page_fits_every_width_in_both_languages(live_server, session_cookie):
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        for language in ("zh-hans", "en"):
            for viewport in VIEWPORTS:
                context = browser.new_context(viewport=viewport, locale=language)
                context.add_cookies([{"name": "sessionid", "value": session_cookie, "url": live_server.url}])
                context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
                page = context.new_page()
                page.goto(f"{live_server.url}/notices/")
                assert page.locator("[data-testid=notices] li").count() == 2
                problems += look(page, f"events-notices-{language}-{viewport['width']}")
                context.close()
        browser.close()
    assert problems == []
