"""The ops story in Debian's chromium (Playwright, launched by tests/browser.py): an ops user
signs in, reads the national overview with its chart, picks a city, downloads
the city's daily CSV and finds the rows of the page's table and of the daily totals in it; a
station staff user and a member get 403. Screenshots go to test-artefacts/.

The database is set up before the browser starts and read after it closed (Playwright's sync
API runs an event loop in this thread, where Django refuses ORM calls)."""

import csv
import io
from datetime import date
from pathlib import Path

import pytest

from recycling.models import DailyCityTotal
from tests.browser import ARTEFACTS, launch
from tests.csp import watch_csp
from tests.dashboards.conftest import generate, ops_user
from tests.factories import StaffUserFactory, StationStaffFactory

pytestmark = [pytest.mark.browser]

DESKTOP = {"width": 1440, "height": 1000}
PASSWORD = "greenbox-demo-ops"


@pytest.fixture
def scene(transactional_db):
    data = generate(cities=4, stations=40, days=6, seed=5)
    ops_user(username="ops-demo", password=PASSWORD)
    StationStaffFactory(user=StaffUserFactory(username="staff-demo", password=PASSWORD))
    from recycling.services import register_member

    register_member(mobile="13812345678", password=PASSWORD)
    city = data.cities[0]
    return {
        "campaign": data.campaign.pk,
        "city": city.code,
        "daily": {
            row.day: row.cartons
            for row in DailyCityTotal.objects.filter(city=city, day__range=(date(2022, 11, 1), date(2022, 11, 6)))
        },
    }


def test_ops_read_the_overview_pick_a_city_and_download_its_csv(live_server, scene):
    from playwright.sync_api import expect, sync_playwright

    ARTEFACTS.mkdir(exist_ok=True)
    base = live_server.url
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context = browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
            violations = watch_csp(context)  # plotly and the pages' scripts are the app's files
            page = context.new_page()
            page.goto(f"{base}/ops/")
            page.fill("#id_username", "ops-demo")
            page.fill("#id_password", PASSWORD)
            page.click("[data-testid=ops-login] button[type=submit]")
            page.wait_for_url(f"{base}/ops/")
            expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
            expect(page.locator("#chart .main-svg").first).to_be_attached()  # plotly drew the chart
            expect(page.get_by_test_id("table-overview-daily").locator("tbody tr")).to_have_count(6)
            page.screenshot(path=str(ARTEFACTS / "dashboards-01-overview.png"), full_page=True)

            page.select_option("#id_city", scene["city"])
            page.click("[data-testid=filters] button[type=submit]")
            page.wait_for_url(f"{base}/ops/cities/{scene['city']}/*")
            expect(page.locator("#chart .main-svg").first).to_be_attached()
            page.screenshot(path=str(ARTEFACTS / "dashboards-02-city.png"), full_page=True)
            shown = [
                [cell.strip() for cell in row]
                for row in page.eval_on_selector_all(
                    "#city-daily tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
                )
            ]
            with page.expect_download() as info:
                page.get_by_test_id("csv-city-daily").click()
            path = info.value.path()
            text = Path(path).read_text(encoding="utf-8-sig")
            context.close()

            refused = {}
            for who in ("staff-demo", "13812345678"):
                other = browser.new_context(viewport=DESKTOP, locale="zh-CN")
                p = other.new_page()
                p.goto(f"{base}/ops/login/")
                p.fill("#id_username", who)
                p.fill("#id_password", PASSWORD)
                p.click("[data-testid=ops-login] button[type=submit]")
                p.wait_for_load_state()
                refused[who] = p.goto(f"{base}/ops/").status
                p.screenshot(path=str(ARTEFACTS / f"dashboards-03-refused-{who}.png"))
                other.close()
        finally:
            browser.close()

    rows = list(csv.reader(io.StringIO(text)))
    body = rows[1:]
    assert len(body) == len(shown) == 6
    for csv_row, page_row in zip(body, shown, strict=True):
        assert csv_row[0] == page_row[0]  # the day
        assert int(csv_row[1]) == int(page_row[1].replace(",", ""))  # cartons, thousands separators on the page
        assert int(csv_row[1]) == scene["daily"].get(date.fromisoformat(csv_row[0]), 0)
    assert refused == {"staff-demo": 403, "13812345678": 403}
    # The overview, a city's page and their charts: nothing refused by the Content-Security-Policy.
    assert violations == [], "\n".join(violations)


