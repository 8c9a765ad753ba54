"""The ops story in Debian's chromium (Playwright, launched as tests/members/test_browser.py
does): an ops user signs in, reads the national overview with its chart, picks a city, downloads
the city's daily CSV and finds the rows of the page's table and of the daily totals in it; a
station staff user and a member get 403. Screenshots go to test-artefacts/.

The database is set up before the browser starts and read after it closed (Playwright's sync
API runs an event loop in this thread, where Django refuses ORM calls)."""

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings

from recycling.models import DailyCityTotal
from tests.csp import watch_csp
from tests.dashboards.conftest import generate, ops_user
from tests.factories import StaffUserFactory, StationStaffFactory

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
DESKTOP = {"width": 1440, "height": 1000}
ARTEFACTS = Path(settings.BASE_DIR) / "test-artefacts"
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
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
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
