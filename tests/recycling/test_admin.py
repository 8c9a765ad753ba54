"""The admin's read-only drop-off lists (logging and voiding are the station desk's: tests/desk/),
and what each user may see.

The test client speaks English (Accept-Language: en) so the assertions keep working once the
project's strings are translated to Chinese; one test checks the Chinese admin itself.
"""

import uuid

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ledger.models import Account, Transfer
from recycling.admin.records import StationFilter
from recycling.models import DropOff, EarningRule, Member
from recycling.services import record_dropoff
from tests.factories import (
    EarningRuleFactory,
    MemberFactory,
    StationFactory,
    StationStaffFactory,
    SuperuserFactory,
)

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:recycling_dropoff_changelist")


def english_client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    """The messages the request left for the next page (and any older ones not yet shown)."""
    return [str(message) for message in get_messages(response.wsgi_request)]


def form_errors(response) -> list[str]:
    form = response.context["form"]
    return [str(error) for errors in form.errors.values() for error in errors]


@pytest.fixture
def rule():
    return EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)


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
def staff_b(station_b):
    return StationStaffFactory(station=station_b).user


@pytest.fixture
def member():
    return MemberFactory(mobile="13812345678")


@pytest.fixture
def client_a(staff_a):
    return english_client(staff_a)


@pytest.fixture
def superuser():
    return SuperuserFactory()


def log_dropoff(*, station, member, staff, cartons=3):
    """A drop-off logged through the service, as the admin would."""
    return record_dropoff(
        station=station, member_code=member.code, cartons=cartons, staff=staff, idempotency_key=str(uuid.uuid4())
    ).dropoff


# Seeing drop-offs ----------------------------------------------------------------------------


def test_staff_list_shows_only_their_stations(rule, client_a, staff_a, staff_b, station_a, station_b, member):
    """The drop-off list of staff at A holds A's drop-offs only, members masked, and no station B filter."""
    at_a = log_dropoff(station=station_a, member=member, staff=staff_a)
    log_dropoff(station=station_b, member=member, staff=staff_b)

    response = client_a.get(CHANGELIST_URL)

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [at_a]
    content = response.content.decode()
    assert "138****5678" in content
    assert "13812345678" not in content
    assert station_b.code not in content


def test_superuser_list_shows_all_stations(rule, superuser, staff_a, staff_b, station_a, station_b, member):
    """A superuser's drop-off list holds every station's drop-offs."""
    at_a = log_dropoff(station=station_a, member=member, staff=staff_a)
    at_b = log_dropoff(station=station_b, member=member, staff=staff_b)

    response = english_client(superuser).get(CHANGELIST_URL)

    assert set(response.context["cl"].result_list) == {at_a, at_b}


def test_station_filter_filters_the_list(rule, station_a, member):
    """Staff at two stations filter the list down to one of them."""
    station_c = StationFactory(code="HZ-00003")
    staff = StationStaffFactory(station=station_a).user
    StationStaffFactory(station=station_c, user=staff)
    at_a = log_dropoff(station=station_a, member=member, staff=staff)
    log_dropoff(station=station_c, member=member, staff=staff)

    response = english_client(staff).get(CHANGELIST_URL, {"station": station_a.pk})

    assert list(response.context["cl"].result_list) == [at_a]


def test_superuser_filters_by_city_then_station(rule, superuser, staff_a, staff_b, station_a, station_b, member):
    """A superuser picks a city, then one of its stations is offered as a filter and filters the list."""
    at_a = log_dropoff(station=station_a, member=member, staff=staff_a)
    log_dropoff(station=station_b, member=member, staff=staff_b)
    client = english_client(superuser)

    by_city = client.get(CHANGELIST_URL, {"station__city__id__exact": station_a.city_id})
    by_station = client.get(CHANGELIST_URL, {"station__city__id__exact": station_a.city_id, "station": station_a.pk})

    assert list(by_city.context["cl"].result_list) == [at_a]
    station_filter = next(spec for spec in by_city.context["cl"].filter_specs if isinstance(spec, StationFilter))
    assert station_filter.lookup_choices == [(str(station_a.pk), str(station_a))]
    assert list(by_station.context["cl"].result_list) == [at_a]


def test_staff_search_dropoffs_by_last_digits_of_mobile(rule, client_a, staff_a, station_a):
    """Staff find a member's drop-offs by the last 4 digits of the mobile number."""
    wanted = log_dropoff(station=station_a, member=MemberFactory(mobile="13800005678"), staff=staff_a)
    log_dropoff(station=station_a, member=MemberFactory(mobile="13800001234"), staff=staff_a)

    response = client_a.get(CHANGELIST_URL, {"q": "5678"})

    assert list(response.context["cl"].result_list) == [wanted]


