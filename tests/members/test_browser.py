"""One member's story end to end in a real browser (Debian's chromium driven by Playwright),
on a phone-sized screen, with a screenshot of each page in test-artefacts/.

A new member signs up; a station's staff user logs three of their cartons at the station desk; the
member sees the balance and the history line, reserves four eggs at the station, cancels and
gets the points back, donates, and switches to English and back. A second member cannot open
the first one's reservation.

The database is set up before the browser starts and checked after it has closed: Playwright's
sync API runs an asyncio loop in this thread, and Django refuses ORM calls while one runs
("SynchronousOnlyOperation"). Keeping the ORM out of that window means the test does not need
DJANGO_ALLOW_ASYNC_UNSAFE. The live server answers the browser from its own thread.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings

from ledger.models import Account
from recycling.models import Member
from recycling.services import register_member
from rewards.models import Donation, Redemption
from tests.csp import watch_csp
from tests.factories import (
    CityFactory,
    DonationCampaignFactory,
    EarningRuleFactory,
    RewardFactory,
    StaffUserFactory,
    StationFactory,
    StationStaffFactory,
    StationStockFactory,
)

pytestmark = [pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
# htmx marks the target while it swaps and settles new content, and processes it after.
HTMX_SETTLED = "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
ARTEFACTS = Path(settings.BASE_DIR) / "test-artefacts"
DEMO_PASSWORD = "greenbox-demo"
NEW_MOBILE = "13700001111"
NEW_PASSWORD = "cartons-for-eggs-11"
SECOND_MOBILE = "13987654321"


@pytest.fixture
def scene(transactional_db):
    """A Hangzhou station with its staff login (as in the demo data), eggs and a tote bag in
    stock, a notebook campaign at 10 points a notebook, and a second member."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    city = CityFactory(code="HZ", name="Hangzhou", name_zh="杭州", province="浙江")
    station = StationFactory(code="HZ-00001", name="菜鸟驿站 文三路店", city=city, address="杭州市西湖区文三路 90 号")
    staff = StaffUserFactory(username="staff-hz-00001", password=DEMO_PASSWORD)
    StationStaffFactory(user=staff, station=station)
    eggs = RewardFactory(name="Four eggs", name_zh="四个鸡蛋", points_cost=20, daily_limit_per_member=2)
    tote = RewardFactory(name="Tote bag", name_zh="环保袋", points_cost=10)
    StationStockFactory(station=station, reward=eggs, quantity=50)
    StationStockFactory(station=station, reward=tote, quantity=20)
    campaign = DonationCampaignFactory(
        title="Notebooks for rural schools", title_zh="为乡村学校捐笔记本", points_per_notebook=10, target_notebooks=100
    )
    register_member(mobile=SECOND_MOBILE, password=DEMO_PASSWORD)
    return {"city": city.pk, "station": station.pk, "eggs": eggs.pk, "campaign": campaign.pk}


