"""The sign-in lockout behind the production proxy (TRUSTED_PROXIES=1, the client's address in
X-Forwarded-For): per account and client address, per address across accounts, the account the
same whichever identifier was typed, wrong old passwords counted, and no 500 on a huge username.
members/lockout.py says how it works."""

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from recycling.mobile import keyed_mobile
from recycling.services import register_member
from tests.factories import StationStaffFactory

from .conftest import PASSWORD

PROXY = "10.0.0.2"  # what REMOTE_ADDR is for every request behind the load balancer
ATTACKER = "203.0.113.7"
VICTIM = "198.51.100.23"
NEW_PASSWORD = "new-green-pass-7"


@pytest.fixture(autouse=True)
def behind_the_proxy(settings):
    settings.GREENBOX_TRUSTED_PROXIES = 1


@pytest.fixture
def member(db):
    return register_member(mobile="13812345678", password=PASSWORD)


def through_proxy(client_address: str, forged: str = "") -> dict:
    """The headers a request has behind one proxy: the proxy appends the address it saw to
    whatever X-Forwarded-For the client sent."""
    forwarded = f"{forged}, {client_address}" if forged else client_address
    return {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": forwarded, "HTTP_ACCEPT_LANGUAGE": "en"}


def sign_in(username, password, client_address, client=None, forged=""):
    client = client or Client()
    response = client.post(
        reverse("members:signin"),
        {"username": username, "password": password},
        **through_proxy(client_address, forged),
    )
    return response


def signed_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.wsgi_request.session


def test_failures_lock_the_client_that_made_them_not_the_victim(member):
    """Five wrong passwords from one client lock that client out of the account (the right
    password included), while the member, behind the same proxy, signs in from elsewhere."""
    for _ in range(4):
        assert sign_in("13812345678", "guess", ATTACKER).status_code == 200
    assert sign_in("13812345678", "guess", ATTACKER).status_code == 429
    locked = sign_in("13812345678", PASSWORD, ATTACKER)
    assert locked.status_code == 429 and "this account is locked on this connection" in locked.content.decode()

    assert signed_in(sign_in("13812345678", PASSWORD, VICTIM))


def test_a_forged_x_forwarded_for_neither_escapes_nor_redirects_the_lock(member):
    """Whatever the client writes left of the proxy's entry proves nothing: varying it does not
    reset the count, and naming the victim's address does not lock the victim."""
    for n in range(5):
        sign_in("13812345678", "guess", ATTACKER, forged=f"192.0.2.{n}, {VICTIM}")
    assert sign_in("13812345678", PASSWORD, ATTACKER, forged="192.0.2.99").status_code == 429
    assert signed_in(sign_in("13812345678", PASSWORD, VICTIM))
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}


def test_the_lockout_and_the_audit_log_record_the_same_client_address(member):
    """One derivation of the client's address (audit.context.client_address) serves both."""
    sign_in("13812345678", "guess", ATTACKER, forged="6.6.6.6")
    attempt = AccessAttempt.objects.get()
    event = AuditEvent.objects.get(action=AuditEvent.Action.SIGN_IN_FAILED)
    assert attempt.ip_address == event.address == ATTACKER


def test_the_lock_belongs_to_the_account_whichever_identifier_was_typed(member):
    """Failures under the mobile number lock the member's internal username too, from that client."""
    for spelling in ["13812345678", "138 1234 5678", "+86 138-1234-5678", "8613812345678", "138-1234-5678"]:
        sign_in(spelling, "guess", ATTACKER)
    assert sign_in(member.user.username, PASSWORD, ATTACKER).status_code == 429
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {keyed_mobile("13812345678")}
    assert signed_in(sign_in(member.user.username, PASSWORD, VICTIM))


def test_failures_under_the_internal_username_lock_the_mobile_number(member):
    for _ in range(5):
        sign_in(member.user.username, "guess", ATTACKER)
    assert sign_in("138 1234 5678", PASSWORD, ATTACKER).status_code == 429
    assert AccessAttempt.objects.get().username == keyed_mobile("13812345678")  # never the number itself


