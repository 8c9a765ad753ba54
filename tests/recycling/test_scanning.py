"""The desk's camera scan button as the server renders it (recycling/_scan_button.html): wired to
the log form's member code and carton count, accepting the member code's pattern, on a page whose
Permissions-Policy lets it use the camera. The camera itself is tested in test_scanning_browser.py."""

import re

import pytest
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.test import Client
from django.urls import reverse

from recycling.models import MEMBER_CODE_PATTERN, new_member_code
from tests.factories import StationStaffFactory


def test_the_member_code_pattern_takes_member_codes_and_nothing_else():
    pattern = re.compile(MEMBER_CODE_PATTERN)
    assert all(pattern.match(new_member_code()) for _ in range(100))
    for other in ["", "ABCDEFGH2345678", "ABCDEFGH23456789X", "abcdefgh23456789", "ABCDEFGH2345678O", "https://x.cn/"]:
        assert not pattern.match(other), other


def test_the_log_cartons_page_has_the_scan_button_and_may_use_the_camera(db):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(StationStaffFactory().user)
    response = client.get(reverse("desk:log"))
    assert response.status_code == 200
    assert response["Permissions-Policy"].startswith("camera=(self),")
    html = response.content.decode()
    assert 'data-scan-fill="id_member"' in html and 'data-scan-then="id_cartons"' in html
    assert f'data-scan-pattern="{MEMBER_CODE_PATTERN}"' in html
    assert f'data-scan-decoder="{static("vendor/jsqr/jsQR.js")}"' in html
    assert f'<script src="{static("recycling/scan.js")}" defer></script>' in html
    assert ">扫码</button>" in html


@pytest.mark.parametrize("then", ["id_cartons", ""])
def test_the_button_takes_another_pattern_and_an_optional_next_field(then):
    html = render_to_string(
        "recycling/_scan_button.html", {"fill": "id_pickup_code", "then": then, "pattern": "^[0-9]{6}$"}
    )
    assert 'data-scan-fill="id_pickup_code"' in html
    assert f'data-scan-then="{then}"' in html
    assert 'data-scan-pattern="^[0-9]{6}$"' in html