def test_dropoff_list_queries_do_not_grow_with_rows(rule, client_a, staff_a, station_a, member):
    """The list costs the same number of queries for 1 or 6 drop-offs (stations and members are joined)."""
    log_dropoff(station=station_a, member=member, staff=staff_a)
    with CaptureQueriesContext(connection) as one:
        client_a.get(CHANGELIST_URL)
    for _ in range(5):
        log_dropoff(station=station_a, member=MemberFactory(), staff=staff_a, cartons=1)
    with CaptureQueriesContext(connection) as six:
        client_a.get(CHANGELIST_URL)

    assert len(six) == len(one)


def test_staff_cannot_open_another_stations_dropoff(rule, client_a, staff_b, station_b, member):
    """Station A's staff opening a drop-off of station B get a redirect (as for a missing object), not the page."""
    at_b = log_dropoff(station=station_b, member=member, staff=staff_b)

    response = client_a.get(reverse("admin:recycling_dropoff_change", args=[at_b.pk]))

    assert response.status_code in (302, 404)
    assert station_b.code not in response.content.decode()


def test_dropoff_detail_is_read_only(rule, client_a, staff_a, station_a, member):
    """Staff open their station's drop-off read-only: no inputs to change it, the member masked."""
    dropoff = log_dropoff(station=station_a, member=member, staff=staff_a)

    response = client_a.get(reverse("admin:recycling_dropoff_change", args=[dropoff.pk]))

    assert response.status_code == 200
    assert response.context["adminform"].form.fields == {}
    content = response.content.decode()
    assert "138****5678" in content and "13812345678" not in content


# Nobody edits or deletes -------------------------------------------------------------------


def test_nobody_can_edit_or_delete_a_dropoff(rule, superuser, staff_a, station_a, member):
    """Not even a superuser: a change POST is refused (403), the delete page is 403, there is no
    action at all, and the drop-off is unchanged."""
    dropoff = log_dropoff(station=station_a, member=member, staff=staff_a, cartons=3)
    client = english_client(superuser)

    change = client.post(reverse("admin:recycling_dropoff_change", args=[dropoff.pk]), {"cartons": 9})
    delete = client.post(reverse("admin:recycling_dropoff_delete", args=[dropoff.pk]), {"post": "yes"})
    changelist = client.get(CHANGELIST_URL)

    assert change.status_code == 403
    assert delete.status_code == 403
    assert changelist.context["action_form"] is None  # no actions: voiding is the station desk's
    dropoff.refresh_from_db()
    assert (dropoff.cartons, dropoff.status) == (3, DropOff.Status.ACCEPTED)


def test_delete_selected_action_is_refused(rule, superuser, staff_a, station_a, member):
    """Posting the delete_selected action by hand deletes nothing."""
    dropoff = log_dropoff(station=station_a, member=member, staff=staff_a)

    english_client(superuser).post(
        CHANGELIST_URL, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [dropoff.pk], "index": 0, "post": "yes"}
    )

    assert DropOff.objects.filter(pk=dropoff.pk).exists()


def test_nobody_can_edit_or_delete_a_transfer(rule, superuser, staff_a, station_a, member):
    """A superuser sees transfers read-only: change POST 403, delete page 403, no delete action, no add."""
    log_dropoff(station=station_a, member=member, staff=staff_a)
    transfer = Transfer.objects.get()
    client = english_client(superuser)

    view = client.get(reverse("admin:ledger_transfer_change", args=[transfer.pk]))
    change = client.post(reverse("admin:ledger_transfer_change", args=[transfer.pk]), {"amount": 1})
    delete = client.post(reverse("admin:ledger_transfer_delete", args=[transfer.pk]), {"post": "yes"})
    add = client.get(reverse("admin:ledger_transfer_add"))
    changelist = client.get(reverse("admin:ledger_transfer_changelist"))

    assert view.status_code == 200
    assert (change.status_code, delete.status_code, add.status_code) == (403, 403, 403)
    assert changelist.context["action_form"] is None or "delete_selected" not in dict(
        changelist.context["action_form"].fields["action"].choices
    )
    transfer.refresh_from_db()
    assert transfer.amount == 30


@pytest.mark.parametrize("model_name", ["account", "member"])
def test_accounts_and_members_are_read_only_for_superusers(rule, superuser, member, model_name):
    """Accounts and members: a superuser views them, but a change POST and the delete page are 403."""
    obj = Account.objects.get(member=member) if model_name == "account" else member
    app = "ledger" if model_name == "account" else "recycling"
    client = english_client(superuser)

    view = client.get(reverse(f"admin:{app}_{model_name}_change", args=[obj.pk]))
    change = client.post(reverse(f"admin:{app}_{model_name}_change", args=[obj.pk]), {})
    delete = client.post(reverse(f"admin:{app}_{model_name}_delete", args=[obj.pk]), {"post": "yes"})

    assert view.status_code == 200
    assert (change.status_code, delete.status_code) == (403, 403)
    assert "13812345678" not in view.content.decode()
    assert Member.objects.filter(pk=member.pk).exists()