def test_spraying_one_password_over_many_numbers_locks_the_address(member, settings):
    """One password tried against 20 numbers (registered or not) from one address: that address
    is then refused for every account, the member's right password included, and says why;
    other addresses are not affected."""
    assert settings.GREENBOX_SIGNIN_FAILURES_PER_ADDRESS == 20
    for n in range(19):
        assert sign_in(f"1390000{n:04d}", "123456789", ATTACKER).status_code == 200
    assert sign_in("13900009999", "123456789", ATTACKER).status_code == 429

    locked = sign_in("13812345678", PASSWORD, ATTACKER)
    assert locked.status_code == 429
    assert "Too many sign-ins failed from this connection" in locked.content.decode()
    assert signed_in(sign_in("13812345678", PASSWORD, VICTIM))


def test_a_successful_sign_in_does_not_clear_the_address_count(member):
    """Signing in to one's own account between sprays clears only that account's failures."""
    register_member(mobile="13987654321", password=PASSWORD)
    for n in range(19):
        sign_in(f"1390000{n:04d}", "123456789", ATTACKER)
    assert signed_in(sign_in("13987654321", PASSWORD, ATTACKER))
    assert sign_in("13900009999", "123456789", ATTACKER).status_code == 429  # the 20th failure
    assert sign_in("13812345678", PASSWORD, ATTACKER).status_code == 429


def test_fewer_failures_than_the_address_limit_lock_nothing_else(member):
    """Nineteen failures over many numbers: a further account still signs in from that address."""
    for n in range(19):
        sign_in(f"1390000{n:04d}", "123456789", ATTACKER)
    assert signed_in(sign_in("13812345678", PASSWORD, ATTACKER))


def test_a_huge_username_is_a_form_error_not_a_500(member):
    """A 100,000-character username on the member and the admin sign-in forms: the form says it
    is too long; nothing is looked up or recorded."""
    member_page = Client().post(
        reverse("members:signin"), {"username": "1" * 100_000, "password": "x"}, **through_proxy(ATTACKER)
    )
    admin_page = Client().post(
        reverse("admin:login"),
        {"username": "a" * 100_000, "password": "x", "next": "/admin/"},
        **through_proxy(ATTACKER),
    )
    for response in (member_page, admin_page):
        assert response.status_code == 200
        assert "Ensure this value has at most" in str(response.context["form"].errors["username"])
    assert not AccessAttempt.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.SIGN_IN_FAILED).exists()


# --- Password change ---------------------------------------------------------------------


def change_password(client, old, client_address, path=None):
    return client.post(
        path or reverse("members:password_change"),
        {"old_password": old, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        **through_proxy(client_address),
    )


def test_wrong_old_passwords_count_towards_the_account_lock(member):
    """Someone at a signed-in member's phone guesses the old password: the fifth wrong one answers
    the lockout page; the right one is then refused too, from that address, and so is signing
    in; the member signs in from elsewhere with the unchanged password."""
    client = Client()
    client.force_login(member.user, backend="recycling.auth.MobileNumberBackend")
    for _ in range(4):
        assert change_password(client, "guess", ATTACKER).status_code == 200
    assert change_password(client, "guess", ATTACKER).status_code == 429
    assert change_password(client, PASSWORD, ATTACKER).status_code == 429
    member.user.refresh_from_db()
    assert member.user.check_password(PASSWORD)

    assert sign_in("13812345678", PASSWORD, ATTACKER).status_code == 429
    assert signed_in(sign_in("13812345678", PASSWORD, VICTIM))


def test_failed_sign_ins_lock_the_password_change_of_that_account(member):
    for _ in range(5):
        sign_in("13812345678", "guess", ATTACKER)
    client = Client()
    client.force_login(member.user, backend="recycling.auth.MobileNumberBackend")
    assert change_password(client, PASSWORD, ATTACKER).status_code == 429
    assert change_password(client, PASSWORD, VICTIM).status_code == 302


def test_wrong_old_passwords_on_the_admin_password_change_count_too(db):
    staff = StationStaffFactory().user
    client = Client()
    client.force_login(staff)
    path = reverse("admin:password_change")
    for _ in range(5):
        change_password(client, "guess", ATTACKER, path=path)
    response = client.post(
        reverse("admin:login"),
        {"username": staff.username, "password": "correct-horse-battery", "next": "/admin/"},
        **through_proxy(ATTACKER),
    )
    assert response.status_code == 429
    assert AccessAttempt.objects.get().failures_since_start == 5
    assert change_password(client, "correct-horse-battery", VICTIM, path=path).status_code == 302
