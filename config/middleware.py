"""Middleware for every page and the API: refuse NUL characters in the query string or a form
(400), and answer 503 when PostgreSQL, Redis or the task queue is down, instead of a 500.

config sits above every app, so these may use the API's error shape (api.errors).
"""

import sys
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.log import log_response
from django.utils.translation import gettext as _
from django.views import defaults

from api.errors import RETRY_AFTER_UNAVAILABLE, error_body
from core.unavailable import is_dependency_failure

API_PREFIX = "/api/"


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


class RejectNulBytesMiddleware:
    """A NUL character in a query-string parameter or a form field is a 400: PostgreSQL cannot
    store or compare one in a text column, so an admin filter or search holding one would
    otherwise fail in the database. Place it after LocaleMiddleware (the message is translated)."""

    FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request.GET) or (
            request.method == "POST" and request.content_type in self.FORM_TYPES and _has_nul(request.POST)
        ):
            message = _("The request contains a NUL character, which is not allowed.")
            if is_api(request):
                return JsonResponse(error_body(code="invalid_characters", message=message), status=400)
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


def _has_nul(data) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in data.lists())


class ServiceUnavailableMiddleware:
    """A view that fails because a dependency is down answers 503: the API in its error shape
    (api.errors handles it inside DRF's views; this catches the rest), pages a plain page that
    needs no database. server_error() (config.urls' handler500) does the same for a failure
    raised by another middleware, e.g. saving the session."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_dependency_failure(exception):
            return None
        return service_unavailable(request, exception)


def service_unavailable(request: HttpRequest, exception: BaseException) -> HttpResponse:
    if is_api(request):
        message = _("The service is briefly unavailable; nothing was recorded. Try again in a moment.")
        response = JsonResponse(error_body(code="service_unavailable", message=message), status=503)
    else:
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
    log_response(
        "Service Unavailable (%s): %s",
        type(exception).__name__,
        request.path,
        response=response,
        request=request,
        exception=exception,
    )
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a 503 when the unhandled error is a dependency down, else Django's 500 page."""
    exception = sys.exc_info()[1]
    if is_dependency_failure(exception):
        return service_unavailable(request, exception)
    return defaults.server_error(request)
