"""How django-axes names the account a failed sign-in tried (settings.AXES_USERNAME_CALLABLE)."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest

from recycling.mobile import keyed_mobile, normalize_mobile


def lockout_username(request: HttpRequest, credentials: dict | None) -> str:
    """A mobile number masked with its keyed hash (138****5678#...), else the username as typed.

    Members may type their number as 138 1234 5678, +86 13812345678 ...: every spelling counts
    against the same number, so varying it does not buy an attacker more attempts. The lockout
    records (and axes' log lines) never hold the number itself, member's or not: the keyed hash
    (recycling.mobile.keyed_mobile) keeps the lock per number.
    """
    if credentials and "username" in credentials:
        username = credentials.get("username") or ""
    else:
        username = request.POST.get("username", "") if request is not None else ""
    try:
        return keyed_mobile(normalize_mobile(username))
    except ValidationError:
        return username