def test_staff_cannot_reach_members_accounts_transfers_or_rules(rule, client_a, member):
    """Staff get 403 on the member, account, transfer and earning-rule lists; the index lists only drop-offs
    and their stations' carton inventory and movements."""
    for url_name in ("recycling_member", "ledger_account", "ledger_transfer", "recycling_earningrule"):
        response = client_a.get(reverse(f"admin:{url_name}_changelist"))
        assert response.status_code == 403, url_name
    assert client_a.get(reverse("admin:recycling_member_change", args=[member.pk])).status_code == 403

    index = client_a.get(reverse("admin:index"))
    recycling_app = next(app for app in index.context["app_list"] if app["app_label"] == "recycling")
    assert [model["object_name"] for model in recycling_app["models"]] == [
        "CartonInventory",
        "CartonMovement",
        "DropOff",
    ]


# Member search (the autocomplete itself: tests/recycling/test_member_search.py) ---------------


def test_staff_cannot_open_member_list(client_a, member):
    """The member list itself is closed to staff, even with a search."""
    response = client_a.get(reverse("admin:recycling_member_changelist"), {"q": "5678"})

    assert response.status_code == 403


def test_superuser_member_list_is_masked(superuser, member):
    """A superuser's member list shows masked mobile numbers only."""
    response = english_client(superuser).get(reverse("admin:recycling_member_changelist"))

    assert list(response.context["cl"].result_list) == [member]
    content = response.content.decode()
    assert "138****5678" in content and "13812345678" not in content


# Earning rules -----------------------------------------------------------------------------


def test_superuser_changes_unused_rule_but_cannot_delete(superuser, rule):
    """A superuser changes a rule no drop-off used yet; deleting a rule is refused."""
    client = english_client(superuser)
    url = reverse("admin:recycling_earningrule_change", args=[rule.pk])

    response = client.post(
        url,
        {
            "points_per_carton": 12,
            "daily_carton_cap": 20,
            "city": "",
            "valid_from_0": "2020-01-01",
            "valid_from_1": "00:00:00",
            "valid_to_0": "",
            "valid_to_1": "",
            "_save": "1",
        },
    )
    delete = client.post(reverse("admin:recycling_earningrule_delete", args=[rule.pk]), {"post": "yes"})

    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.points_per_carton == 12
    assert delete.status_code == 403
    assert EarningRule.objects.filter(pk=rule.pk).exists()


def test_used_rule_keeps_its_points(superuser, rule, staff_a, station_a, member):
    """Once a drop-off used a rule, its points per carton are read-only (only its end can be set)."""
    log_dropoff(station=station_a, member=member, staff=staff_a)
    client = english_client(superuser)

    client.post(
        reverse("admin:recycling_earningrule_change", args=[rule.pk]),
        {"points_per_carton": 99, "daily_carton_cap": 1, "valid_to_0": "2030-01-01", "valid_to_1": "00:00:00"},
    )

    rule.refresh_from_db()
    assert (rule.points_per_carton, rule.daily_carton_cap) == (10, 20)
    assert rule.valid_to is not None


# Languages ---------------------------------------------------------------------------------


def test_admin_index_speaks_chinese_and_english(staff_a):
    """With Accept-Language zh-hans or the language cookie the admin shows Django's Chinese strings;
    with English, English."""
    chinese = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    chinese.force_login(staff_a)
    cookie = Client()
    cookie.cookies["django_language"] = "zh-hans"
    cookie.force_login(staff_a)

    assert "注销" in chinese.get(reverse("admin:index")).content.decode()
    assert "最近动作" in cookie.get(reverse("admin:index")).content.decode()
    english = english_client(staff_a).get(reverse("admin:index")).content.decode()
    assert "Log out" in english and "注销" not in english


def test_a_dropoffs_page_links_staff_to_nothing_they_cannot_open(rule, client_a, staff_a, station_a, member):
    """No transfer links (the ledger's pages are superusers') and no idempotency key on a staff user's page."""
    dropoff = log_dropoff(station=station_a, member=member, staff=staff_a)
    page = client_a.get(reverse("admin:recycling_dropoff_change", args=[dropoff.pk])).content.decode()
    assert "/admin/ledger/" not in page and "dropoff:" not in page
