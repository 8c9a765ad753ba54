"""schemathesis against the OpenAPI schema, in process against the WSGI app: for every operation,
generated requests (valid and invalid) never get a 500, and every response matches the schema
(documented status, content type and body). Signed in by token as station staff and as a member.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.services import create_api_token

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# Loaded once, at collection, from the app itself (the schema view needs no database).
with override_settings(ALLOWED_HOSTS=["*"]):
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Django closes the database connection at the end of each request unless the test client
    sent it; schemathesis' WSGI client does not, and on PostgreSQL that would close the test's
    transaction. Do as django.test.Client does for the duration of the test."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _calls_reach_the_views(settings, throttle_rates):
    settings.ALLOWED_HOSTS = ["*"]
    # Generated requests come fast: lift the throttles so that the checks see real answers.
    throttle_rates(anon=None, user=None, station=None)


def token_header(user) -> dict:
    return {"Authorization": f"Token {create_api_token(user=user, name='schemathesis').secret}"}


HYPOTHESIS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases every run: CI stays reproducible and its time bounded
)


@schema.parametrize()
@HYPOTHESIS
def test_api_conforms_to_its_schema_as_station_staff(case, world):
    case.call_and_validate(headers=token_header(world.staff_a), checks=CHECKS)


@schema.parametrize()
@HYPOTHESIS
def test_api_conforms_to_its_schema_as_a_member(case, world):
    case.call_and_validate(headers=token_header(world.member_x.user), checks=CHECKS)
