"""The request an audit event happens in: its client address and its signed-in user.

AuditContextMiddleware sets it for each request; a contextvar (not a thread-local) so that it
is right under threads and async code alike. Outside a request (a Celery task, a management
command) there is none: events then have no address and, unless given one, no user.
"""

import ipaddress
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest


@dataclass(frozen=True)
class RequestContext:
    address: str | None
    request: HttpRequest

    @property
    def user(self):
        """The request's signed-in user, read when an event is recorded: the API authenticates
        tokens inside the view, after the middleware ran."""
        user = getattr(self.request, "user", None)
        return user if user is not None and user.is_authenticated else None


current: ContextVar[RequestContext | None] = ContextVar("audit_request", default=None)


def client_address(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or with GREENBOX_TRUSTED_PROXIES = n > 0 the n-th
    address from the right of X-Forwarded-For (each trusted proxy appends the address it saw,
    so anything left of that was written by the client and proves nothing)."""
    address = request.META.get("REMOTE_ADDR")
    proxies = settings.GREENBOX_TRUSTED_PROXIES
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    return _valid(address)


def _valid(address: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((address or "").strip()))
    except ValueError:
        return None
