"""Fixtures shared by the whole suite, and the rule for tests that need Redis or a browser.

Every test runs on PostgreSQL (DATABASE_URL, else the embedded server: config/embedded_postgres.py).
Mark a test that needs Redis `@pytest.mark.redis`, one that drives Debian's chromium at
/usr/bin/chromium through Playwright `@pytest.mark.browser`. Without the service it is skipped
with the reason; with GREENBOX_REQUIRE_SERVICES=1 (set by .ci/run) it fails instead, so CI can
never go green by skipping them.
"""

import os

import pytest
from django.conf import settings

REQUIRE_SERVICES = os.environ.get("GREENBOX_REQUIRE_SERVICES") == "1"
CHROMIUM = "/usr/bin/chromium"


def _redis_unavailable() -> str | None:
    if not settings.REDIS_URL:
        return "needs Redis: set REDIS_URL=redis://127.0.0.1:6379/15"
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        return f"needs Redis at REDIS_URL, which did not answer: {error}"
    return None


def _missing_service(item: pytest.Item) -> str | None:
    if item.get_closest_marker("redis"):
        return _redis_unavailable()
    if item.get_closest_marker("browser") and not os.access(CHROMIUM, os.X_OK):
        return f"needs Debian's chromium at {CHROMIUM}: apt-get install chromium (never `playwright install`)"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _missing_service(item)
    if reason is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (GREENBOX_REQUIRE_SERVICES=1 turns this skip into a failure)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def any_past_time(settings):
    """Lift the drop-off time window (recycling.services.check_dropoff_time) to a century, for
    tests that build a history on fixed dates through record_dropoff(); the window itself is
    tested in tests/recycling/test_dropoff_time.py."""
    settings.GREENBOX_DROPOFF_MAX_AGE_HOURS = 100 * 365 * 24
