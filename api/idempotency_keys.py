"""How the API's Idempotency-Key header meets the one idempotency mechanism (idempotency/services.py).

The mechanism is not here: the services call run_idempotent() themselves, so the API, the member
pages and the admin get the same guarantees from the same code. This module only

1. reads the header: every API POST that writes requires it (`required_key()`: 400
   `idempotency_key_required` without it, 400 `invalid_idempotency_key` unless it is 1 to 64
   printable ASCII characters) and passes it to the service as `idempotency_key`, verbatim;
2. renders the outcome: a replayed result with `Idempotent-Replayed: true` (`written()`), a
   refusal with its status (`refusal_response()`: KeyInProgress 409, KeyReused 422, a replayed
   refusal with the same header).

Scope, operation and fingerprint are the service's, from its own parameters, not from the HTTP
request: the same write sent from the API or from a member page is the same request. Who may
act in the scope (staff of that station, that member) is checked before the key is claimed,
so nobody can read a replay, or use up a key, in a scope not theirs. Which of the station's
drop-offs a staff user may void depends on the time (their own, within 15 minutes of logging
it: recycling.permissions), so that check runs in the write and its refusal (403
void_not_allowed) is stored and replayed like the domain's: a void that went through inside
the window replays after it.

    endpoint                       service                  scope        operation  fingerprint of
    POST dropoffs/                 record_dropoff           the station  dropoff    member_code, cartons, occurred_at
    POST dropoffs/batch/           record_dropoff per item  the station  dropoff    the same, under each item's key
    POST dropoffs/<pk>/void/       void_dropoff             its station  void       dropoff id, reason
    POST redemptions/collect/      collect_by_pickup_code   the station  collect    pickup_code
    admin desk: carton movements   record_carton_movement   the station  movement   kind, cartons, occurred_at
    POST redemptions/              reserve_reward           the member   reserve    reward, station, quantity
    POST redemptions/<pk>/cancel/  cancel_redemption        the member   cancel     redemption id
    POST donations/                donate                   the member   donate     campaign, notebooks
    member pages' forms            the same services        the member   the same   the same

The staff user is never in the fingerprint: a queue re-sent by an offline device under another
staff login at the same station is the same request and records nothing twice. One key in one
scope is one claim whatever the operation, so a key sent at once to two endpoints runs one
write; the other gets 409 (while it runs) or 422 (after).

The batch: the header is required like every other write's, but the batch as a whole is not one
write (each item has its own transaction), so it claims nothing itself; each item's
`idempotency_key` is that drop-off's key. A batch sent again gets each item's first outcome.

A replay re-renders the stored result: the result holds the ids of what the write produced (and
figures no row keeps, such as the balance after it), and the view serializes those rows again,
as they are now (a drop-off voided since shows as voided).
"""

import re

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import DomainError
from idempotency.errors import InvalidKey, KeyInProgress, KeyReused
from idempotency.services import was_replayed

from .errors import IdempotencyKeyInvalid, domain_error_status, error_body

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_HEADER_KEY_LENGTH = 64  # within the mechanism's 100 (idempotency.models.MAX_KEY_LENGTH)
KEY_PATTERN = re.compile(rf"^[\x21-\x7e]{{1,{MAX_HEADER_KEY_LENGTH}}}$")

# The API's POST endpoints that write, by URL name: each requires the header.
WRITE_ENDPOINTS = (
    "api:dropoffs",
    "api:dropoff-batch",
    "api:dropoff-void",
    "api:redemptions",
    "api:redemption-collect",
    "api:redemption-cancel",
    "api:donations",
)

# The mechanism's own refusals, by code; nothing is stored for any of them.
MECHANISM_STATUS = {
    KeyInProgress.code: status.HTTP_409_CONFLICT,
    KeyReused.code: status.HTTP_422_UNPROCESSABLE_ENTITY,
    InvalidKey.code: status.HTTP_400_BAD_REQUEST,
}


class IdempotencyKeyRequired(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "idempotency_key_required"
    default_detail = _("Idempotency-Key header is required.")


def required_key(request: Request) -> str:
    """The request's Idempotency-Key, for the service; raises the 400s (nothing is stored)."""
    key = request.headers.get(HEADER)
    if not key:
        raise IdempotencyKeyRequired()
    if KEY_PATTERN.match(key) is None:
        raise IdempotencyKeyInvalid()
    return key


def written(data, *, status: int, replayed: bool) -> Response:
    """A keyed write's response; a replay says so in its headers."""
    return Response(data, status=status, headers={REPLAYED_HEADER: "true"} if replayed else None)


def refusal_response(refusal: DomainError) -> Response:
    """A refusal in the API's error shape, with the mechanism's statuses, marked when replayed."""
    code = refusal.code
    return Response(
        error_body(code=code, message=refusal.message),
        status=MECHANISM_STATUS.get(code) or domain_error_status(refusal),
        headers={REPLAYED_HEADER: "true"} if was_replayed(refusal) else None,
    )
