"""The carton reuse loop in the admin: staff read their stations' movements and inventory (they
record them at the station desk: tests/desk/); nobody adds, edits or deletes a movement."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from recycling.models import CartonInventory, CartonMovement
from tests.factories import (
    CartonInventoryFactory,
    CartonMovementFactory,
    StationFactory,
    StationManagerFactory,
    SuperuserFactory,
)
from tests.recycling.test_admin import english_client

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:recycling_cartonmovement_changelist")
INVENTORY_URL = reverse("admin:recycling_cartoninventory_changelist")


@pytest.fixture
def station_a():
    return StationFactory(code="HZ-00001")


@pytest.fixture
def station_b():
    return StationFactory(code="HZ-00002")


@pytest.fixture
def inventory_a(station_a):
    return CartonInventoryFactory(station=station_a, on_hand=10)


@pytest.fixture
def inventory_b(station_b):
    return CartonInventoryFactory(station=station_b, on_hand=10)


@pytest.fixture
def staff_a(station_a):
    """Station A's manager, who may bale its cartons (tests/recycling/test_roles.py has the plain staff)."""
    return StationManagerFactory(station=station_a).user


@pytest.fixture
def client_a(staff_a):
    return english_client(staff_a)


@pytest.fixture
def superuser():
    return SuperuserFactory()


def on_hand(station) -> int:
    return CartonInventory.objects.get(station=station).on_hand


# Seeing movements and inventory ----------------------------------------------------------------


def test_staff_movement_list_shows_only_their_stations(client_a, station_a, station_b):
    """The movement list of staff at A holds A's movements only, and names no other station."""
    at_a = CartonMovementFactory(station=station_a)
    CartonMovementFactory(station=station_b)

    response = client_a.get(CHANGELIST_URL)

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [at_a]
    assert station_b.code not in response.content.decode()


def test_movement_list_queries_do_not_grow_with_rows(client_a, station_a):
    """The list costs the same number of queries for 1 or 6 movements."""
    CartonMovementFactory(station=station_a)
    with CaptureQueriesContext(connection) as one:
        client_a.get(CHANGELIST_URL)
    CartonMovementFactory.create_batch(5, station=station_a)
    with CaptureQueriesContext(connection) as six:
        client_a.get(CHANGELIST_URL)

    assert len(six) == len(one)


def test_staff_cannot_open_another_stations_movement(client_a, station_b):
    """Station A's staff opening a movement of station B get a redirect (as for a missing object)."""
    at_b = CartonMovementFactory(station=station_b)

    response = client_a.get(reverse("admin:recycling_cartonmovement_change", args=[at_b.pk]))

    assert response.status_code in (302, 404)
    assert station_b.code not in response.content.decode()


def test_staff_inventory_list_shows_only_their_stations(client_a, inventory_a, inventory_b, station_b):
    """Staff at A see A's cartons on hand and not B's."""
    response = client_a.get(INVENTORY_URL)

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [inventory_a]
    assert station_b.code not in response.content.decode()


def test_superuser_inventory_list_shows_every_station(superuser, inventory_a, inventory_b):
    """A superuser sees every station's cartons on hand."""
    response = english_client(superuser).get(INVENTORY_URL)

    assert set(response.context["cl"].result_list) == {inventory_a, inventory_b}


# Nobody edits or deletes -----------------------------------------------------------------------


@pytest.mark.parametrize("user_kind", ["staff", "superuser"])
def test_nobody_can_edit_or_delete_a_movement(user_kind, staff_a, superuser, station_a):
    """Neither staff nor a superuser: the detail page is read-only, a change POST and the delete page
    are 403, there is no delete action, and the movement is unchanged."""
    movement = CartonMovementFactory(station=station_a, cartons=3)
    client = english_client(staff_a if user_kind == "staff" else superuser)

    view = client.get(reverse("admin:recycling_cartonmovement_change", args=[movement.pk]))
    change = client.post(reverse("admin:recycling_cartonmovement_change", args=[movement.pk]), {"cartons": 9})
    delete = client.post(reverse("admin:recycling_cartonmovement_delete", args=[movement.pk]), {"post": "yes"})
    changelist = client.get(CHANGELIST_URL)

    assert view.status_code == 200
    assert view.context["adminform"].form.fields == {}
    assert (change.status_code, delete.status_code) == (403, 403)
    action_form = changelist.context["action_form"]
    assert action_form is None or "delete_selected" not in dict(action_form.fields["action"].choices)
    movement.refresh_from_db()
    assert movement.cartons == 3


def test_delete_selected_movement_is_refused(superuser, station_a):
    """Posting the delete_selected action by hand deletes nothing."""
    movement = CartonMovementFactory(station=station_a)

    english_client(superuser).post(
        CHANGELIST_URL, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [movement.pk], "index": 0, "post": "yes"}
    )

    assert CartonMovement.objects.filter(pk=movement.pk).exists()


@pytest.mark.parametrize("user_kind", ["staff", "superuser"])
def test_inventory_is_read_only(user_kind, staff_a, superuser, inventory_a):
    """Nobody adds, changes or deletes an inventory in the admin: add page, change POST and delete are 403."""
    client = english_client(staff_a if user_kind == "staff" else superuser)
    change_url = reverse("admin:recycling_cartoninventory_change", args=[inventory_a.pk])

    view = client.get(change_url)
    add = client.get(reverse("admin:recycling_cartoninventory_add"))
    change = client.post(change_url, {"on_hand": 99})
    delete = client.post(reverse("admin:recycling_cartoninventory_delete", args=[inventory_a.pk]), {"post": "yes"})

    assert view.status_code == 200
    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    inventory_a.refresh_from_db()
    assert inventory_a.on_hand == 10
