"""Security headers on every page: the Content-Security-Policy (django-csp, self only, nothing
inline) and the Permissions-Policy (core.headers: the camera only on the desk's own pages)."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import StationStaffFactory


@pytest.fixture
def desk_client(db):
    staff = StationStaffFactory().user
    client = Client()
    client.force_login(staff)
    return client


def test_pages_send_a_self_only_content_security_policy(db):
    policy = Client().get(reverse("members:signin"))["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.mark.parametrize(
    "url",
    [
        lambda: reverse("members:signin"),
        lambda: reverse("admin:index"),
        lambda: "/api/docs/",
        lambda: reverse("desk:home"),
        lambda: reverse("desk:cartons"),
    ],
)
def test_pages_elsewhere_may_not_use_the_camera(desk_client, url):
    policy = desk_client.get(url())["Permissions-Policy"]
    assert "camera=()" in policy and "microphone=()" in policy and "geolocation=()" in policy


@pytest.mark.parametrize("name", ["desk:log", "desk:hand_out"])
def test_the_desks_scanning_pages_may_use_the_camera_for_themselves(desk_client, name):
    response = desk_client.get(reverse(name))
    assert response.status_code == 200
    assert response["Permissions-Policy"].startswith("camera=(self),")
    assert "microphone=()" in response["Permissions-Policy"]
