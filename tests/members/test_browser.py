"""The member's stories in a real browser (Debian's chromium driven by Playwright) at 390, 768 and
1280 px, and once in English on a 360 px phone, with a look at every page (tests/browser.py: a
screenshot in test-artefacts/, no sideways scrolling, nothing left in English on a Chinese page).

At each width a new member signs up and sees the QR code in the first view; then a member with
points (given through recycling.services.record_dropoff before the browser starts: the desk's
pages belong to another story) finds the nearest station with the browser's location (granted to
the context, at a fixed position), searches a city by pinyin, reserves, cancels after the
confirmation, and donates.

The database is set up before the browser starts and checked after it has closed: Playwright's
sync API runs an asyncio loop in this thread, and Django refuses ORM calls while one runs.
"""

import re

import pytest

from recycling.models import Member
from recycling.services import record_dropoff, register_member
from rewards.models import Donation, Redemption
from tests.browser import VIEWPORTS, launch, look
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

PASSWORD = "cartons-for-eggs-11"
# Where the browser says the member is: a few hundred metres from the Wensan Road station.
WENSAN_ROAD = {"latitude": 30.2790, "longitude": 120.1330}
ENGLISH_PHONE = {"width": 360, "height": 780}


def new_mobile(width: int) -> str:
    return f"1370000{width:04d}"


def rich_mobile(width: int) -> str:
    return f"1390000{width:04d}"


