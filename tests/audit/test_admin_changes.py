"""Admin changes are audited (audit.admin.AuditedAdminMixin): stations and staff assignments,
users with their groups and permissions, groups with theirs; opening a user's page is a view of
personal data. Each event names the superuser, the target and what changed."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from stations.models import StationStaff
from tests.factories import StationFactory, StationStaffFactory, SuperuserFactory, UserFactory


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


@pytest.fixture
def superuser(db):
    return SuperuserFactory()


@pytest.fixture
def client(superuser):
    client = Client()
    client.force_login(superuser)
    return client


def user_form(user, **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "is_staff": "on" if user.is_staff else "",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "groups": [],
        "user_permissions": [],
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_a_users_groups_and_permissions_changed_in_the_admin_are_recorded(client, superuser):
    user = UserFactory()
    group = Group.objects.create(name="Desk leads")
    permission = Permission.objects.get(codename="view_station")
    url = reverse("admin:auth_user_change", args=[user.pk])
    response = client.post(url, user_form(user, groups=[group.pk], user_permissions=[permission.pk]))
    assert response.status_code == 302, response.context["adminform"].form.errors
    [event] = events(AuditEvent.Action.USER_CHANGED)
    assert (event.user, event.target_id, event.details["operation"]) == (superuser, str(user.pk), "changed")
    assert event.details["m2m"] == {
        "groups": {"added": ["Desk leads"], "removed": []},
        "user_permissions": {"added": ["stations.view_station"], "removed": []},
    }
    client.post(url, user_form(user))  # and removed again
    removed = events(AuditEvent.Action.USER_CHANGED)[-1]
    assert removed.details["m2m"]["groups"] == {"added": [], "removed": ["Desk leads"]}


def test_a_groups_permissions_changed_in_the_admin_are_recorded(client):
    group = Group.objects.create(name="Desk leads")
    permission = Permission.objects.get(codename="view_station")
    response = client.post(
        reverse("admin:auth_group_change", args=[group.pk]), {"name": "Desk leads", "permissions": [permission.pk]}
    )
    assert response.status_code == 302
    [event] = events(AuditEvent.Action.GROUP_CHANGED)
    assert event.details["m2m"] == {"permissions": {"added": ["stations.view_station"], "removed": []}}


def test_opening_a_users_page_is_a_recorded_view_of_personal_data(client, superuser):
    user = UserFactory()
    assert client.get(reverse("admin:auth_user_change", args=[user.pk])).status_code == 200
    [event] = events(AuditEvent.Action.PERSONAL_DATA_VIEWED)
    assert (event.user, event.target_id) == (superuser, str(user.pk))


def test_staff_assignments_added_and_removed_in_the_admin_are_recorded(client, superuser):
    user, station = UserFactory(is_staff=True), StationFactory()
    response = client.post(
        reverse("admin:stations_stationstaff_add"), {"user": user.pk, "station": station.pk, "role": "staff"}
    )
    assert response.status_code == 302
    assignment = StationStaff.objects.get()
    response = client.post(reverse("admin:stations_stationstaff_delete", args=[assignment.pk]), {"post": "yes"})
    assert response.status_code == 302 and not StationStaff.objects.exists()
    added, deleted = events(AuditEvent.Action.STAFF_ASSIGNMENT_CHANGED)
    assert added.details["operation"] == "added" and added.target_id == str(assignment.pk)
    assert deleted.details == {"operation": "deleted"} and deleted.user == superuser


def test_a_station_and_its_staff_rows_changed_in_the_admin_are_recorded(client):
    assignment = StationStaffFactory()
    station = assignment.station
    newcomer = UserFactory(is_staff=True)
    prefix = "staff"
    data = {
        "code": station.code,
        "name": "Renamed",
        "city": station.city_id,
        "address": station.address,
        "opening_hours": "",
        "is_active": "on",
        f"{prefix}-TOTAL_FORMS": "2",
        f"{prefix}-INITIAL_FORMS": "1",
        f"{prefix}-0-id": assignment.pk,
        f"{prefix}-0-station": station.pk,
        f"{prefix}-0-user": assignment.user_id,
        f"{prefix}-0-role": "staff",
        f"{prefix}-1-station": station.pk,
        f"{prefix}-1-user": newcomer.pk,
        f"{prefix}-1-role": "staff",
    }
    response = client.post(reverse("admin:stations_station_change", args=[station.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    [changed] = events(AuditEvent.Action.STATION_CHANGED)
    assert changed.target_id == str(station.pk) and changed.details["operation"] == "changed"
    [added] = events(AuditEvent.Action.STAFF_ASSIGNMENT_CHANGED)
    assert added.details["user"] == newcomer.pk and added.details["operation"] == "added"
