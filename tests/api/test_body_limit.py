"""A request body over DATA_UPLOAD_MAX_MEMORY_SIZE gets 413 in the API's error shape before any
of it is parsed (api.parsers), and the limit holds the largest legitimate request, a 500-item
batch with every field at its longest."""

import json
from unittest import mock

from django.conf import settings

from api.serializers import MAX_BATCH_ITEMS
from recycling.models import DropOff

BATCH = "/api/v1/dropoffs/batch/"


def test_a_10_mb_body_is_413_before_it_is_parsed(world, client_for):
    body = json.dumps({"station": world.station_a.pk, "items": [{"member_code": "x" * 1000}] * 10_500})
    assert len(body) > 10 * 1024 * 1024
    before = DropOff.objects.count()
    with mock.patch("rest_framework.parsers.JSONParser.parse") as parse:
        response = client_for("staff_a").post(BATCH, data=body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    parse.assert_not_called()  # DRF's parser never read the body
    assert DropOff.objects.count() == before


def test_a_single_dropoff_over_the_limit_is_413_too(world, client_for):
    body = json.dumps({"station": world.station_a.pk, "member_code": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    response = client_for("staff_a").post("/api/v1/dropoffs/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert set(response.json()) == {"error"}


def test_the_largest_batch_fits_under_the_limit(world, client_for):
    """500 items, each with a 64-character member code and key that JSON must escape and a time
    with microseconds and an offset, indented: under the limit, so it is read and answered."""
    item = {
        "member_code": "\u00e9" * 64,  # escaped by json.dumps: 6 bytes a character
        "cartons": 20,
        "occurred_at": "2022-11-11T10:00:00.123456+08:00",
        "idempotency_key": '"' * 64,  # escaped: 2 bytes a character
    }
    body = json.dumps({"station": world.station_a.pk, "items": [item] * MAX_BATCH_ITEMS}, indent=2)
    assert len(body) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = client_for("staff_a").post(BATCH, data=body, content_type="application/json")

    assert response.status_code != 413
    assert response.status_code < 500, response.content