def test_a_members_story_in_the_browser(live_server, scene):
    from playwright.sync_api import expect, sync_playwright

    ARTEFACTS.mkdir(exist_ok=True)
    base = live_server.url
    shots = iter(range(1, 100))

    def shot(page, name: str) -> None:
        page.screenshot(path=str(ARTEFACTS / f"members-{next(shots):02d}-{name}.png"), full_page=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            member_context = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=1)
            violations = watch_csp(member_context)
            page = member_context.new_page()

            # A new member signs up, in Chinese (the browser asks for it).
            page.goto(f"{base}/signup/")
            expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
            page.fill("#id_mobile", "137 0000 1111")
            page.fill("#id_password1", NEW_PASSWORD)
            page.fill("#id_password2", NEW_PASSWORD)
            page.check("#id_consent")  # the privacy notice: sign-up cannot proceed without it
            shot(page, "signup")
            page.click("form button.primary")
            page.wait_for_url(f"{base}/")
            expect(page.get_by_test_id("balance")).to_have_text("0")
            expect(page.locator("[data-testid=qr] svg")).to_be_visible()
            member_code = page.get_by_test_id("member-code").inner_text().strip()
            assert re.fullmatch(r"[A-Z2-9]{16}", member_code)
            shot(page, "home-new-member")

            # The station's staff log three cartons for that member at the station desk.
            staff_context = browser.new_context(viewport=PHONE, locale="zh-CN")
            desk_violations = watch_csp(staff_context)
            desk = staff_context.new_page()
            desk.goto(f"{base}/admin/login/?next=/desk/log/")
            desk.fill("#id_username", "staff-hz-00001")
            desk.fill("#id_password", DEMO_PASSWORD)
            desk.click("input[type=submit]")
            desk.wait_for_url(re.compile(r".*/desk/log/$"))
            desk.fill("#id_member", member_code)
            desk.press("#id_member", "Enter")  # the scanner's Enter moves on (desk/static/desk/desk.js)
            expect(desk.locator("#id_cartons")).to_be_focused()
            desk.fill("#id_cartons", "3")
            shot(desk, "desk-log-cartons")
            desk.press("#id_cartons", "Enter")
            desk.wait_for_url(re.compile(r".*/desk/log/$"))
            expect(desk.locator(".message.success")).to_be_visible()
            shot(desk, "desk-logged")
            staff_context.close()

            # The member sees the new balance and the history line.
            page.goto(f"{base}/")
            expect(page.get_by_test_id("balance")).to_have_text("30")
            expect(page.get_by_test_id("cartons")).to_have_text("3")
            shot(page, "home-after-cartons")
            page.goto(f"{base}/history/")
            expect(page.get_by_test_id("history").locator("li").first).to_contain_text("菜鸟驿站 文三路店")
            expect(page.get_by_test_id("history").locator("li").first).to_contain_text("+30")
            shot(page, "history")

            # Reserve four eggs at the station: city, then station (htmx redraws the catalog).
            page.goto(f"{base}/rewards/?city=")
            page.select_option("#id_city", str(scene["city"]))
            expect(page.locator(f"#id_station option[value='{scene['station']}']")).to_be_attached()
            page.wait_for_function(HTMX_SETTLED)  # the redrawn picker listens for changes again
            page.select_option("#id_station", str(scene["station"]))
            expect(page.get_by_test_id("chosen-station")).to_contain_text("菜鸟驿站 文三路店")
            assert f"station={scene['station']}" in page.url  # the choice is in the address (hx-push-url)
            eggs = page.get_by_test_id(f"reward-{scene['eggs']}")
            expect(eggs).to_contain_text("50")
            shot(page, "rewards-at-station")
            eggs.locator("button[type=submit]").click()
            page.wait_for_url(re.compile(r".*/rewards/redemptions/\d+/$"))
            redemption_url = page.url
            pickup_code = page.get_by_test_id("pickup-code").inner_text().strip()
            assert re.fullmatch(r"\d{6}", pickup_code)
            shot(page, "reserved-pickup-code")
            page.goto(f"{base}/")
            expect(page.get_by_test_id("balance")).to_have_text("10")

            # Cancel: the points come back.
            page.goto(redemption_url)
            page.click("form button.danger")
            page.wait_for_url(redemption_url)
            expect(page.get_by_test_id("pickup-code")).to_have_count(0)
            shot(page, "cancelled")
            page.goto(f"{base}/rewards/redemptions/")
            shot(page, "my-reservations")
            page.goto(f"{base}/")
            expect(page.get_by_test_id("balance")).to_have_text("30")

            # Donate one notebook (10 points): the progress bar moves.
            page.goto(f"{base}/donate/")
            campaign = page.get_by_test_id(f"campaign-{scene['campaign']}")
            campaign.locator("input[name=notebooks]").fill("1")
            campaign.locator("button[type=submit]").click()
            page.wait_for_url(f"{base}/donate/")
            expect(page.locator(".message.success")).to_be_visible()
            expect(page.get_by_test_id(f"campaign-{scene['campaign']}").locator("progress")).to_have_attribute(
                "value", "1"
            )
            shot(page, "donated")
            page.goto(f"{base}/")
            expect(page.get_by_test_id("balance")).to_have_text("20")
            expect(page.get_by_test_id("notebooks")).to_have_text("1")

            page.goto(f"{base}/stations/")
            expect(page.locator(".station")).to_contain_text("杭州市西湖区文三路 90 号")
            shot(page, "stations")

            # Switch to English and back.
            page.goto(f"{base}/")
            page.click("button[name=language][value=en]")
            expect(page.locator("html")).to_have_attribute("lang", "en")
            expect(page.locator("body")).to_contain_text("Points balance")
            shot(page, "home-english")
            page.click("button[name=language][value=zh-hans]")
            expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
            shot(page, "home-chinese")

            # A second member cannot open the first one's reservation.
            other_context = browser.new_context(viewport=PHONE, locale="zh-CN")
            other = other_context.new_page()
            other.goto(f"{base}/signin/")
            other.fill("#id_username", SECOND_MOBILE)
            other.fill("#id_password", DEMO_PASSWORD)
            other.click("form button.primary")
            other.wait_for_url(f"{base}/")
            response = other.goto(redemption_url)
            assert response.status == 404
            assert pickup_code not in other.content()
            other_context.close()
            member_context.close()
        finally:
            browser.close()
    # Every page's scripts and styles came from the app: the Content-Security-Policy refused nothing.
    assert violations == [] and desk_violations == [], "\n".join(violations + desk_violations)

    # The browser has closed: check the books.
    member = Member.objects.get(mobile=NEW_MOBILE)
    assert Account.objects.get(member=member).balance == 20
    redemption = Redemption.objects.get(member=member)
    assert redemption.status == Redemption.Status.CANCELLED and redemption.pickup_code == pickup_code
    assert Donation.objects.get(member=member).notebooks == 1


