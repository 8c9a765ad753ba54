"""How django-axes names the account a failed sign-in tried (settings.AXES_USERNAME_CALLABLE)."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest

from recycling.mobile import normalize_mobile


def lockout_username(request: HttpRequest, credentials: dict | None) -> str:
    """The normalized mobile number when the username is one, else the username as typed.

    Members may type their number as 138 1234 5678, +86 13812345678 ...: every spelling counts
    against the same number, so varying it does not buy an attacker more attempts.
    """
    if credentials and "username" in credentials:
        username = credentials.get("username") or ""
    else:
        username = request.POST.get("username", "") if request is not None else ""
    try:
        return normalize_mobile(username)
    except ValidationError:
        return username
