"""Cities, stations and station staff in the admin: superusers manage them, staff see their stations."""

import pytest
from django.test import Client
from django.urls import reverse

from stations.models import City, Station, StationStaff
from tests.factories import CityFactory, StaffUserFactory, StationFactory, StationStaffFactory, SuperuserFactory

pytestmark = pytest.mark.django_db

STATION_LIST_URL = reverse("admin:stations_station_changelist")


def english_client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


@pytest.fixture
def station_a():
    return StationFactory(code="HZ-00001")


@pytest.fixture
def station_b():
    return StationFactory(code="HZ-00002")


@pytest.fixture
def staff_a(station_a):
    return StationStaffFactory(station=station_a).user


@pytest.fixture
def superuser():
    return SuperuserFactory()


def test_staff_see_only_their_stations(staff_a, station_a, station_b):
    """The station list of staff at A holds station A only, without an add button."""
    response = english_client(staff_a).get(STATION_LIST_URL)

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [station_a]
    assert not response.context["has_add_permission"]


def test_staff_cannot_open_or_change_stations(staff_a, station_a, station_b):
    """Staff open their own station read-only (a change POST is 403, nothing changes) and cannot open B."""
    client = english_client(staff_a)

    own = client.get(reverse("admin:stations_station_change", args=[station_a.pk]))
    change = client.post(reverse("admin:stations_station_change", args=[station_a.pk]), {"name": "Renamed"})
    other = client.get(reverse("admin:stations_station_change", args=[station_b.pk]))

    assert own.status_code == 200
    assert own.context["adminform"].form.fields == {}
    assert change.status_code == 403
    assert other.status_code in (302, 404)
    station_a.refresh_from_db()
    assert station_a.name != "Renamed"


def test_staff_cannot_reach_cities_or_staff_assignments(staff_a):
    """City and station-staff admins are for superusers: 403 for staff, and not on their index."""
    client = english_client(staff_a)

    assert client.get(reverse("admin:stations_city_changelist")).status_code == 403
    assert client.get(reverse("admin:stations_stationstaff_changelist")).status_code == 403
    index = client.get(reverse("admin:index"))
    stations_app = next(app for app in index.context["app_list"] if app["app_label"] == "stations")
    assert [model["object_name"] for model in stations_app["models"]] == ["Station"]


def test_staff_station_search_finds_only_their_stations(staff_a, station_a, station_b):
    """The station autocomplete (as used by the log form) returns only the staff member's stations."""
    response = english_client(staff_a).get(
        reverse("admin:autocomplete"),
        {"app_label": "recycling", "model_name": "dropoff", "field_name": "station", "term": "HZ"},
    )

    assert [result["id"] for result in response.json()["results"]] == [str(station_a.pk)]


def test_superuser_adds_station_with_its_staff(superuser):
    """A superuser adds a station and assigns a staff member on the same page."""
    city = CityFactory(code="HZ")
    worker = StaffUserFactory()

    response = english_client(superuser).post(
        reverse("admin:stations_station_add"),
        {
            "code": "HZ-00042",
            "name": "Wensan Road",
            "city": city.pk,
            "address": "42 Wensan Road",
            "opening_hours": "08:00-21:00",
            "is_active": "on",
            "staff-TOTAL_FORMS": "1",
            "staff-INITIAL_FORMS": "0",
            "staff-MIN_NUM_FORMS": "0",
            "staff-MAX_NUM_FORMS": "1000",
            "staff-0-user": worker.pk,
            "staff-0-role": StationStaff.Role.STAFF,
            "_save": "1",
        },
    )

    assert response.status_code == 302
    station = Station.objects.get(code="HZ-00042")
    assert list(station.staff.values_list("user", flat=True)) == [worker.pk]


def test_nobody_deletes_cities_or_stations(superuser, station_a):
    """Cities and stations are never deleted in the admin, not even by a superuser (403, still there)."""
    client = english_client(superuser)

    station = client.post(reverse("admin:stations_station_delete", args=[station_a.pk]), {"post": "yes"})
    city = client.post(reverse("admin:stations_city_delete", args=[station_a.city.pk]), {"post": "yes"})

    assert (station.status_code, city.status_code) == (403, 403)
    assert Station.objects.filter(pk=station_a.pk).exists()
    assert City.objects.filter(pk=station_a.city.pk).exists()


def test_superuser_removes_staff_assignment(superuser, staff_a, station_a):
    """A superuser removes someone from a station (the assignment is deleted, the user stays)."""
    assignment = StationStaff.objects.get(user=staff_a)

    response = english_client(superuser).post(
        reverse("admin:stations_stationstaff_delete", args=[assignment.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not StationStaff.objects.filter(pk=assignment.pk).exists()
    assert type(staff_a).objects.filter(pk=staff_a.pk).exists()
