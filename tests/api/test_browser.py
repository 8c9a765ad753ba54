"""Swagger UI at /api/docs/ in Debian's chromium (Playwright, as tests/members/test_browser.py
launches it): the page draws the API's operations from the schema, and the
Content-Security-Policy (scripts and styles from the app only) refuses nothing on it."""

import pytest

from tests.csp import watch_csp
from tests.members.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser]


def test_swagger_ui_works_under_the_content_security_policy(live_server, transactional_db):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            violations = watch_csp(context)
            page = context.new_page()
            response = page.goto(f"{live_server.url}/api/docs/")
            assert "script-src 'self'" in response.headers["content-security-policy"]
            expect(page.locator(".opblock").first).to_be_visible()  # Swagger UI drew the operations
            expect(page.locator(".opblock-summary-path", has_text="/api/v1/dropoffs/").first).to_be_visible()
        finally:
            browser.close()
    assert violations == [], "\n".join(violations)
