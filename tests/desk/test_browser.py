"""The clerk's story at the station desk in a real browser (Debian's chromium driven by
Playwright), at 390, 768 and 1280 px, with a look at every page (tests/browser.py: a screenshot
in test-artefacts/, no sideways scrolling, nothing left in English on the Chinese pages).

The clerk signs in at the staff sign-in and lands on the desk home; logs a member's cartons the
way a keyboard-wedge scanner types (the code, Enter, the count, Enter), sees before saving that
some of them are beyond the member's cap and, after saving, the warning; undoes the mistaken
entry with a reason; hands out a reservation by its pickup code and reads the member's masked
name in the message. Camera scanning has its own tests (the scanner widget's).

The database is set up before the browser starts and checked after it has closed (Playwright's
sync API runs an asyncio loop in this thread, in which Django refuses ORM calls).
"""

import re

import pytest

from recycling.models import DropOff
from recycling.services import record_dropoff
from rewards.models import Redemption
from rewards.services import reserve_reward
from tests.browser import VIEWPORTS, launch, look
from tests.csp import watch_csp
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

pytestmark = [pytest.mark.browser]

PASSWORD = "greenbox-demo"
CLERK = "wangli"


@pytest.fixture
def scene(transactional_db):
    """A Hangzhou station with its clerk and manager; per screen width, a member who left 2
    cartons today (18 more earn under the daily cap of 20) and reserved eggs with their points."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    city = CityFactory(code="HZ", name="Hangzhou", name_zh="杭州", province="浙江")
    station = StationFactory(code="HZ-00001", name="菜鸟驿站 文三路店", city=city)
    clerk = StaffUserFactory(username=CLERK, password=PASSWORD)
    StationStaffFactory(user=clerk, station=station)
    manager = StationManagerFactory(station=station).user
    eggs = RewardFactory(name="Four eggs", name_zh="四个鸡蛋", points_cost=20)
    StationStockFactory(station=station, reward=eggs, quantity=20)
    people = {}
    for index, viewport in enumerate(VIEWPORTS):
        member = MemberFactory(mobile=f"1381234{index:04d}", display_name=f"小王{index}")
        record_dropoff(
            station=station, member_code=member.code, cartons=2, staff=manager, idempotency_key=f"fund-{index}"
        )
        redemption = reserve_reward(
            member=member, reward=eggs, station=station, quantity=1, idempotency_key=f"r-{index}"
        ).redemption
        people[viewport["width"]] = {
            "code": member.code,
            "label": member.counter_label,
            "pickup": redemption.pickup_code,
            "member": member.pk,
        }
    return people


def test_the_clerks_story_at_every_width(live_server, scene):
    from playwright.sync_api import expect, sync_playwright

    base = live_server.url
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for viewport in VIEWPORTS:
                width, person = viewport["width"], scene[viewport["width"]]
                context = browser.new_context(viewport=viewport, locale="zh-CN", device_scale_factor=1)
                violations = watch_csp(context)
                page = context.new_page()

                # Signing in at the staff sign-in lands on the desk home.
                page.goto(f"{base}/admin/login/")
                page.fill("#id_username", CLERK)
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_url(f"{base}/desk/")
                expect(page.get_by_test_id("action-log")).to_have_text(re.compile("扫码登记纸箱"))
                expect(page.get_by_test_id("action-hand-out")).to_contain_text("凭取件码发放")
                expect(page.get_by_test_id("action-waiting")).to_contain_text("待领取")
                expect(page.get_by_test_id("action-cartons")).to_contain_text("纸箱去向")
                expect(page.get_by_test_id("waiting")).to_contain_text(person["label"])
                problems += look(page, f"desk-{width}-01-home")

                # The scanner types the code and Enter: the count is next; the member appears with
                # the cartons that still earn; 25 is beyond them, which shows before saving.
                page.get_by_test_id("action-log").click()
                page.wait_for_url(f"{base}/desk/log/")
                expect(page.locator("#id_member")).to_be_focused()
                page.keyboard.type(person["code"])
                page.keyboard.press("Enter")
                expect(page.locator("#id_cartons")).to_be_focused()
                expect(page.get_by_test_id("cartons-left")).to_contain_text("18")
                page.keyboard.type("25")
                expect(page.get_by_test_id("cap-warning-before")).to_contain_text("7")
                problems += look(page, f"desk-{width}-02-log-cap-warning")
                page.keyboard.press("Enter")
                page.wait_for_url(f"{base}/desk/log/")
                saved = page.locator(".message.warning[data-testid=message]")
                expect(saved).to_contain_text("7 个纸箱超出")
                expect(page.locator("#id_member")).to_be_focused()  # ready for the next member
                problems += look(page, f"desk-{width}-03-saved-with-undo")

                # That was a mistake: undo it, giving only a reason.
                page.get_by_test_id("undo").locator("summary").click()
                page.fill("#id_reason", "数量登错了")
                problems += look(page, f"desk-{width}-04-undo-reason")
                page.get_by_test_id("undo").locator("button[type=submit]").click()
                page.wait_for_url(f"{base}/desk/log/")
                expect(page.locator(".message.success")).to_contain_text("已作废")

                # A bad count is an error on its field, which is focused.
                page.fill("#id_member", person["code"])
                page.fill("#id_cartons", "0")
                page.press("#id_cartons", "Enter")
                expect(page.locator(".field-cartons .errors")).to_be_visible()
                expect(page.locator("#id_cartons")).to_be_focused()
                problems += look(page, f"desk-{width}-05-field-error")

                # Today's drop-offs and one of them, the waiting list, the cartons page.
                page.goto(f"{base}/desk/dropoffs/")
                expect(page.get_by_test_id("dropoffs")).to_contain_text("已作废")
                problems += look(page, f"desk-{width}-06-dropoffs")
                page.get_by_test_id("dropoffs").locator("a").first.click()
                expect(page.get_by_test_id("dropoff")).to_be_visible()
                problems += look(page, f"desk-{width}-07-dropoff")
                page.goto(f"{base}/desk/waiting/")
                problems += look(page, f"desk-{width}-08-waiting")
                page.goto(f"{base}/desk/cartons/")
                problems += look(page, f"desk-{width}-09-cartons")

                # Hand out by pickup code: the message names the member, in Chinese only.
                page.goto(f"{base}/desk/hand-out/")
                expect(page.locator("#id_pickup_code")).to_be_focused()
                page.keyboard.type(person["pickup"])
                page.keyboard.press("Enter")
                page.wait_for_url(f"{base}/desk/hand-out/")
                handed = page.locator(".message.success")
                expect(handed).to_have_text(f"已发放 1 × 四个鸡蛋，领取人 {person['label']}。")
                problems += look(page, f"desk-{width}-10-handed-out")
                page.goto(f"{base}/desk/")
                expect(page.get_by_test_id("today-handed-out")).to_have_text(re.compile(r"[1-3]"))
                problems += look(page, f"desk-{width}-11-home-after")
                context.close()
                assert violations == [], "\n".join(violations)
        finally:
            browser.close()
    assert problems == [], "\n".join(problems)

    # The browser has closed: check what was written.
    for person in scene.values():
        dropoffs = DropOff.objects.filter(member_id=person["member"]).order_by("pk")
        assert [(d.cartons, d.status) for d in dropoffs] == [(2, "accepted"), (25, "voided")]
        assert Redemption.objects.get(member_id=person["member"]).status == Redemption.Status.COLLECTED
