"""The station desk in the admin: logging and voiding drop-offs, and what each user may see.

The test client speaks English (Accept-Language: en) so the assertions keep working once the
project's strings are translated to Chinese; one test checks the Chinese admin itself.
"""

import uuid
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ledger.models import Account, Transfer
from recycling.admin.desk import StationFilter
from recycling.models import DropOff, EarningRule, Member
from recycling.services import record_dropoff
from tests.factories import (
    EarningRuleFactory,
    MemberFactory,
    StaffUserFactory,
    StationFactory,
    StationStaffFactory,
    SuperuserFactory,
)

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:recycling_dropoff_add")
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


def log_form_data(*, station, member_code, cartons, key=None, button="_addanother"):
    return {
        "station": station.pk,
        "member_code": member_code,
        "cartons": cartons,
        "idempotency_key": key or str(uuid.uuid4()),
        button: "1",
    }


# Logging cartons -----------------------------------------------------------------------------


def test_add_form_defaults_to_staff_station_and_offers_only_theirs(rule, client_a, station_a, station_b):
    """The log form preselects the staff member's station, lists none of the others, and carries
    a fresh UUID idempotency key each time it is rendered."""
    first = client_a.get(ADD_URL)
    second = client_a.get(ADD_URL)

    assert first.status_code == 200
    form = first.context["form"]
    assert form["station"].value() == station_a.pk
    assert list(form.fields["station"].queryset) == [station_a]
    first_key = form["idempotency_key"].value()
    second_key = second.context["form"]["idempotency_key"].value()
    assert uuid.UUID(first_key) and uuid.UUID(second_key)
    assert first_key != second_key
    assert f'value="{first_key}"' in first.content.decode()
    assert station_b.code not in first.content.decode()


def test_staff_logs_cartons_at_their_station(rule, client_a, staff_a, station_a, member):
    """Staff at station A log 3 cartons by member code: one drop-off at A logged by them, one earning
    transfer of 30 points, the balance is 30, the message says so and the next form is ready."""
    response = client_a.post(ADD_URL, log_form_data(station=station_a, member_code=member.code.lower(), cartons=3))

    assert response.status_code == 302
    assert response.url == f"{ADD_URL}?station={station_a.pk}"
    dropoff = DropOff.objects.get()
    assert (dropoff.station, dropoff.member, dropoff.cartons, dropoff.points) == (station_a, member, 3, 30)
    assert dropoff.logged_by == staff_a
    transfer = Transfer.objects.get()
    assert (transfer.kind, transfer.amount, dropoff.earning_transfer) == (Transfer.Kind.EARNING, 30, transfer)
    assert Account.objects.get(member=member).balance == 30
    assert messages_of(response) == [
        "Logged 3 cartons for 138****5678 at HZ-00001: 30 points awarded, new balance 30 points."
    ]


def test_save_button_returns_to_the_list(rule, client_a, station_a, member):
    """ "Save" logs the drop-off and goes back to the drop-off list."""
    response = client_a.post(
        ADD_URL, log_form_data(station=station_a, member_code=member.code, cartons=1, button="_save")
    )

    assert response.status_code == 302
    assert response.url == CHANGELIST_URL
    assert DropOff.objects.count() == 1


def test_staff_logs_cartons_for_member_found_by_mobile(rule, client_a, station_a, member):
    """Choosing the member in the mobile-number autocomplete (no code typed) logs for that member."""
    data = log_form_data(station=station_a, member_code="", cartons=2)
    data["member"] = member.pk

    response = client_a.post(ADD_URL, data)

    assert response.status_code == 302
    assert DropOff.objects.get().member == member
    assert Account.objects.get(member=member).balance == 20


def test_log_form_without_any_member_asks_for_one(rule, client_a, station_a):
    """Neither a code nor a member chosen: the form asks for the member and nothing is written."""
    response = client_a.post(ADD_URL, log_form_data(station=station_a, member_code="  ", cartons=2))

    assert response.status_code == 200
    assert form_errors(response) == ["Scan or type the member code, or find the member by mobile number."]
    assert not DropOff.objects.exists()


def test_cartons_beyond_daily_cap_are_reported(rule, client_a, station_a, member):
    """25 cartons with a daily cap of 20: 200 points, and the message says 5 cartons earned nothing."""
    response = client_a.post(ADD_URL, log_form_data(station=station_a, member_code=member.code, cartons=25))

    dropoff = DropOff.objects.get()
    assert (dropoff.cartons, dropoff.earning_cartons, dropoff.points) == (25, 20, 200)
    assert messages_of(response) == [
        "Logged 25 cartons for 138****5678 at HZ-00001: 200 points awarded, new balance 200 points. "
        "5 cartons were beyond the member's caps and earned no points."
    ]


