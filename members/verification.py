"""Proving a member owns the mobile number they sign up with: the place for an SMS gateway.

There is no SMS gateway on these machines, so the default verifier accepts every number
without sending anything. To verify by SMS, write a class with the two methods below (send a
short code through the operator's gateway, keep it for a few minutes, compare it), and name it
in settings.GREENBOX_MOBILE_VERIFIER. The sign-up form then asks for the code and offers a
"send code" button; nothing else changes.
"""

from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULT_VERIFIER = "members.verification.AcceptWithoutSms"


class MobileVerifier(Protocol):
    requires_code: bool  # True: the sign-up form asks for the code the member received

    def send_code(self, *, mobile: str) -> None: ...

    def verify(self, *, mobile: str, code: str) -> bool: ...


class AcceptWithoutSms:
    """The default: no SMS is sent and every number is accepted as the member's own."""

    requires_code = False

    def send_code(self, *, mobile: str) -> None:
        return None

    def verify(self, *, mobile: str, code: str) -> bool:
        return True


def get_verifier() -> MobileVerifier:
    return import_string(getattr(settings, "GREENBOX_MOBILE_VERIFIER", DEFAULT_VERIFIER))()


def send_verification_code(*, mobile: str) -> None:
    """Send a code to the (normalized) number, if the verifier in use sends codes."""
    get_verifier().send_code(mobile=mobile)


def verify_mobile(*, mobile: str, code: str) -> bool:
    """Whether the code proves the (normalized) number belongs to the person signing up."""
    return get_verifier().verify(mobile=mobile, code=code)
