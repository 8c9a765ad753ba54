"""The station desk's scanning in a real browser: the camera (recycling/_scan_button.html and
recycling/scan.js, decoding with the vendored jsQR) and the keyboard-wedge scanner, on the log
cartons page at a phone's, a tablet's and a desktop's width, in Chinese.

Chromium's fake camera plays a Y4M file written here from a demo member's QR code, made as the
member's home page makes it (members.qr: segno, the same error correction and quiet zone).
`--use-fake-ui-for-media-stream` answers the camera prompt with "allow"; without it headless
chromium refuses the camera, which is the refused story. The database is set up before the
browser starts and checked after it closes (see tests/members/test_browser.py for why).
"""

import re
from pathlib import Path

import pytest
import segno

from members.qr import QR_ERROR, QR_SVG_OPTIONS
from recycling.demo import DEMO_PASSWORD, MEMBER_MOBILES, load_demo_stations_and_members
from recycling.models import DropOff, Member
from tests.browser import VIEWPORTS, launch, look
from tests.csp import watch_csp

pytestmark = [pytest.mark.browser]

LOG_URL = "/desk/log/"
STAFF = "staff-hz-00001"  # the demo's staff login at HZ-00001
FAKE_CAMERA = "--use-fake-device-for-media-stream"
ALLOW_CAMERA = "--use-fake-ui-for-media-stream"
FRAME_WIDTH, FRAME_HEIGHT = 640, 480
SCAN_TIMEOUT_MS = 15_000  # the fake camera, jsQR's first load and a slow shared machine
# English on the desk's pages that is not this widget's: the login name in the footer.
DESK_ENGLISH = (STAFF,)


def fake_camera_file(path: Path, text: str, *, frames: int = 5) -> Path:
    """A YUV4MPEG2 video of `text`'s QR code, black on white, centred: what Chromium's fake
    camera plays in a loop (--use-file-for-fake-video-capture). 4:2:0, so each frame is the Y
    plane (0 for a dark module, 255 for light) and quarter-size U and V planes at 128 (no colour)."""
    qr = segno.make_qr(text, error=QR_ERROR)
    border = QR_SVG_OPTIONS["border"]
    side = qr.symbol_size(scale=1, border=border)[0]
    scale = min(FRAME_WIDTH, FRAME_HEIGHT) * 3 // 4 // side
    rows = [bytes(0 if dark else 255 for dark in row) for row in qr.matrix_iter(scale=scale, border=border)]
    size = len(rows)
    left, top = (FRAME_WIDTH - size) // 2, (FRAME_HEIGHT - size) // 2
    luma = bytearray(b"\xff" * FRAME_WIDTH * FRAME_HEIGHT)
    for y, row in enumerate(rows):
        start = (top + y) * FRAME_WIDTH + left
        luma[start : start + size] = row
    chroma = b"\x80" * (FRAME_WIDTH // 2) * (FRAME_HEIGHT // 2)
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    header = f"YUV4MPEG2 W{FRAME_WIDTH} H{FRAME_HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * frames)
    return path


@pytest.fixture
def desk(transactional_db):
    """The demo's stations, staff logins and members; the member code of the first demo member."""
    load_demo_stations_and_members()
    member = Member.objects.get(mobile=MEMBER_MOBILES[0])
    return {"code": member.code, "member": member.pk, "dropoffs": DropOff.objects.count()}


def sign_in(page, base: str) -> None:
    page.goto(f"{base}/admin/login/?next={LOG_URL}")
    page.fill("#id_username", STAFF)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(rf".*{LOG_URL}$"))


def new_dropoffs(desk: dict) -> list[DropOff]:
    return list(DropOff.objects.order_by("pk").select_related("station", "logged_by")[desk["dropoffs"] :])


