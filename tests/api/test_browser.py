"""Swagger UI at /api/docs/ in Debian's chromium (Playwright, as tests/members/test_browser.py
launches it): the page draws the API's operations from the schema, and the
Content-Security-Policy (scripts and styles from the app only) refuses nothing on it."""

import pytest

from tests.browser import launch
from tests.csp import watch_csp

pytestmark = [pytest.mark.browser]


def test_swagger_ui_works_under_the_content_security_policy(live_server, transactional_db):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
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


def test_a_superuser_creates_a_device_token_in_the_admin_under_the_policy(live_server, transactional_db):
    """The admin's pages (index, the token form with its autocompletes, the page that shows the
    secret once, a user's page) work under the Content-Security-Policy; the secret is shown once."""
    from playwright.sync_api import expect, sync_playwright

    from tests.factories import StationStaffFactory, SuperuserFactory

    SuperuserFactory(username="root-1", password="admin-password-11")
    device_user = StationStaffFactory(user__username="staff-hz-00009").user
    base = live_server.url
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en")
            violations = watch_csp(context)
            page = context.new_page()
            page.goto(f"{base}/admin/login/?next=/admin/api/apitoken/add/")
            page.fill("#id_username", "root-1")
            page.fill("#id_password", "admin-password-11")
            page.click("input[type=submit]")
            page.wait_for_url(f"{base}/admin/api/apitoken/add/")
            page.fill("#id_name", "HZ-00009 tablet")
            page.locator(".field-user .select2-selection").click()  # the autocomplete (admin's select2)
            page.locator(".select2-search__field").fill("staff-hz-00009")
            page.locator(".select2-results__option", has_text="staff-hz-00009").click()
            page.click("input[type=submit]")
            secret = page.locator(".api-token-secret").inner_text().strip()
            assert len(secret) >= 40
            page.goto(f"{base}/admin/api/apitoken/")
            expect(page.locator("#result_list")).to_contain_text("HZ-00009 tablet")
            assert secret not in page.content()
            page.goto(f"{base}/admin/auth/user/{device_user.pk}/change/")
            expect(page.locator("#id_username")).to_have_value("staff-hz-00009")
            page.goto(f"{base}/admin/")
        finally:
            browser.close()
    assert violations == [], "\n".join(violations)
    from api.models import ApiToken

    assert ApiToken.objects.get().user == device_user