@pytest.fixture
def scene(transactional_db):
    """Hangzhou's two stations (the demo's) and one in Shanghai, eggs and a hamper too dear for the
    members, a notebook campaign, and for each width a member with 100 points."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    hangzhou = CityFactory(code="HZ", name="Hangzhou", name_zh="杭州", province="浙江")
    shanghai = CityFactory(code="SH", name="Shanghai", name_zh="上海", province="上海")
    wensan = StationFactory(
        code="HZ-00001", name="菜鸟驿站 文三路店", city=hangzhou, address="杭州市西湖区文三路 90 号",
        latitude="30.2775", longitude="120.1300",
    )  # fmt: skip
    StationFactory(
        code="HZ-00002", name="菜鸟驿站 滨江星光店", city=hangzhou, address="杭州市滨江区江南大道 228 号",
        latitude="30.2085", longitude="120.2110",
    )  # fmt: skip
    xuhui = StationFactory(
        code="SH-00001", name="菜鸟驿站 徐汇漕溪店", city=shanghai, address="上海市徐汇区漕溪北路 398 号",
        latitude="31.1890", longitude="121.4370",
    )  # fmt: skip
    staff = StaffUserFactory(username="staff-sh-00001")
    StationStaffFactory(user=staff, station=xuhui)
    eggs = RewardFactory(name="Four eggs", name_zh="四个鸡蛋", points_cost=20, daily_limit_per_member=2)
    hamper = RewardFactory(name="Festival hamper", name_zh="节日礼盒", points_cost=500)
    for station in (wensan, xuhui):
        StationStockFactory(station=station, reward=eggs, quantity=50)
        StationStockFactory(station=station, reward=hamper, quantity=5)
    campaign = DonationCampaignFactory(
        title="Notebooks for rural schools",
        title_zh="为乡村学校捐笔记本",
        beneficiary="云南省乡村小学",
        points_per_notebook=10,
        target_notebooks=100,
    )
    for n, width in enumerate([viewport["width"] for viewport in VIEWPORTS] + [ENGLISH_PHONE["width"]]):
        member = register_member(mobile=rich_mobile(width), password=PASSWORD)
        record_dropoff(station=xuhui, member_code=member.code, cartons=10, staff=staff, idempotency_key=f"story-{n}")
    return {
        "shanghai": shanghai.pk,
        "wensan": wensan.pk,
        "xuhui": xuhui.pk,
        "eggs": eggs.pk,
        "hamper": hamper.pk,
        "campaign": campaign.pk,
    }


def sign_in(page, base: str, mobile: str) -> None:
    page.goto(f"{base}/signin/")
    page.fill("#id_username", mobile)
    page.fill("#id_password", PASSWORD)
    page.click("form button.primary")
    page.wait_for_url(f"{base}/")


def test_the_members_stories_at_every_width(live_server, scene):
    from playwright.sync_api import expect, sync_playwright

    base = live_server.url
    problems, csp_lists = [], []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for viewport in VIEWPORTS:
                width = viewport["width"]
                context = browser.new_context(
                    viewport=viewport, locale="zh-CN", geolocation=WENSAN_ROAD, permissions=["geolocation"]
                )
                csp_lists.append(watch_csp(context))
                page = context.new_page()

                # A new member signs up: the balance and the QR code are in the first view.
                page.goto(f"{base}/signup/")
                problems += look(page, f"members-{width}-01-signup")
                page.fill("#id_mobile", new_mobile(width))
                page.fill("#id_password1", PASSWORD)
                page.fill("#id_password2", PASSWORD)
                page.check("#id_consent")
                page.click("form button.primary")
                page.wait_for_url(f"{base}/")
                expect(page.get_by_test_id("balance")).to_have_text("0")
                qr = page.locator("[data-testid=qr] svg").bounding_box()
                assert qr["y"] + qr["height"] <= viewport["height"], "the QR code is below the first view"
                assert qr["width"] >= 200, "the QR code is too small to scan from a counter"
                problems += look(page, f"members-{width}-02-home-new-member")
                page.get_by_test_id("open-code").click()
                expect(page.get_by_test_id("code-screen").locator("svg")).to_be_visible()
                problems += look(page, f"members-{width}-03-member-code")
                page.click(".account button.link")  # sign out
                page.wait_for_url(re.compile(r".*/signin/"))
                problems += look(page, f"members-{width}-03-signin")

                # A member with points finds the nearest station by location.
                sign_in(page, base, rich_mobile(width))
                expect(page.get_by_test_id("balance")).to_have_text("100")
                page.goto(f"{base}/stations/")
                problems += look(page, f"members-{width}-04-finder-last-used")
                page.click("#near-me")
                page.wait_for_url(re.compile(r".*/stations/\?near="))
                first = page.locator(".station").first
                expect(first).to_contain_text("菜鸟驿站 文三路店")
                expect(first.get_by_test_id("distance")).to_contain_text("米")
                problems += look(page, f"members-{width}-05-near-me")

                # Searches a city by pinyin.
                page.fill("#city-search", "shang")
                expect(page.locator(".city-list li:visible")).to_have_count(1)
                expect(page.locator(".city-list li:visible")).to_have_text("上海")
                problems += look(page, f"members-{width}-06-city-search")
                # The full-page screenshot resizes the page and back: a phone's page scrolled to the
                # bottom then jumps under the pointer between press and release. Afresh, then click.
                page.reload()
                page.fill("#city-search", "shang")
                page.locator(".city-list li:visible a").click()
                page.wait_for_url(re.compile(r".*/stations/\?city=\d+$"))
                expect(page.get_by_test_id("city-title")).to_have_text("上海")
                expect(page.locator(".station").first).to_contain_text("上海市徐汇区漕溪北路 398 号")
                problems += look(page, f"members-{width}-07-city-stations")

                # Reserves there: the hamper is out of reach and says by how much.
                page.locator(".station").first.get_by_role("link", name="在此预约").click()
                expect(page.get_by_test_id("chosen-station")).to_contain_text("菜鸟驿站 徐汇漕溪店")
                hamper = page.get_by_test_id(f"reward-{scene['hamper']}").locator("button")
                expect(hamper).to_be_disabled()
                expect(hamper).to_contain_text("400")
                problems += look(page, f"members-{width}-08-rewards")
                page.get_by_test_id(f"reward-{scene['eggs']}").locator("button[type=submit]").click()
                page.wait_for_url(re.compile(r".*/rewards/redemptions/\d+/$"))
                expect(page.get_by_test_id("pickup-code")).to_have_text(re.compile(r"^\d{6}$"))
                problems += look(page, f"members-{width}-09-reserved")

                # Cancels, after saying yes.
                page.get_by_test_id("cancel").click()
                expect(page.get_by_test_id("confirm-cancel")).to_be_visible()
                problems += look(page, f"members-{width}-10-confirm-cancel")
                page.get_by_test_id("confirm").click()
                expect(page.get_by_test_id("status")).to_have_text("已取消")
                problems += look(page, f"members-{width}-11-cancelled")

                # Donates a notebook.
                page.goto(f"{base}/donate/")
                campaign = page.get_by_test_id(f"campaign-{scene['campaign']}")
                campaign.locator("button[type=submit]").click()
                expect(page.locator(".message.success")).to_be_visible()
                problems += look(page, f"members-{width}-12-donated")
                for name, path in (
                    ("history", "/history/"),
                    ("reservations", "/rewards/redemptions/"),
                    ("account", "/account/"),
                    ("password", "/password/"),
                    ("privacy", "/privacy/"),
                ):
                    page.goto(f"{base}{path}")
                    problems += look(page, f"members-{width}-13-{name}")
                page.goto(f"{base}/")
                expect(page.get_by_test_id("balance")).to_have_text("90")
                problems += look(page, f"members-{width}-14-home")
                context.close()

            # In English on a 360 px phone: the tab bar and every page fit.
            context = browser.new_context(viewport=ENGLISH_PHONE, locale="en-US")
            csp_lists.append(watch_csp(context))
            page = context.new_page()
            sign_in(page, base, rich_mobile(ENGLISH_PHONE["width"]))
            expect(page.locator("html")).to_have_attribute("lang", "en")
            tabs = page.locator("nav.tabs").bounding_box()
            assert tabs["x"] + tabs["width"] <= ENGLISH_PHONE["width"]
            for name, path in (
                ("home", "/"),
                ("stations", "/stations/"),
                ("rewards", f"/rewards/?city={scene['shanghai']}&station={scene['xuhui']}"),
                ("donate", "/donate/"),
                ("history", "/history/"),
                ("reservations", "/rewards/redemptions/"),
                ("member-code", "/code/"),
                ("account", "/account/"),
            ):
                page.goto(f"{base}{path}")
                problems += look(page, f"members-en-360-{name}")
            context.close()
        finally:
            browser.close()
    assert problems == [], "\n".join(problems)
    violations = [line for lines in csp_lists for line in lines]
    assert violations == [], "\n".join(violations)

    # The browser has closed: check the books.
    for viewport in VIEWPORTS:
        member = Member.objects.get(mobile=rich_mobile(viewport["width"]))
        assert member.account.balance == 90
        assert Redemption.objects.get(member=member).status == Redemption.Status.CANCELLED
        assert Donation.objects.get(member=member).notebooks == 1
        assert Member.objects.filter(mobile=new_mobile(viewport["width"])).exists()
