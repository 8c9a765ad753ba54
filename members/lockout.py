"""The sign-in lockout (django-axes, configured in config/settings/base.py): what it counts, under
which names, and how a locked client is answered.

- The client is the address the audit log records (audit.context.client_address, which reads
  X-Forwarded-For only as far as GREENBOX_TRUSTED_PROXIES allows; AXES_CLIENT_IP_CALLABLE), so
  behind the production proxy each client is counted on its own, not all of them as the proxy.
- The account is the same whichever identifier was typed (lockout_username, the
  AXES_USERNAME_CALLABLE): a member's mobile number in any spelling and the member's internal
  username both count against, and are locked as, the member's number, which the records keep
  only as its keyed hash (account_key).
- Two limits, both over the cool-off (AXES_COOLOFF_TIME): AXES_FAILURE_LIMIT failures of one
  account from one address lock that account from that address only, so an attacker elsewhere
  cannot lock a member out; GREENBOX_SIGNIN_FAILURES_PER_ADDRESS failures from one address,
  whatever accounts they tried, lock that address out of every account (LockoutHandler), which
  stops one password tried against many numbers. A successful sign-in clears only its own
  account's failures from that address.
- A wrong old password on a password change page counts as a failed sign-in of the account, and
  a locked account cannot change its password from that address (CountedPasswordChangeMixin).
"""

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from recycling.mobile import keyed_mobile, normalize_mobile
from recycling.models import Member

# AccessAttempt.username's length; a longer identifier names no account anyway (the sign-in
# forms refuse one before it gets here).
MAX_ACCOUNT_KEY_LENGTH = 150


def account_key(identifier: str) -> str:
    """The name an identifier's failures are counted and locked under.

    A mobile number (any spelling: 138 1234 5678, +86 13812345678 ...) and a member's internal
    username both name the member's number, kept as its keyed hash (138****5678#...,
    recycling.mobile.keyed_mobile), so the lockout records never hold a number, member's or
    not, and varying the spelling or typing the username buys no attempts. Any other username
    names its account itself.
    """
    try:
        number = normalize_mobile(identifier)
    except ValidationError:
        number = Member.objects.filter(user__username=identifier).values_list("mobile", flat=True).first()
        if not number:  # not a member's login (staff, ops), or a deleted member's
            return identifier[:MAX_ACCOUNT_KEY_LENGTH]
    return keyed_mobile(number)


def lockout_username(request: HttpRequest | None, credentials: dict | None) -> str:
    """AXES_USERNAME_CALLABLE: account_key() of the username typed (the credentials', else the
    form's). axes asks several times per request; the answer is kept on the request."""
    if credentials and "username" in credentials:
        typed = str(credentials.get("username") or "")
    else:
        typed = request.POST.get("username", "") if request is not None else ""
    if request is None:
        return account_key(typed)
    known = request.__dict__.setdefault("_lockout_accounts", {})
    if typed not in known:
        known[typed] = account_key(typed)
    return known[typed]


class LockoutHandler(AxesDatabaseHandler):
    """axes' database handler with the second limit, per address across accounts.

    axes compares one number with AXES_FAILURE_LIMIT; get_failures() answers the failures of
    the account from this address, or the whole limit once the address has reached its own
    limit (GREENBOX_SIGNIN_FAILURES_PER_ADDRESS, counted over every account it tried), so
    either limit locks. AXES_LOCKOUT_PARAMETERS stays [username, address]: the address's
    failures are not a lockout parameter because axes would then clear them all on any
    successful sign-in from that address (an attacker's own account's included).
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        failures = super().get_failures(request, credentials)
        limit = get_failure_limit(request, credentials)
        if failures < limit and address_failures(request) >= settings.GREENBOX_SIGNIN_FAILURES_PER_ADDRESS:
            request.address_locked_out = True
            return limit
        return failures


def address_failures(request: HttpRequest) -> int:
    """Failed sign-ins from the request's address within the cool-off, whatever the account. A
    request without a valid address (none derived) is not limited this way: all of them would
    share one count."""
    address = request.axes_ip_address
    if address is None:
        return 0
    attempts = AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=get_cool_off_threshold(request))
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the lockout page (HTTP 429), saying which limit was reached."""
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "cooloff_timedelta": get_cool_off(request),
        "address_locked_out": getattr(request, "address_locked_out", False),
    }
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, context, status=settings.AXES_HTTP_RESPONSE_CODE)


class CountedPasswordChangeMixin:
    """For a PasswordChangeView: a wrong old password is a failed sign-in of the signed-in
    account from this address (the user_login_failed signal that axes and the audit log listen
    to), and while that account is locked there a change is refused with the lockout page, the
    right old password included, so the form cannot be used to go on guessing."""

    def post(self, request, *args, **kwargs):
        credentials = self._lockout_credentials()
        if not AxesProxyHandler.is_allowed(request, credentials):
            return lockout_response(request, None, credentials)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        if form.has_error("old_password", code="password_incorrect"):
            # axes counts it and, at the limit, marks the request: AxesMiddleware then answers
            # the lockout page instead of the form.
            user_login_failed.send(sender=__name__, credentials=self._lockout_credentials(), request=self.request)
        return super().form_invalid(form)

    def _lockout_credentials(self) -> dict:
        return {"username": self.request.user.get_username()}
