"""AuditContextMiddleware: gives each request's audit events their address and user, and
records every refusal (HTTP 403) from the admin, the member pages and the API: a signed-in
user's as an event, an anonymous visitor's as one more in the hour's count (a flood of them
must not fill the log)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import context
from .models import AuditEvent, HourlyCount
from .services import count_per_hour, record_event

MAX_PATH_LENGTH = 300


class AuditContextMiddleware:
    """Place it after AuthenticationMiddleware (it reads request.user when a 403 goes out)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = context.current.set(context.RequestContext(address=context.client_address(request), request=request))
        try:
            response = self.get_response(request)
            if response.status_code == 403:
                # After the view: its transaction (ATOMIC_REQUESTS or the service's) is over, so
                # the refusal is kept whatever the view rolled back.
                user = getattr(request, "user", None)
                if user is None or not user.is_authenticated:
                    count_per_hour(HourlyCount.Kind.ANONYMOUS_REFUSAL)
                    return response
                record_event(
                    action=AuditEvent.Action.PERMISSION_DENIED,
                    details={"method": request.method[:10], "path": request.path[:MAX_PATH_LENGTH]},
                )
            return response
        finally:
            context.current.reset(token)