def test_double_submit_with_same_key_logs_once(rule, client_a, station_a, member):
    """The same form posted twice (same idempotency key) is one drop-off and one transfer; the second
    post says it was already saved."""
    data = log_form_data(station=station_a, member_code=member.code, cartons=4)

    first = client_a.post(ADD_URL, data, follow=True)  # like a browser, which shows the message
    second = client_a.post(ADD_URL, data)

    assert first.redirect_chain == [(f"{ADD_URL}?station={station_a.pk}", 302)]
    assert second.status_code == 302
    assert DropOff.objects.count() == 1
    assert Transfer.objects.count() == 1
    assert Account.objects.get(member=member).balance == 40
    assert messages_of(second)[0].startswith("This form was already saved: 4 cartons")


def test_same_key_with_other_details_is_refused(rule, client_a, station_a, member):
    """A key already used for 4 cartons, posted again with 5, is refused on the form: still one drop-off."""
    data = log_form_data(station=station_a, member_code=member.code, cartons=4)
    client_a.post(ADD_URL, data)

    response = client_a.post(ADD_URL, {**data, "cartons": 5})

    assert response.status_code == 200
    assert form_errors(response)[0].startswith("This form was already saved with other details.")
    assert DropOff.objects.count() == 1


@pytest.mark.parametrize(
    ("member_code", "cartons", "message"),
    [
        ("NOSUCHMEMBER2345", 3, "No member has this member code."),
        (None, 0, "A drop-off has 1 to 50 cartons."),
        (None, 51, "A drop-off has 1 to 50 cartons."),
    ],
)
def test_service_refusal_is_shown_and_nothing_written(rule, client_a, station_a, member, member_code, cartons, message):
    """An unknown member code, 0 cartons or 51 cartons: the service's message on the form, nothing written."""
    response = client_a.post(
        ADD_URL, log_form_data(station=station_a, member_code=member_code or member.code, cartons=cartons)
    )

    assert response.status_code == 200
    assert form_errors(response) == [message]
    assert message in response.content.decode()
    assert not DropOff.objects.exists()
    assert not Transfer.objects.exists()


def test_inactive_station_refusal_is_shown_and_nothing_written(rule, member):
    """Logging at an inactive station the staff member works at: "This station is not active.", nothing written."""
    station = StationFactory(is_active=False)
    client = english_client(StationStaffFactory(station=station).user)

    response = client.post(ADD_URL, log_form_data(station=station, member_code=member.code, cartons=2))

    assert response.status_code == 200
    assert form_errors(response) == ["This station is not active."]
    assert not DropOff.objects.exists()
    assert not Transfer.objects.exists()


def test_staff_cannot_log_at_another_station(rule, client_a, station_b, member):
    """Posting station B's id from station A's desk is a form error; nothing is written."""
    response = client_a.post(ADD_URL, log_form_data(station=station_b, member_code=member.code, cartons=3))

    assert response.status_code == 200
    assert "station" in response.context["form"].errors
    assert not DropOff.objects.exists()
    assert not Transfer.objects.exists()


def test_staff_without_station_cannot_log(rule, member, station_a):
    """A staff user assigned to no station is told so, and a post writes nothing."""
    client = english_client(StaffUserFactory())

    page = client.get(ADD_URL)
    post = client.post(ADD_URL, log_form_data(station=station_a, member_code=member.code, cartons=1))

    assert "You are not assigned to any station" in page.content.decode()
    assert post.status_code == 200
    assert not DropOff.objects.exists()