WIDTHS = (390, 768, 1280)
# The member's pages, the privacy notice and sign-up: each must fit the screen without sideways scrolling.
MEMBER_PAGES = (
    "/",
    "/history/",
    "/rewards/",
    "/rewards/redemptions/",
    "/donate/",
    "/stations/",
    "/account/",
    "/password/",
)
PUBLIC_PAGES = ("/privacy/", "/signup/", "/signin/")
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def test_member_pages_fit_every_width(live_server, scene):
    """At 390, 768 and 1280 px, in Chinese, every member page (the account page and the privacy
    notice included) is no wider than the screen."""
    from playwright.sync_api import sync_playwright

    ARTEFACTS.mkdir(exist_ok=True)
    base = live_server.url
    too_wide = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for width in WIDTHS:
                context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
                page = context.new_page()
                for path in PUBLIC_PAGES:
                    page.goto(f"{base}{path}")
                    if not page.evaluate(NO_SIDEWAYS_SCROLL):
                        too_wide.append((width, path))
                page.goto(f"{base}/signin/")
                page.fill("#id_username", SECOND_MOBILE)
                page.fill("#id_password", DEMO_PASSWORD)
                page.click("form button.primary")
                page.wait_for_url(f"{base}/")
                for path in MEMBER_PAGES:
                    page.goto(f"{base}{path}")
                    if not page.evaluate(NO_SIDEWAYS_SCROLL):
                        too_wide.append((width, path))
                page.goto(f"{base}/account/")
                page.screenshot(path=str(ARTEFACTS / f"members-account-{width}.png"), full_page=True)
                page.goto(f"{base}/privacy/")
                page.screenshot(path=str(ARTEFACTS / f"members-privacy-{width}.png"), full_page=True)
                context.close()
        finally:
            browser.close()
    assert too_wide == []
