"""Signing up: a login, its Member and its points account, or a clear refusal with nothing written."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse

from ledger.models import Account
from recycling.models import Member

STRONG = "green-cartons-42"


def counts() -> tuple[int, int, int]:
    return get_user_model().objects.count(), Member.objects.count(), Account.objects.count()


def sign_up(client, mobile, password=STRONG, password2=None, **extra):
    data = {"mobile": mobile, "password1": password, "password2": password2 or password, "consent": "on", **extra}
    return client.post(reverse("members:signup"), data, HTTP_ACCEPT_LANGUAGE="en")


def test_sign_up_creates_the_login_member_and_account_and_signs_in(client, db):
    response = sign_up(client, "+86 139-1234-5678")
    assert response.status_code == 302 and response["Location"] == reverse("members:home")
    member = Member.objects.select_related("user", "account").get()
    assert member.mobile == "13912345678"  # normalized
    assert member.account.balance == 0 and member.account.kind == Account.Kind.MEMBER
    assert member.user.check_password(STRONG)
    assert member.user.username != member.mobile  # a random handle: the number stays out of user lists
    home = client.get(reverse("members:home"), HTTP_ACCEPT_LANGUAGE="en")
    assert home.status_code == 200 and member.code in home.content.decode()


@pytest.mark.parametrize("mobile", ["12345678901", "1381234567", "138123456789", "abc", "", "23812345678"])
def test_a_number_that_is_not_a_mainland_mobile_is_refused(client, db, mobile):
    before = counts()
    response = sign_up(client, mobile)
    assert response.status_code == 200
    assert response.context["form"].has_error("mobile")
    assert counts() == before


def test_a_registered_number_is_refused_whatever_its_spelling(client, db):
    sign_up(client, "13912345678")
    client.logout()
    before = counts()
    response = sign_up(client, "139 1234 5678")
    assert "already registered" in response.content.decode()
    assert counts() == before


@pytest.mark.parametrize(
    ("password", "password2", "message"),
    [
        ("short1", None, "too short"),
        ("12345678901", None, "entirely numeric"),
        ("password123", None, "too common"),
        (STRONG, "something-else-9", "The two passwords differ"),
    ],
)
def test_weak_or_mismatched_passwords_are_refused(client, db, password, password2, message):
    before = counts()
    response = sign_up(client, "13912345678", password, password2)
    assert message in response.content.decode()
    assert counts() == before


def test_without_an_sms_gateway_the_form_asks_for_no_code_and_sends_none(client, db):
    assert 'name="code"' not in client.get(reverse("members:signup")).content.decode()
    assert client.post(reverse("members:send_code"), {"mobile": "13912345678"}).status_code == 404


class CodeVerifier:
    """A stand-in SMS gateway: the code is always 246810."""

    requires_code = True
    sent: list[str] = []

    def send_code(self, *, mobile: str) -> None:
        self.sent.append(mobile)

    def verify(self, *, mobile: str, code: str) -> bool:
        return code == "246810"


@override_settings(GREENBOX_MOBILE_VERIFIER="tests.members.test_signup.CodeVerifier")
def test_a_verifier_that_sends_codes_is_asked_for_the_code(client, db):
    page = client.get(reverse("members:signup")).content.decode()
    assert 'name="code"' in page and reverse("members:send_code") in page
    sent = client.post(reverse("members:send_code"), {"mobile": "139 1234 5678"}, HTTP_ACCEPT_LANGUAGE="en")
    assert sent.status_code == 200 and CodeVerifier.sent[-1] == "13912345678"
    before = counts()
    wrong = sign_up(client, "13912345678", code="111111")
    assert "verification code is wrong" in wrong.content.decode() and counts() == before
    assert sign_up(client, "13912345678", code="246810").status_code == 302
    assert Member.objects.filter(mobile="13912345678").exists()


def test_sign_up_records_the_privacy_notice_version_and_the_time_of_consent(client, db, settings):
    settings.GREENBOX_PRIVACY_NOTICE_VERSION = "2026-12"
    sign_up(client, "13912345678")
    member = Member.objects.get()
    assert member.privacy_notice_version == "2026-12"
    assert member.privacy_consent_at is not None and member.privacy_consent_at <= member.user.date_joined + timedelta(
        seconds=5
    )


def test_sign_up_cannot_proceed_without_ticking_consent(client, db):
    before = counts()
    response = client.post(
        reverse("members:signup"),
        {"mobile": "13912345678", "password1": STRONG, "password2": STRONG},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200 and response.context["form"].has_error("consent")
    assert "Tick the box to agree to the privacy notice" in response.content.decode()
    assert counts() == before


def test_the_sign_up_form_links_the_privacy_notice(client, db):
    page = client.get(reverse("members:signup"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'name="consent"' in page and reverse("members:privacy") in page


@pytest.mark.parametrize(("language", "text"), [("en", "Privacy notice"), ("zh-hans", "隐私声明")])
def test_the_privacy_notice_is_in_chinese_and_english(client, db, settings, language, text):
    settings.GREENBOX_PRIVACY_NOTICE_VERSION = "2026-12"
    response = client.get(reverse("members:privacy"), HTTP_ACCEPT_LANGUAGE=language)
    content = response.content.decode()
    assert response.status_code == 200 and text in content and "2026-12" in content


def test_the_number_typed_at_sign_up_stays_out_of_error_reports(rf, db):
    """Django's error reports (logged 500s, admin e-mails) leave the mobile number out."""
    from django.contrib.auth.models import AnonymousUser
    from django.views.debug import SafeExceptionReporterFilter

    from members.views import signup

    request = rf.post(reverse("members:signup"), {"mobile": "13912345678", "password1": STRONG})
    request.user = AnonymousUser()
    assert signup(request).status_code == 200  # refused: the second password is missing
    cleansed = SafeExceptionReporterFilter().get_post_parameters(request)
    assert cleansed["mobile"] != "13912345678" and cleansed["password1"] != STRONG