def test_superuser_logs_at_any_station(rule, superuser, station_b, member):
    """A superuser may log at any station (chosen by station search); the drop-off is theirs."""
    client = english_client(superuser)

    page = client.get(ADD_URL)
    response = client.post(ADD_URL, log_form_data(station=station_b, member_code=member.code, cartons=1))

    assert page.context["form"]["station"].value() is None
    assert response.status_code == 302
    assert DropOff.objects.get().station == station_b


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
    """Not even a superuser: a change POST is refused (403), the delete page is 403, there is no delete
    action, and the drop-off is unchanged."""
    dropoff = log_dropoff(station=station_a, member=member, staff=staff_a, cartons=3)
    client = english_client(superuser)

    change = client.post(reverse("admin:recycling_dropoff_change", args=[dropoff.pk]), {"cartons": 9})
    delete = client.post(reverse("admin:recycling_dropoff_delete", args=[dropoff.pk]), {"post": "yes"})
    changelist = client.get(CHANGELIST_URL)

    assert change.status_code == 403
    assert delete.status_code == 403
    actions = [name for name, _label in changelist.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in actions
    assert "void_dropoffs" in actions
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


# Voiding -----------------------------------------------------------------------------------


def test_void_action_asks_for_reason_then_voids_and_reverses(rule, client_a, staff_a, station_a, member):
    """The void action first shows a page asking for the reason; with a reason the drop-off is voided by
    the staff member, its 30 points are reversed and the list says so."""
    dropoff = log_dropoff(station=station_a, member=member, staff=staff_a, cartons=3)

    ask = client_a.post(CHANGELIST_URL, {"action": "void_dropoffs", ACTION_CHECKBOX_NAME: [dropoff.pk], "index": 0})
    done = client_a.post(
        CHANGELIST_URL,
        {"action": "void_dropoffs", ACTION_CHECKBOX_NAME: [dropoff.pk], "apply": "1", "reason": "wrong member"},
    )

    assert ask.status_code == 200
    assert ask.templates[0].name == "admin/recycling/dropoff/void_confirmation.html"
    assert done.status_code == 302
    dropoff.refresh_from_db()
    assert (dropoff.status, dropoff.void_reason, dropoff.voided_by) == (DropOff.Status.VOIDED, "wrong member", staff_a)
    reversal = Transfer.objects.get(kind=Transfer.Kind.REVERSAL)
    assert (reversal.amount, dropoff.reversal_transfer) == (30, reversal)
    assert Account.objects.get(member=member).balance == 0
    assert messages_of(done) == ["1 drop-off voided and its points reversed."]


def test_void_without_reason_asks_again(rule, client_a, staff_a, station_a, member):
    """Applying the void with a blank reason shows the reason page again with an error; nothing changes."""
    dropoff = log_dropoff(station=station_a, member=member, staff=staff_a)

    response = client_a.post(
        CHANGELIST_URL, {"action": "void_dropoffs", ACTION_CHECKBOX_NAME: [dropoff.pk], "apply": "1", "reason": "  "}
    )

    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    dropoff.refresh_from_db()
    assert dropoff.status == DropOff.Status.ACCEPTED
    assert not Transfer.objects.filter(kind=Transfer.Kind.REVERSAL).exists()


def test_void_reports_each_refusal_and_voids_the_rest(rule, client_a, staff_a, station_a, member):
    """Voiding an already voided drop-off together with a fresh one: the fresh one is voided, the other
    is reported with the service's message."""
    first = log_dropoff(station=station_a, member=member, staff=staff_a)
    second = log_dropoff(station=station_a, member=member, staff=staff_a)
    data = {"action": "void_dropoffs", "apply": "1", "reason": "test"}
    client_a.post(CHANGELIST_URL, {**data, ACTION_CHECKBOX_NAME: [first.pk]}, follow=True)

    response = client_a.post(CHANGELIST_URL, {**data, ACTION_CHECKBOX_NAME: [first.pk, second.pk]})

    second.refresh_from_db()
    assert second.status == DropOff.Status.VOIDED
    assert Transfer.objects.filter(kind=Transfer.Kind.REVERSAL).count() == 2
    assert messages_of(response) == [
        f"Drop-off #{first.pk} (3 cartons at HZ-00001) was not voided: This drop-off has already been voided.",
        "1 drop-off voided and its points reversed.",
    ]


def test_staff_cannot_void_at_another_station(rule, client_a, staff_b, station_b, member):
    """Station A's staff posting the void of a station B drop-off change nothing."""
    at_b = log_dropoff(station=station_b, member=member, staff=staff_b)

    client_a.post(
        CHANGELIST_URL, {"action": "void_dropoffs", ACTION_CHECKBOX_NAME: [at_b.pk], "apply": "1", "reason": "x"}
    )

    at_b.refresh_from_db()
    assert at_b.status == DropOff.Status.ACCEPTED
    assert not Transfer.objects.filter(kind=Transfer.Kind.REVERSAL).exists()
    assert Account.objects.get(member=member).balance == 30


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


def test_log_form_renders_in_chinese(rule, staff_a):
    """The log form renders in Chinese (Django's own strings, e.g. "首页" for Home)."""
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(staff_a)

    response = client.get(ADD_URL)

    assert response.status_code == 200
    assert "首页" in response.content.decode()


# The time a drop-off happened, at the desk ----------------------------------------------------


def desk_time(moment) -> str:
    """As the datetime-local input sends it: Shanghai wall time to the minute."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_the_desk_logs_cartons_left_earlier_within_the_window(rule, client_a, station_a, member):
    """Cartons left 70 hours ago (the window is 72) are logged at that time."""
    earlier = timezone.now() - timedelta(hours=70)
    data = {**log_form_data(station=station_a, member_code=member.code, cartons=3), "occurred_at": desk_time(earlier)}

    response = client_a.post(ADD_URL, data)

    assert response.status_code == 302
    dropoff = DropOff.objects.get()
    assert dropoff.occurred_at == earlier.replace(second=0, microsecond=0)
    assert dropoff.points == 30


def test_the_desk_refuses_a_time_beyond_the_window_as_a_form_error(rule, client_a, station_a, member):
    """A time 80 hours ago is a form error naming the window; nothing is written."""
    earlier = timezone.now() - timedelta(hours=80)
    data = {**log_form_data(station=station_a, member_code=member.code, cartons=3), "occurred_at": desk_time(earlier)}

    response = client_a.post(ADD_URL, data)

    assert response.status_code == 200
    assert form_errors(response) == ["A drop-off can be recorded at most 72 hours after it happened."]
    assert not DropOff.objects.exists()
    assert not Transfer.objects.exists()