WIDTHS = (390, 768, 1280)
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def flagged(transactional_db):
    """A campaign running today and a drop-off synced 5 days late by an offline device: a late-record flag."""
    from datetime import timedelta

    from django.utils import timezone

    from recycling.days import shanghai_day
    from recycling.services import DropOffItem, record_dropoffs
    from tests.factories import EarningRuleFactory, MemberFactory, RecyclingCampaignFactory

    today = shanghai_day(timezone.now())
    campaign = RecyclingCampaignFactory(start_day=today - timedelta(days=9), end_day=today + timedelta(days=5))
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    login, member = StationStaffFactory(), MemberFactory()
    (answer,) = record_dropoffs(
        station=login.station,
        staff=login.user,
        offline=True,
        items=[
            DropOffItem(
                member_code=member.code, cartons=3, idempotency_key="late", occurred_at=timezone.now() - timedelta(5)
            )
        ],
    )
    ops_user(username="ops-demo", password=PASSWORD)
    return {"campaign": campaign.pk, "city": login.station.city.code, "dropoff": answer.dropoff.pk}


def test_ops_review_a_flag_and_the_pages_fit_390_768_and_1280_pixels(live_server, flagged):
    """The anomaly flags page and a flag's page have no sideways scrolling at a phone's, a
    tablet's and a desktop's width; at the phone's, ops mark the flag reviewed with a note."""
    from playwright.sync_api import expect, sync_playwright

    from recycling.models import FlagReview

    ARTEFACTS.mkdir(exist_ok=True)
    base = live_server.url
    anomalies = f"{base}/ops/anomalies/?campaign={flagged['campaign']}&city={flagged['city']}"
    flag = f"{base}/ops/flags/late_record/{flagged['dropoff']}/"
    fits = {}
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for width in WIDTHS:
                context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
                page = context.new_page()
                page.goto(f"{base}/ops/login/")
                page.fill("#id_username", "ops-demo")
                page.fill("#id_password", PASSWORD)
                page.click("[data-testid=ops-login] button[type=submit]")
                page.wait_for_url(f"{base}/ops/")
                page.goto(anomalies)
                expect(page.get_by_test_id("table-anomalies-late").locator("tbody tr")).to_have_count(1)
                fits[("anomalies", width)] = page.evaluate(NO_SIDEWAYS_SCROLL)
                page.screenshot(path=str(ARTEFACTS / f"dashboards-04-anomalies-{width}.png"), full_page=True)
                page.get_by_test_id("table-anomalies-late").locator("tbody tr a").last.click()
                page.wait_for_url(flag)
                fits[("flag", width)] = page.evaluate(NO_SIDEWAYS_SCROLL)
                page.screenshot(path=str(ARTEFACTS / f"dashboards-05-flag-{width}.png"), full_page=True)
                if width == WIDTHS[0]:
                    page.fill("[data-testid=flag-form] textarea", "设备离线一周")
                    page.click("button[value=reviewed]")
                    expect(page.get_by_test_id("flag-decision")).to_contain_text("设备离线一周")
                    fits[("decided", width)] = page.evaluate(NO_SIDEWAYS_SCROLL)
                context.close()
        finally:
            browser.close()

    assert fits == {**{(p, w): True for p in ("anomalies", "flag") for w in WIDTHS}, ("decided", 390): True}
    assert FlagReview.objects.get().note == "设备离线一周"


# The ops story on the demo data ---------------------------------------------------------------


