"""One JSON error shape for every refusal the API gives:

    {"error": {"code": "not_station_staff", "message": "You do not work at this station."}}

plus "fields" for a validation error ({"cartons": ["Ensure this value is ..."]}). `code` is
stable for clients; `message` is translated into the request's language (LocaleMiddleware).
It covers validation (400), malformed JSON (400), authentication (401), permission (403),
404, 405, throttling (429, with Retry-After) and the services' DomainErrors, whose codes map
to statuses below. Anything else is a bug and stays a 500.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status
from rest_framework.response import Response

from recycling.errors import DomainError

# DomainError codes by HTTP status. A code not listed is a 422: the request was well formed
# but the domain refused it.
DOMAIN_ERROR_STATUS = {
    # The request itself is out of range.
    "invalid_cartons": status.HTTP_400_BAD_REQUEST,
    "invalid_time": status.HTTP_400_BAD_REQUEST,
    "dropoff_too_old": status.HTTP_400_BAD_REQUEST,
    "campaign_closed": status.HTTP_400_BAD_REQUEST,
    "invalid_reason": status.HTTP_400_BAD_REQUEST,
    "invalid_idempotency_key": status.HTTP_400_BAD_REQUEST,
    "invalid_quantity": status.HTTP_400_BAD_REQUEST,
    "invalid_stock_change": status.HTTP_400_BAD_REQUEST,
    # Not this user's to do.
    "not_station_staff": status.HTTP_403_FORBIDDEN,
    "wrong_station": status.HTTP_403_FORBIDDEN,
    "not_your_redemption": status.HTTP_403_FORBIDDEN,
    # The thing acted on does not exist.
    "unknown_dropoff": status.HTTP_404_NOT_FOUND,
    "no_such_reservation": status.HTTP_404_NOT_FOUND,
    # The current state of a resource does not allow it (retrying later may succeed).
    "already_voided": status.HTTP_409_CONFLICT,
    "already_collected": status.HTTP_409_CONFLICT,
    "reservation_closed": status.HTTP_409_CONFLICT,
    "insufficient_points": status.HTTP_409_CONFLICT,
    "out_of_stock": status.HTTP_409_CONFLICT,
    "daily_limit_reached": status.HTTP_409_CONFLICT,
    "not_enough_cartons": status.HTTP_409_CONFLICT,
}


def error_body(*, code: str, message: str, fields=None) -> dict:
    error = {"code": code, "message": str(message)}
    if fields is not None:
        error["fields"] = fields
    return {"error": error}


def domain_error_status(error: DomainError) -> int:
    return DOMAIN_ERROR_STATUS.get(error.code, status.HTTP_422_UNPROCESSABLE_ENTITY)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: render every known refusal in the one shape."""
    if isinstance(exc, DomainError):
        from .idempotency_keys import refusal_response  # which imports this module

        return refusal_response(exc)  # the idempotency mechanism's statuses, a replay marked
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let it be a 500 and be logged

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = error_body(code="invalid", message=_("The request is invalid; see the fields."), fields=fields)
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        body = error_body(code=code, message=_message(exc))
    return Response(body, status=exc.status_code, headers=headers)


def _message(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, list | dict):
        return str(exc.default_detail)
    return str(detail)


class IdempotencyKeyInvalid(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_idempotency_key"
    default_detail = gettext_lazy("The Idempotency-Key header must be 1 to 64 printable ASCII characters.")
