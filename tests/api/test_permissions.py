"""The permission matrix: every route under /api/v1/, every method, every role.

EXPECTED names, for each route of the URLconf, the status each role gets for each method it
supports; every other method is a 405 for everyone. A route added to api/urls.py without an
entry here fails test_every_route_has_expectations. Each request runs in a savepoint that is
rolled back (tests/transactions.py: the services' durable transactions nest in it), so every
role meets the same world.
"""

import json

import pytest
from django.db import transaction
from django.urls import URLPattern, reverse

from api import urls as api_urls
from tests.transactions import example_transaction

from .conftest import ROLES

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

AUTHENTICATED_READ = {"staff_a": 200, "staff_b": 200, "member_x": 200, "member_y": 200, "ops": 200, "anonymous": 401}
MEMBERS_ONLY = {"staff_a": 403, "staff_b": 403, "member_x": 200, "member_y": 200, "ops": 403, "anonymous": 401}
OPS_ONLY = {"staff_a": 403, "staff_b": 403, "member_x": 403, "member_y": 403, "ops": 200, "anonymous": 401}


def _dropoff_body(w):
    return {"station": w.station_a.pk, "member_code": w.member_x.code, "cartons": 2}


# route name -> (URL kwargs, {method: (body, {role: status})})
EXPECTED = {
    "stations": (None, {"GET": (None, AUTHENTICATED_READ)}),
    "station-detail": (lambda w: {"pk": w.station_a.pk}, {"GET": (None, AUTHENTICATED_READ)}),
    "station-stock": (lambda w: {"pk": w.station_a.pk}, {"GET": (None, AUTHENTICATED_READ)}),
    "rewards": (None, {"GET": (None, AUTHENTICATED_READ)}),
    "me": (None, {"GET": (None, MEMBERS_ONLY)}),
    "my-ledger": (None, {"GET": (None, MEMBERS_ONLY)}),
    "dropoffs": (
        None,
        {
            # Lists are filtered (see test_views): staff B and member Y get 200 with none of A's or X's.
            "GET": (
                None,
                {"staff_a": 200, "staff_b": 200, "member_x": 200, "member_y": 200, "ops": 403, "anonymous": 401},
            ),
            "POST": (
                _dropoff_body,
                {"staff_a": 201, "staff_b": 403, "member_x": 403, "member_y": 403, "ops": 403, "anonymous": 401},
            ),
        },
    ),
    "dropoff-batch": (
        None,
        {
            "POST": (
                lambda w: {
                    "station": w.station_a.pk,
                    "items": [{"idempotency_key": "item-1", "member_code": w.member_x.code, "cartons": 1}],
                },
                {"staff_a": 200, "staff_b": 403, "member_x": 403, "member_y": 403, "ops": 403, "anonymous": 401},
            )
        },
    ),
    "dropoff-detail": (
        lambda w: {"pk": w.dropoff.pk},
        {
            "GET": (
                None,
                {"staff_a": 200, "staff_b": 404, "member_x": 200, "member_y": 404, "ops": 403, "anonymous": 401},
            )
        },
    ),
    "dropoff-void": (
        lambda w: {"pk": w.dropoff.pk},
        {
            "POST": (
                lambda w: {"reason": "Logged twice"},
                # Member X owns the drop-off but is not staff: 403 before any lookup.
                {"staff_a": 200, "staff_b": 404, "member_x": 403, "member_y": 403, "ops": 403, "anonymous": 401},
            )
        },
    ),
    "redemptions": (
        None,
        {
            "GET": (None, MEMBERS_ONLY),
            "POST": (
                lambda w: {"reward": w.eggs.pk, "station": w.station_a.pk, "quantity": 1},
                {"staff_a": 403, "staff_b": 403, "member_x": 201, "member_y": 201, "ops": 403, "anonymous": 401},
            ),
        },
    ),
    "redemption-detail": (
        lambda w: {"pk": w.redemption.pk},
        {
            "GET": (
                None,
                {"staff_a": 403, "staff_b": 403, "member_x": 200, "member_y": 404, "ops": 403, "anonymous": 401},
            )
        },
    ),
    "redemption-cancel": (
        lambda w: {"pk": w.redemption.pk},
        {
            "POST": (
                None,
                {"staff_a": 403, "staff_b": 403, "member_x": 200, "member_y": 404, "ops": 403, "anonymous": 401},
            )
        },
    ),
    "redemption-collect": (
        None,
        {
            "POST": (
                lambda w: {"station": w.station_a.pk, "pickup_code": w.redemption.pickup_code},
                {"staff_a": 200, "staff_b": 403, "member_x": 403, "member_y": 403, "ops": 403, "anonymous": 401},
            )
        },
    ),
    "campaigns": (None, {"GET": (None, AUTHENTICATED_READ)}),
    "campaign-detail": (lambda w: {"pk": w.campaign.pk}, {"GET": (None, AUTHENTICATED_READ)}),
    "donations": (
        None,
        {
            "GET": (None, MEMBERS_ONLY),
            "POST": (
                lambda w: {"campaign": w.campaign.pk, "notebooks": 1},
                {"staff_a": 403, "staff_b": 403, "member_x": 201, "member_y": 201, "ops": 403, "anonymous": 401},
            ),
        },
    ),
    "city-totals": (None, {"GET": (None, OPS_ONLY)}),
    "station-totals": (None, {"GET": (None, OPS_ONLY)}),
    "schema": (None, {"GET": (None, dict.fromkeys(ROLES, 200))}),
}


def v1_route_names() -> set[str]:
    return {
        pattern.name
        for pattern in api_urls.urlpatterns
        if isinstance(pattern, URLPattern) and str(pattern.pattern).startswith("v1/")
    }


def test_every_route_has_expectations():
    """A new /api/v1/ route must be added to EXPECTED (and an entry here must still exist)."""
    assert v1_route_names() == set(EXPECTED)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", sorted(EXPECTED))
def test_permission_matrix(route, method, world, client_for):
    kwargs, by_method = EXPECTED[route]
    url = reverse(f"api:{route}", kwargs=kwargs(world) if kwargs else None)
    body_factory, expected = by_method.get(method, (None, dict.fromkeys(ROLES, 405)))
    got = {}
    for role in ROLES:
        with example_transaction():
            body = body_factory(world) if body_factory else None
            response = client_for(role).generic(
                method,
                url,
                data=None if body is None else json.dumps(body),
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY=f"matrix-{role}",
            )
            transaction.set_rollback(True)
        got[role] = response.status_code
        if response.status_code >= 400:
            assert set(response.json()) == {"error"}, (role, response.content)
    assert got == expected
