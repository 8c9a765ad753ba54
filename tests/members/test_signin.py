"""Signing in with the mobile number, locking out repeated failures per number and address,
signing out, and changing the password."""

import json
import logging

import pytest
from django.test import Client
from django.urls import reverse

from recycling.mobile import keyed_mobile
from recycling.services import register_member
from tests.factories import StationStaffFactory

from .conftest import PASSWORD, signed_in_client

ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.23"


@pytest.fixture
def member(db):
    return register_member(mobile="13812345678", password=PASSWORD)


def sign_in(client, username, password, ip="127.0.0.1", **extra):
    return client.post(
        reverse("members:signin"),
        {"username": username, "password": password, **extra},
        REMOTE_ADDR=ip,
        HTTP_ACCEPT_LANGUAGE="en",
    )


def signed_in_user_id(client) -> str | None:
    return client.session.get("_auth_user_id")


def test_the_form_asks_for_the_mobile_number(client, db):
    html = client.get(reverse("members:signin"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Mobile number" in html and 'inputmode="tel"' in html


@pytest.mark.parametrize("spelling", ["13812345678", "138 1234 5678", "+86 138-1234-5678"])
def test_a_member_signs_in_with_the_mobile_number(client, member, spelling):
    response = sign_in(client, spelling, PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("members:home")
    assert signed_in_user_id(client) == str(member.user.pk)


def test_sign_in_returns_to_the_page_asked_for(client, member):
    response = sign_in(client, "13812345678", PASSWORD, next=reverse("members:history"))
    assert response["Location"] == reverse("members:history")


def test_a_wrong_password_is_refused_with_a_message(client, member):
    response = sign_in(client, "13812345678", "wrong-password")
    assert response.status_code == 200
    assert "mobile number or the password is wrong" in response.content.decode()
    assert signed_in_user_id(client) is None


def test_repeated_failures_lock_that_number_out_from_that_address_only(member):
    """After 5 failures from one address, even the right password is refused there for a while
    (whatever spelling of the number is tried), while the member still signs in elsewhere."""
    attacker = Client()
    for spelling in ["13812345678", "138 1234 5678", "+8613812345678", "138-1234-5678"]:
        assert sign_in(attacker, spelling, "guess", ip=ATTACKER).status_code == 200
    assert sign_in(attacker, "13812345678", "guess", ip=ATTACKER).status_code == 429  # the fifth locks
    locked = sign_in(attacker, "13812345678", PASSWORD, ip=ATTACKER)
    assert locked.status_code == 429
    assert "Too many attempts" in locked.content.decode()
    assert signed_in_user_id(attacker) is None

    member_elsewhere = Client()
    response = sign_in(member_elsewhere, "13812345678", PASSWORD, ip=ELSEWHERE)
    assert response.status_code == 302
    assert signed_in_user_id(member_elsewhere) == str(member.user.pk)

    other = register_member(mobile="13987654321", password=PASSWORD)
    assert sign_in(Client(), "13987654321", PASSWORD, ip=ATTACKER).status_code == 302  # another number is not locked
    assert other.user.pk


def test_the_lockout_ends_after_the_cool_off(member, settings):
    from datetime import timedelta

    from axes.models import AccessAttempt

    attacker = Client()
    for _ in range(5):
        sign_in(attacker, "13812345678", "guess", ip=ATTACKER)
    assert sign_in(attacker, "13812345678", PASSWORD, ip=ATTACKER).status_code == 429
    # Fifteen minutes later (the attempts are dated back rather than the clock moved forward).
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    assert sign_in(attacker, "13812345678", PASSWORD, ip=ATTACKER).status_code == 302


def test_a_staff_login_is_not_a_member_sign_in(client, db):
    staff = StationStaffFactory().user
    response = sign_in(client, staff.username, "correct-horse-battery")
    assert response.status_code == 200
    assert "This sign-in is for members" in response.content.decode()
    assert signed_in_user_id(client) is None


def test_the_admin_sign_in_still_works(client, db):
    staff = StationStaffFactory().user
    response = client.post(
        reverse("admin:login"), {"username": staff.username, "password": "correct-horse-battery", "next": "/admin/"}
    )
    assert response.status_code == 302 and signed_in_user_id(client) == str(staff.pk)


def test_sign_out_is_a_post(member):
    client = signed_in_client(member)
    assert client.get(reverse("members:signout")).status_code == 405
    response = client.post(reverse("members:signout"))
    assert response.status_code == 302 and response["Location"] == reverse("members:signin")
    assert signed_in_user_id(client) is None


def test_a_member_changes_the_password(member):
    client = signed_in_client(member)
    refused = client.post(
        reverse("members:password_change"),
        {"old_password": "not-it", "new_password1": "new-green-pass-7", "new_password2": "new-green-pass-7"},
    )
    assert refused.status_code == 200
    member.user.refresh_from_db()
    assert member.user.check_password(PASSWORD)
    response = client.post(
        reverse("members:password_change"),
        {"old_password": PASSWORD, "new_password1": "new-green-pass-7", "new_password2": "new-green-pass-7"},
    )
    assert response.status_code == 302
    member.user.refresh_from_db()
    assert member.user.check_password("new-green-pass-7")
    assert client.get(reverse("members:home")).status_code == 200  # still signed in


def _axes_rows() -> str:
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    rows = [list(model.objects.values()) for model in (AccessAttempt, AccessFailureLog, AccessLog)]
    return json.dumps(rows, default=str)


@pytest.mark.parametrize("number", ["13812345678", "13700009999"])  # a member's number, and a non-member's
def test_the_lockout_records_keep_no_full_number(member, number, caplog):
    """django-axes' records and log lines hold the number masked with its keyed hash
    (recycling.mobile.keyed_mobile), whichever spelling was typed, never the number itself;
    the hash still tells numbers apart, so the lock works per number."""
    attacker = Client()
    with caplog.at_level(logging.DEBUG):
        for spelling in [number, f"+86 {number[:3]} {number[3:7]} {number[7:]}"] * 3:  # the fifth locks
            response = sign_in(attacker, spelling, "guess", ip=ATTACKER)
    from axes.models import AccessAttempt

    assert response.status_code == 429 and number not in response.content.decode()
    (attempt,) = AccessAttempt.objects.all()
    assert attempt.username == keyed_mobile(number)
    assert attempt.username.startswith(f"{number[:3]}****{number[-4:]}#") and attempt.failures_since_start == 5
    assert number not in _axes_rows() and number not in caplog.text
    assert keyed_mobile("13812345678") != keyed_mobile("13912345678")  # same mask, another number


def test_the_keyed_hash_depends_on_the_secret_key(settings):
    before = keyed_mobile("13812345678")
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789abcdef"
    assert keyed_mobile("13812345678") != before
