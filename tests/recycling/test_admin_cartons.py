"""The carton reuse loop in the admin: staff record cartons reused or baled at their stations and
read their stations' inventory; nobody edits or deletes a movement."""

import uuid

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from recycling.models import CartonInventory, CartonMovement
from tests.factories import (
    CartonInventoryFactory,
    CartonMovementFactory,
    StaffUserFactory,
    StationFactory,
    StationManagerFactory,
    SuperuserFactory,
)
from tests.recycling.test_admin import english_client, form_errors, messages_of

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:recycling_cartonmovement_add")
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


def movement_data(*, station, kind="reused", cartons=3, key=None, button="_addanother"):
    return {
        "station": station.pk,
        "kind": kind,
        "cartons": cartons,
        "idempotency_key": key or str(uuid.uuid4()),
        button: "1",
    }


def on_hand(station) -> int:
    return CartonInventory.objects.get(station=station).on_hand


# Recording ------------------------------------------------------------------------------------


def test_add_form_defaults_to_staff_station_and_shows_what_is_on_hand(client_a, station_a, station_b, inventory_a):
    """The form preselects the staff member's station, offers none of the others, carries a fresh
    UUID idempotency key and shows the 10 cartons on hand."""
    first = client_a.get(ADD_URL)
    second = client_a.get(ADD_URL)

    assert first.status_code == 200
    form = first.context["form"]
    assert form["station"].value() == station_a.pk
    assert list(form.fields["station"].queryset) == [station_a]
    first_key = form["idempotency_key"].value()
    assert uuid.UUID(first_key) and first_key != second.context["form"]["idempotency_key"].value()
    content = first.content.decode()
    assert f'value="{first_key}"' in content
    assert "10 cartons" in content
    assert station_b.code not in content


def test_staff_record_reuse_at_their_station(client_a, staff_a, station_a, inventory_a):
    """3 cartons reused at station A: one movement recorded by them, 7 cartons left, the message says
    so and the next form is ready at the same station."""
    response = client_a.post(ADD_URL, movement_data(station=station_a, kind="reused", cartons=3))

    assert response.status_code == 302
    assert response.url == f"{ADD_URL}?station={station_a.pk}"
    movement = CartonMovement.objects.get()
    assert (movement.station, movement.kind, movement.cartons) == (station_a, CartonMovement.Kind.REUSED, 3)
    assert movement.recorded_by == staff_a
    assert on_hand(station_a) == 7
    assert messages_of(response) == [
        "Recorded 3 cartons reused for a parcel at HZ-00001. 7 cartons are now on hand there."
    ]


def test_staff_bale_every_carton_and_save_returns_to_list(client_a, station_a, inventory_a):
    """Baling all 10 cartons ("Save") records a baling movement, leaves 0 on hand and goes back to the list."""
    response = client_a.post(ADD_URL, movement_data(station=station_a, kind="baled", cartons=10, button="_save"))

    assert response.status_code == 302
    assert response.url == CHANGELIST_URL
    movement = CartonMovement.objects.get()
    assert (movement.kind, movement.cartons) == (CartonMovement.Kind.BALED, 10)
    assert on_hand(station_a) == 0
    assert messages_of(response) == [
        "Recorded 10 cartons baled for pulping at HZ-00001. 0 cartons are now on hand there."
    ]


def test_staff_cannot_record_at_another_station(client_a, station_b, inventory_b):
    """Posting station B's id from station A's desk is a form error; nothing is written."""
    response = client_a.post(ADD_URL, movement_data(station=station_b, cartons=3))

    assert response.status_code == 200
    assert "station" in response.context["form"].errors
    assert not CartonMovement.objects.exists()
    assert on_hand(station_b) == 10


def test_more_than_on_hand_is_refused(client_a, station_a, inventory_a):
    """11 cartons out of 10 on hand: the service's message on the form, no movement, still 10 on hand."""
    response = client_a.post(ADD_URL, movement_data(station=station_a, kind="reused", cartons=11))

    assert response.status_code == 200
    assert form_errors(response) == ["The station does not have that many cartons on hand."]
    assert "The station does not have that many cartons on hand." in response.content.decode()
    assert not CartonMovement.objects.exists()
    assert on_hand(station_a) == 10


def test_station_without_inventory_cannot_give_out_cartons(client_a, station_a):
    """A station that never received a carton has none to bale: refused, nothing recorded, 0 on hand."""
    response = client_a.post(ADD_URL, movement_data(station=station_a, kind="baled", cartons=1))

    assert form_errors(response) == ["The station does not have that many cartons on hand."]
    assert not CartonMovement.objects.exists()
    assert CartonInventory.objects.filter(station=station_a, on_hand__gt=0).count() == 0


@pytest.mark.parametrize(
    ("kind", "cartons", "errors"),
    [
        ("reused", 0, ["Record 1 to 10000 cartons at a time."]),
        ("reused", 10001, ["Record 1 to 10000 cartons at a time."]),
        ("given away", 1, ["Select a valid choice. given away is not one of the available choices."]),
    ],
)
def test_invalid_movement_is_refused_and_nothing_written(client_a, station_a, inventory_a, kind, cartons, errors):
    """0 or 10001 cartons, or an unknown kind: the message on the form, nothing written."""
    response = client_a.post(ADD_URL, movement_data(station=station_a, kind=kind, cartons=cartons))

    assert response.status_code == 200
    assert form_errors(response) == errors
    assert not CartonMovement.objects.exists()
    assert on_hand(station_a) == 10


def test_double_submit_with_same_key_records_once(client_a, station_a, inventory_a):
    """The same form posted twice is one movement; the second post says it was already saved."""
    data = movement_data(station=station_a, cartons=3)

    client_a.post(ADD_URL, data, follow=True)
    second = client_a.post(ADD_URL, data)

    assert second.status_code == 302
    assert CartonMovement.objects.count() == 1
    assert on_hand(station_a) == 7
    assert messages_of(second) == [
        "This form was already saved: 3 cartons at HZ-00001. They were not recorded again. "
        "7 cartons are now on hand there."
    ]


def test_same_key_with_other_details_is_refused(client_a, station_a, inventory_a):
    """A key already used for 3 cartons, posted again with 4, is refused on the form: still one movement."""
    data = movement_data(station=station_a, cartons=3)
    client_a.post(ADD_URL, data)

    response = client_a.post(ADD_URL, {**data, "cartons": 4})

    assert response.status_code == 200
    assert form_errors(response)[0].startswith("This form was already saved with other details.")
    assert CartonMovement.objects.count() == 1
    assert on_hand(station_a) == 7


def test_staff_without_station_cannot_record(station_a, inventory_a):
    """A staff user assigned to no station is told so, and a post writes nothing."""
    client = english_client(StaffUserFactory())

    page = client.get(ADD_URL)
    post = client.post(ADD_URL, movement_data(station=station_a))

    assert "You are not assigned to any station" in page.content.decode()
    assert post.status_code == 200
    assert not CartonMovement.objects.exists()
    assert on_hand(station_a) == 10


def test_superuser_records_at_any_station(superuser, station_b, inventory_b):
    """A superuser (station chosen by search, none preselected) records at any station."""
    client = english_client(superuser)

    page = client.get(ADD_URL)
    response = client.post(ADD_URL, movement_data(station=station_b, kind="baled", cartons=4))

    assert page.context["form"]["station"].value() is None
    assert response.status_code == 302
    assert CartonMovement.objects.get().recorded_by == superuser
    assert on_hand(station_b) == 6


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
