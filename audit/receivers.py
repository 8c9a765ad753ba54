"""Sign-ins and failed sign-ins, from django.contrib.auth's signals (admin and member pages).

The password is never recorded: Django's authenticate() already blanks credential keys that
look like secrets, and only the username is read here. A username that is a mainland China
mobile number (members sign in with theirs) is stored masked, 138****5678, as everywhere else
in GreenBox; audit/ cannot import recycling.mobile (it sits below it), so the pattern is here.
"""

import re

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from .models import AuditEvent
from .services import record_event

# Spaces, dashes, dots, brackets and a +86 / 0086 / 86 prefix, as members may type them.
_SEPARATORS = re.compile(r"[\s\-().]")
_MOBILE = re.compile(r"^(?:\+86|0086|86)?(1[3-9][0-9])([0-9]{4})([0-9]{4})$")


def masked_username(raw: object) -> str:
    text = str(raw or "")
    match = _MOBILE.match(_SEPARATORS.sub("", text))
    if match:
        return f"{match.group(1)}****{match.group(3)}"
    return text


@receiver(user_logged_in, dispatch_uid="audit_sign_in")
def record_sign_in(sender, request, user, **kwargs) -> None:
    record_event(action=AuditEvent.Action.SIGN_IN, user=user)


@receiver(user_login_failed, dispatch_uid="audit_sign_in_failed")
def record_sign_in_failed(sender, credentials: dict, request=None, **kwargs) -> None:
    # Nobody is signed in by a failed attempt: user=None even if the session has someone.
    record_event(
        action=AuditEvent.Action.SIGN_IN_FAILED,
        user=None,
        username=masked_username(credentials.get("username")),
    )