def test_the_camera_reads_a_members_qr_code_and_the_dropoff_is_saved(live_server, desk, tmp_path):
    """One tap on 扫码 opens the camera; the member's QR code fills the member code field, the
    carton count has the focus and the camera is off; saving records the drop-off for that member."""
    from playwright.sync_api import expect, sync_playwright

    camera = fake_camera_file(tmp_path / "member-qr.y4m", desk["code"])
    problems, csp, policy = [], [], []

    def complaints(message) -> None:
        # scan.js says so on the console when the Permissions-Policy forbids the camera on its page.
        if "GREENBOX_CAMERA_VIEWS" in message.text:
            policy.append(message.text)

    with sync_playwright() as playwright:
        browser = launch(playwright, FAKE_CAMERA, ALLOW_CAMERA, f"--use-file-for-fake-video-capture={camera}")
        try:
            for number, viewport in enumerate(VIEWPORTS, start=1):
                context = browser.new_context(viewport=viewport, locale="zh-CN")
                csp.append(watch_csp(context))
                context.on("console", complaints)
                page = context.new_page()
                sign_in(page, live_server.url)
                response = page.goto(f"{live_server.url}{LOG_URL}")
                assert "camera=(self)" in response.headers["permissions-policy"]
                name = f"scanning-camera-{viewport['width']}"
                problems += look(page, f"{name}-1-page", allowed=DESK_ENGLISH)
                scan = page.get_by_role("button", name="用摄像头扫描二维码")
                expect(scan).to_have_text("扫码")
                scan.click()  # the panel may come and go faster than a screenshot: see the next test
                expect(page.locator("#id_member")).to_have_value(desk["code"], timeout=SCAN_TIMEOUT_MS)
                expect(page.locator("#id_cartons")).to_be_focused()
                expect(page.locator(".scan-panel")).to_be_hidden()
                expect(page.locator(".scan-message")).to_have_text("已扫到会员码。")
                assert page.evaluate("document.querySelector('.scan-video').srcObject") is None  # camera off
                problems += look(page, f"{name}-2-scanned", allowed=DESK_ENGLISH)
                page.keyboard.type(str(number))
                page.keyboard.press("Enter")  # save; the next member is logged on the same page
                page.wait_for_url(re.compile(rf".*{LOG_URL}$"))
                expect(page.get_by_test_id("message")).to_be_visible()
                problems += look(page, f"{name}-3-saved", allowed=DESK_ENGLISH)
                context.close()
        finally:
            browser.close()

    assert not [violation for violations in csp for violation in violations]
    assert not policy
    assert not problems
    dropoffs = new_dropoffs(desk)
    assert [(d.member_id, d.cartons, d.station.code, d.logged_by.username) for d in dropoffs] == [
        (desk["member"], number, "HZ-00001", STAFF) for number in range(1, len(VIEWPORTS) + 1)
    ]


def test_a_qr_code_that_is_not_a_member_code_is_not_taken(live_server, desk, tmp_path):
    """The camera sees a QR code holding a web address: the panel says it is not a member code,
    keeps looking, and the field stays empty; Cancel stops the camera and gives the field back."""
    from playwright.sync_api import expect, sync_playwright

    camera = fake_camera_file(tmp_path / "other-qr.y4m", "https://example.com/not-a-member")
    problems = []
    with sync_playwright() as playwright:
        browser = launch(playwright, FAKE_CAMERA, ALLOW_CAMERA, f"--use-file-for-fake-video-capture={camera}")
        try:
            for viewport in VIEWPORTS:
                context = browser.new_context(viewport=viewport, locale="zh-CN")
                page = context.new_page()
                sign_in(page, live_server.url)
                page.get_by_role("button", name="用摄像头扫描二维码").click()
                expect(page.locator(".scan-hint")).to_have_text(
                    "这个二维码不是会员码。请扫描会员 GreenBox 页面上的二维码。", timeout=SCAN_TIMEOUT_MS
                )
                expect(page.locator(".scan-video")).to_be_visible()
                problems += look(page, f"scanning-not-a-member-code-{viewport['width']}", allowed=DESK_ENGLISH)
                expect(page.locator("#id_member")).to_have_value("")
                page.get_by_role("button", name="取消").click()
                expect(page.locator(".scan-panel")).to_be_hidden()
                expect(page.locator("#id_member")).to_be_focused()
                assert page.evaluate("document.querySelector('.scan-video').srcObject") is None
                context.close()
        finally:
            browser.close()
    assert not problems


def test_the_keyboard_wedge_scanner_logs_a_dropoff(live_server, desk, tmp_path):
    """A wedge scanner types the code and Enter into the focused field: Enter moves on to the
    carton count, the count and Enter save the drop-off, with the camera allowed on the page."""
    from playwright.sync_api import expect, sync_playwright

    camera = fake_camera_file(tmp_path / "member-qr.y4m", desk["code"])
    problems = []
    with sync_playwright() as playwright:
        browser = launch(playwright, FAKE_CAMERA, ALLOW_CAMERA, f"--use-file-for-fake-video-capture={camera}")
        try:
            context = browser.new_context(viewport=VIEWPORTS[1], locale="zh-CN")
            page = context.new_page()
            sign_in(page, live_server.url)
            expect(page.locator("#id_member")).to_be_focused()  # the scanner types into it
            page.keyboard.type(desk["code"])
            page.keyboard.press("Enter")
            expect(page.locator("#id_cartons")).to_be_focused()
            page.keyboard.type("4")
            problems += look(page, "scanning-wedge-typed", allowed=DESK_ENGLISH)
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(rf".*{LOG_URL}$"))
            expect(page.get_by_test_id("message")).to_be_visible()
            problems += look(page, "scanning-wedge-saved", allowed=DESK_ENGLISH)
        finally:
            browser.close()
    assert not problems
    assert [(d.member_id, d.cartons, d.logged_by.username) for d in new_dropoffs(desk)] == [(desk["member"], 4, STAFF)]


