"""Bad input is a 400 (or another 4xx), never a 500: malformed JSON, wrong types, huge numbers,
unknown fields, odd characters, odd dates and ids; and hypothesis-generated junk bodies."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recycling.models import DropOff

DROPOFFS = "/api/v1/dropoffs/"


def post_raw(client, url, raw: bytes | str):
    return client.post(url, data=raw, content_type="application/json")


@pytest.mark.parametrize(
    "change",
    [
        {"cartons": 10**30},
        {"cartons": -(10**30)},
        {"cartons": "5"},
        {"cartons": 5.5},
        {"cartons": 5.0},
        {"cartons": True},
        {"cartons": None},
        {"cartons": [5]},
        {"station": 10**30},
        {"station": "1"},
        {"station": {"id": 1}},
        {"member_code": 12345},
        {"member_code": "A" * 10_000},
        {"member_code": "bad\x00code"},
        {"member_code": "\ud800"},
        {"occurred_at": "yesterday"},
        {"occurred_at": "0001-01-01T00:00:00+14:00"},
        {"occurred_at": "9999-12-31T23:59:59-12:00"},
        {"occurred_at": 1700000000},
        {"points": 1000},
        {"member": 1},
        {"logged_by": 1},
    ],
)
def test_bad_fields_are_400(world, client_for, change):
    body = {"station": world.station_a.pk, "member_code": world.member_x.code, "cartons": 1, **change}
    before = DropOff.objects.count()
    response = post_raw(client_for("staff_a"), DROPOFFS, json.dumps(body))  # ASCII-escaped, surrogates too
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"
    assert DropOff.objects.count() == before


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"null",
        b"[]",
        b'"a string"',
        b"12",
        b"{",
        b'{"cartons": NaN}',
        b'{"cartons": Infinity}',
        b'{"cartons": 1e400}',
        b'{"cartons": 1' + b"0" * 5000 + b"}",
        b"\xff\xfe\x00",
        b'{"station": 1, "station": 2}',
        b"[" * 10_000 + b"]" * 10_000,
    ],
)
def test_malformed_bodies_are_400(world, client_for, raw):
    response = post_raw(client_for("staff_a"), DROPOFFS, raw)
    assert response.status_code == 400, response.content
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/dropoffs/99999999999999999999999999999/",
        "/api/v1/stations/9223372036854775808/",
        "/api/v1/stations/?city=%00",
        "/api/v1/stations/?active=maybe",
        "/api/v1/stations/?page=-1",
        "/api/v1/stations/?page_size=99999999999999999999",
        "/api/v1/dropoffs/?station=99999999999999999999999",
        "/api/v1/dropoffs/?status=lost",
    ],
)
def test_odd_addresses_and_queries_are_4xx(world, client_for, url):
    response = client_for("staff_a").get(url)
    assert 400 <= response.status_code < 500 or response.status_code == 200, response.content
    assert response.status_code != 500


def test_a_future_drop_off_is_refused(world, client_for):
    body = {
        "station": world.station_a.pk,
        "member_code": world.member_x.code,
        "cartons": 1,
        "occurred_at": "2999-01-01T00:00:00+08:00",
    }
    response = client_for("staff_a").post(DROPOFFS, body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_time"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
dropoff_like = st.fixed_dictionaries(
    {},
    optional={
        "station": json_values | st.integers(min_value=-(2**70), max_value=2**70),
        "member_code": json_values,
        "cartons": json_values | st.integers(min_value=-(2**70), max_value=2**70),
        "occurred_at": json_values | st.datetimes().map(lambda d: d.isoformat()),
        "idempotency_key": json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values | dropoff_like | st.binary(max_size=64))
def test_junk_bodies_never_cause_a_500(world, client_for, body):
    raw = body if isinstance(body, bytes) else json.dumps(body)
    for url in (DROPOFFS, "/api/v1/dropoffs/batch/"):
        response = post_raw(client_for("staff_a"), url, raw)
        assert response.status_code < 500, (raw, response.content)
        if response.status_code >= 400:
            assert set(response.json()) == {"error"}
