"""The OpenAPI schema's conventions: every operation documents the error shape for the
statuses it can answer with, and every POST the Idempotency-Key header."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiParameter

from .serializers import ErrorSerializer

# 400 bad input, 401 not signed in, 403 not allowed, 404 not found (also a page past the last),
# 409 conflict, 422 refused, 429 throttled.
ERROR_STATUSES = (400, 401, 403, 404, 409, 422, 429)

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name="Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "1 to 64 printable ASCII characters, e.g. a UUID, unique per request. A retry with the same key "
        "and body gets the first response again and writes nothing; the same key with another body "
        "gets 422, and while the first request runs 409. Kept for at least 24 hours."
    ),
    pattern=r"^[\x21-\x7e]{1,64}$",
)


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """api.authentication.ApiTokenAuthentication in the schema: `Authorization: Token <token>`,
    as DRF's TokenAuthentication was (drf-spectacular's own extension for it, same name)."""

    target_class = "api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")


class ApiAutoSchema(AutoSchema):
    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(IDEMPOTENCY_KEY_PARAMETER)
        return parameters

    def _get_response_bodies(self, direction="response"):
        # extend_schema(responses=...) replaces get_response_serializers(), so the error
        # responses are added here, after the declared ones.
        bodies = super()._get_response_bodies(direction)
        for status in ERROR_STATUSES:
            if str(status) not in bodies:
                bodies[str(status)] = self._get_response_for_code(ErrorSerializer, str(status), direction=direction)
        return bodies