def test_a_refused_camera_says_so_and_the_field_still_works(live_server, desk, tmp_path):
    """Without the fake prompt answer headless chromium refuses the camera: a translated message
    under the button, no panel, the member code field focused and typing then saves as usual."""
    from playwright.sync_api import expect, sync_playwright

    camera = fake_camera_file(tmp_path / "member-qr.y4m", desk["code"])
    problems = []
    with sync_playwright() as playwright:
        browser = launch(playwright, FAKE_CAMERA, f"--use-file-for-fake-video-capture={camera}")
        try:
            context = browser.new_context(viewport=VIEWPORTS[0], locale="zh-CN")
            page = context.new_page()
            sign_in(page, live_server.url)
            page.get_by_role("button", name="用摄像头扫描二维码").click()
            expect(page.locator(".scan-message")).to_have_text(
                "未获准使用摄像头。请在浏览器的网站设置中允许使用摄像头，或输入会员码、使用扫码枪。"
            )
            expect(page.locator(".scan-panel")).to_be_hidden()
            expect(page.locator("#id_member")).to_be_focused()
            problems += look(page, "scanning-camera-refused", allowed=DESK_ENGLISH)
            page.keyboard.type(desk["code"])
            page.keyboard.press("Enter")
            page.keyboard.type("2")
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(rf".*{LOG_URL}$"))
            expect(page.get_by_test_id("message")).to_be_visible()
        finally:
            browser.close()
    assert not problems
    assert [(d.member_id, d.cartons) for d in new_dropoffs(desk)] == [(desk["member"], 2)]


def test_the_camera_reads_a_pickup_code_at_the_hand_out(live_server, desk, tmp_path):
    """The member's reservation page shows the pickup code as a QR code; at the desk's hand-out
    the camera reads it into the field and focuses the button, and Enter hands the reward out."""
    from playwright.sync_api import expect, sync_playwright

    from recycling.services import record_dropoff
    from rewards.models import Redemption
    from rewards.services import reserve_reward
    from stations.models import Station
    from tests.factories import EarningRuleFactory, RewardFactory, StationStockFactory

    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    station = Station.objects.get(code="HZ-00001")
    member = Member.objects.get(pk=desk["member"])
    staff = station.staff.get(user__username=STAFF).user
    record_dropoff(station=station, member_code=member.code, cartons=5, staff=staff, idempotency_key="pickup-points")
    eggs = RewardFactory(name="Four eggs", name_zh="四个鸡蛋", points_cost=20)
    StationStockFactory(station=station, reward=eggs, quantity=5)
    reserved = reserve_reward(
        member=member, reward=eggs, station=station, quantity=1, idempotency_key="pickup"
    ).redemption
    camera = fake_camera_file(tmp_path / "pickup-qr.y4m", reserved.pickup_code)
    problems = []

    with sync_playwright() as playwright:
        browser = launch(playwright, FAKE_CAMERA, ALLOW_CAMERA, f"--use-file-for-fake-video-capture={camera}")
        try:
            context = browser.new_context(viewport=VIEWPORTS[0], locale="zh-CN")
            csp = watch_csp(context)
            page = context.new_page()
            sign_in(page, live_server.url)
            response = page.goto(f"{live_server.url}/desk/hand-out/")
            assert "camera=(self)" in response.headers["permissions-policy"]
            page.get_by_role("button", name="用摄像头扫描二维码").click()
            expect(page.locator("#id_pickup_code")).to_have_value(reserved.pickup_code, timeout=SCAN_TIMEOUT_MS)
            expect(page.locator("#hand-out-submit")).to_be_focused()
            expect(page.locator(".scan-message")).to_have_text("已扫到取件码。")
            problems += look(page, "scanning-pickup-1-scanned", allowed=DESK_ENGLISH)
            page.keyboard.press("Enter")
            expect(page.get_by_test_id("message")).to_contain_text("四个鸡蛋")
            problems += look(page, "scanning-pickup-2-handed-out", allowed=DESK_ENGLISH)
            context.close()
        finally:
            browser.close()

    assert csp == [] and problems == []
    assert Redemption.objects.get(pk=reserved.pk).status == Redemption.Status.COLLECTED