@pytest.fixture
def demo(transactional_db):
    """What `make run` loads: the 2022 campaign at 1/1000 with its planted anomalies, and the two
    demo drop-offs of today, aggregated. Returns what the browser needs (ids, not rows)."""
    from io import StringIO

    from django.core.management import call_command

    from dashboards import anomalies
    from dashboards.selectors import Window
    from recycling.models import RecyclingCampaign

    call_command("load_demo_data", stdout=StringIO())
    campaign = RecyclingCampaign.objects.get(start_day__year=2022)
    window = Window(campaign=campaign, start=campaign.start_day, end=campaign.end_day)
    # Staff logins named in the flag tables: identifiers, not text to translate.
    logins = [flag.username for flag in anomalies.flag_staff_days(window=window, day=campaign.end_day)]
    logins += [flag.logged_by for flag in anomalies.flag_late_records(window=window, day=campaign.end_day)]
    return {"campaign": campaign.pk, "logins": tuple(logins)}


def test_ops_story_overview_city_map_anomalies_and_now_at_every_width(live_server, demo):
    """At 390, 768 and 1280 px, in Chinese: the overview (100% of the demo's scaled target, the
    chart's dates in Chinese, one tick a day or every few days), a city reached by clicking its
    bubble on the map, the anomaly flags of the default day (one of each kind, planted by the
    demo), and the "now" page with today's demo drop-offs. Every page looked at: no sideways
    scrolling, nothing left in English, nothing refused by the CSP."""
    import re

    from playwright.sync_api import expect, sync_playwright

    from tests.browser import VIEWPORTS, launch, look

    base = live_server.url
    problems, ticks, cities_opened = [], {}, []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for viewport in VIEWPORTS:
                width = viewport["width"]
                context = browser.new_context(viewport=viewport, locale="zh-CN")
                violations = watch_csp(context)
                page = context.new_page()
                page.goto(f"{base}/ops/login/")
                page.fill("#id_username", "ops")
                page.fill("#id_password", "greenbox-demo")
                page.click("[data-testid=ops-login] button[type=submit]")
                page.wait_for_url(f"{base}/ops/")

                expect(page.get_by_test_id("kpi-share")).to_have_text("100.0")
                expect(page.locator("#chart .xtick text").first).to_be_attached()
                expect(page.locator("#map .scatterlayer .point").first).to_be_attached()
                ticks[width] = page.eval_on_selector_all("#chart .xtick text", "ts => ts.map(t => t.textContent)")
                problems += look(page, f"dashboards-10-overview-{width}")

                # The largest bubble (the first city in the data is the one with most cartons).
                bubble = page.locator("#map .scatterlayer .point").first
                bubble.scroll_into_view_if_needed()
                box = bubble.bounding_box()
                page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                page.wait_for_url(re.compile(r"/ops/cities/[A-Z]+/\?campaign="))
                code = page.url.split("/ops/cities/")[1].split("/")[0]
                expect(page.locator("h1")).to_contain_text(code)
                cities_opened.append(code)
                expect(page.locator("#chart .xtick text").first).to_be_attached()
                problems += look(page, f"dashboards-11-city-from-map-{width}")

                page.get_by_role("link", name="异常标记").click()
                page.wait_for_url(re.compile(r"/ops/anomalies/"))
                for slug in ("anomalies", "anomalies-cap-stations", "anomalies-staff", "anomalies-late"):
                    expect(page.get_by_test_id(f"table-{slug}").locator("tbody tr")).to_have_count(1)
                    expect(page.get_by_test_id(f"empty-{slug}")).to_have_count(0)
                problems += look(page, f"dashboards-12-anomalies-{width}", allowed=demo["logins"])

                page.get_by_role("link", name="今日与近期").click()
                page.wait_for_url(f"{base}/ops/now/")
                expect(page.get_by_test_id("now-today")).to_have_text("5")
                expect(page.locator("#chart .xtick text").first).to_be_attached()
                problems += look(page, f"dashboards-13-now-{width}")
                problems += [f"{width}px: {violation}" for violation in violations]
                context.close()
        finally:
            browser.close()

    assert problems == [], "\n".join(problems)
    for width, labels in ticks.items():
        assert labels and all(re.fullmatch(r"\d{1,2}月\d{1,2}日", label) for label in labels), (width, labels)
    assert len(ticks[1280]) > len(ticks[390])  # a label a day where there is room, fewer on a phone
    assert len(cities_opened) == len(VIEWPORTS)  # a click on a bubble opened a city's page at every width
