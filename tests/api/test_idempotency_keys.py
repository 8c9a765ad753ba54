"""api/idempotency_keys.py: the Idempotency-Key header read for the services, and their outcomes
rendered (replays marked, the mechanism's refusals with their statuses)."""

import pytest
from django.urls import URLResolver, get_resolver
from django.utils import translation
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from api.errors import IdempotencyKeyInvalid
from api.idempotency_keys import (
    HEADER,
    REPLAYED_HEADER,
    WRITE_ENDPOINTS,
    IdempotencyKeyRequired,
    refusal_response,
    required_key,
    written,
)
from core.errors import DomainError
from idempotency.errors import InvalidKey, KeyInProgress, KeyReused
from idempotency.services import member_scope, run_idempotent
from rewards.errors import OutOfStock


def request_with(headers: dict) -> Request:
    return Request(APIRequestFactory().post("/api/v1/dropoffs/", {}, format="json", headers=headers))


def test_the_key_is_the_header_verbatim():
    key = "3f1c2a9e-6b1d-4c4e-9a57-1d2b3c4d5e6f"
    assert required_key(request_with({HEADER: key})) == key
    assert required_key(request_with({HEADER: "~" * 64})) == "~" * 64


@pytest.mark.parametrize("headers", [{}, {HEADER: ""}])
def test_a_write_without_the_header_is_a_400_saying_it_is_required(headers):
    with translation.override("en"), pytest.raises(IdempotencyKeyRequired) as refused:
        required_key(request_with(headers))

    assert refused.value.status_code == 400
    assert refused.value.get_codes() == "idempotency_key_required"
    assert str(refused.value.detail) == "Idempotency-Key header is required."


@pytest.mark.parametrize("key", ["k" * 65, "with space", "tab\there", "中文"])
def test_a_malformed_header_is_a_400(key):
    with pytest.raises(IdempotencyKeyInvalid):
        required_key(request_with({HEADER: key}))


def test_a_replayed_result_is_marked_and_a_first_one_is_not():
    first, replay = written({"id": 1}, status=201, replayed=False), written({"id": 1}, status=201, replayed=True)

    assert (first.status_code, first.data, first.get(REPLAYED_HEADER)) == (201, {"id": 1}, None)
    assert (replay.status_code, replay.data, replay[REPLAYED_HEADER]) == (201, {"id": 1}, "true")


@pytest.mark.parametrize(
    ("refusal", "status", "code"),
    [
        (KeyInProgress(), 409, "idempotency_request_in_progress"),
        (KeyReused(), 422, "idempotency_key_reused"),
        (InvalidKey(), 400, "invalid_idempotency_key"),
        (OutOfStock(), 409, "out_of_stock"),  # a domain refusal keeps the status api.errors gives it
        (DomainError(), 422, "domain_error"),
    ],
)
def test_refusals_have_their_status_and_the_one_error_shape(refusal, status, code):
    response = refusal_response(refusal)

    assert response.status_code == status
    assert response.data == {"error": {"code": code, "message": str(refusal.message)}}
    assert response.get(REPLAYED_HEADER) is None


def _out_of_stock() -> None:
    raise OutOfStock("Only 2 left at this station.")


@pytest.mark.django_db
def test_a_replayed_refusal_is_marked_and_keeps_its_status():
    def reserve() -> None:
        run_idempotent(
            scope=member_scope(1), key="k", operation="reserve", fingerprint="f", write=_out_of_stock, to_result=dict
        )

    with pytest.raises(OutOfStock) as first:
        reserve()
    with pytest.raises(OutOfStock) as replay:
        reserve()

    assert refusal_response(first.value).get(REPLAYED_HEADER) is None
    response = refusal_response(replay.value)

    assert response.status_code == 409
    assert response.data == {"error": {"code": "out_of_stock", "message": "Only 2 left at this station."}}
    assert response[REPLAYED_HEADER] == "true"


def _api_views_with_post() -> set[str]:
    (api,) = [p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and p.namespace == "api"]
    return {
        f"api:{pattern.name}"
        for pattern in api.url_patterns
        if getattr(pattern, "name", None) and "post" in getattr(pattern.callback, "view_class", object).__dict__
    }


def test_the_write_endpoints_are_exactly_the_api_views_that_post():
    """WRITE_ENDPOINTS is the list the header rule applies to: it must name every POST of the API."""
    assert set(WRITE_ENDPOINTS) == _api_views_with_post()
