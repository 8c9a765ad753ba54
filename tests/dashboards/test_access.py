"""Only ops (the "Ops" group) and superusers open the dashboards; the rest are refused."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from dashboards.access import ensure_ops_group
from tests.dashboards.conftest import ops_user, signed_in

PAGES = [
    reverse("dashboards:overview"),
    reverse("dashboards:anomalies"),
    reverse("dashboards:health"),
    reverse("dashboards:csv", args=["overview-daily"]),
]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_the_ops_sign_in(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("dashboards:login") + "?next=")


@pytest.mark.parametrize("who", ["station_staff", "member", "staff"])
@pytest.mark.parametrize("url", PAGES)
def test_staff_and_members_get_403(people, who, url):
    assert signed_in(getattr(people, who)).get(url).status_code == 403


def test_a_city_page_is_403_for_station_staff_too(people, national):
    url = reverse("dashboards:city", args=[national.cities[0].code])
    assert signed_in(people.station_staff).get(url).status_code == 403


@pytest.mark.parametrize("url", PAGES)
def test_ops_and_superusers_get_the_pages(people, national, url):
    assert signed_in(ops_user()).get(url).status_code == 200
    assert signed_in(people.superuser).get(url).status_code == 200


def test_ops_sign_in_with_username_and_password(client, national):
    ops_user(username="ops-login", password="ops-password-11")
    response = client.post(
        reverse("dashboards:login"),
        {"username": "ops-login", "password": "ops-password-11", "next": reverse("dashboards:overview")},
    )
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 200


def test_the_ops_group_handler_is_idempotent_and_grants_the_view_permissions(db):
    ensure_ops_group()
    ensure_ops_group()
    group = Group.objects.get(name="Ops")
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert {"view_dailystationtotal", "view_dailycitytotal", "view_recyclingcampaign"} <= codenames
    assert Group.objects.filter(name="Ops").count() == 1
    assert Permission.objects.filter(group=group).count() == len(codenames)
