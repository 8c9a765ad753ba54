"""Finding a member at the counter (recycling.services.search_members), through the admin's
autocomplete, the member list and the drop-off list: by member code, full mobile number, or the
last 4 digits among the staff user's own stations' members; always masked, throttled per staff
user and audited without the term."""

import json
import logging
import re
import uuid

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from recycling.errors import MemberSearchThrottled
from recycling.selectors import member_search_term
from recycling.services import parse_rate, record_dropoff, search_members
from tests.factories import EarningRuleFactory, MemberFactory, StationStaffFactory, SuperuserFactory

pytestmark = pytest.mark.django_db

AUTOCOMPLETE_URL = reverse("admin:autocomplete")
DROPOFFS_URL = reverse("admin:recycling_dropoff_changelist")
MEMBERS_URL = reverse("admin:recycling_member_changelist")


@pytest.fixture(autouse=True)
def _empty_cache():
    """The search counts live in the cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def desk():
    """Station A with its staff user; members ending 5678: one who left cartons at A, one only
    at station B, one who never left any; and a member ending 1111 at A."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    staff_a = StationStaffFactory()
    staff_b = StationStaffFactory()
    at_a = MemberFactory(mobile="13812345678", display_name="小王")
    at_b = MemberFactory(mobile="13900005678")
    nowhere = MemberFactory(mobile="13700005678")
    other_at_a = MemberFactory(mobile="13600001111")
    for member, desk_ in ((at_a, staff_a), (at_b, staff_b), (other_at_a, staff_a)):
        record_dropoff(
            station=desk_.station,
            member_code=member.code,
            cartons=1,
            staff=desk_.user,
            idempotency_key=str(uuid.uuid4()),
        )
    return staff_a, staff_b, at_a, at_b, nowhere, other_at_a


def client_for(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def autocomplete(client: Client, term: str):
    response = client.get(
        AUTOCOMPLETE_URL, {"app_label": "recycling", "model_name": "dropoff", "field_name": "member", "term": term}
    )
    assert response.status_code == 200
    return response


def ids(response) -> list[str]:
    return [result["id"] for result in response.json()["results"]]


def test_last_four_digits_find_only_members_of_the_staff_users_own_stations(desk):
    """The last 4 digits find the member who left cartons at the user's station, not the one of
    another station nor one who never left cartons; the result shows the number masked with the
    display name, never the full number."""
    staff_a, _staff_b, at_a, _at_b, _nowhere, _other = desk

    response = autocomplete(client_for(staff_a.user), "5678")

    assert ids(response) == [str(at_a.pk)]
    assert response.json()["results"][0]["text"] == "138****5678 · 小王"
    assert "13812345678" not in response.content.decode()


def test_the_full_number_finds_the_member_anywhere_masked_with_the_code_hint(desk):
    """A full number (any spelling) finds that member even without drop-offs here; without a
    display name the result shows the code's first 4 characters."""
    staff_a, _staff_b, _at_a, _at_b, nowhere, _other = desk

    response = autocomplete(client_for(staff_a.user), "+86 137 0000 5678")

    assert ids(response) == [str(nowhere.pk)]
    assert response.json()["results"][0]["text"] == f"137****5678 · {nowhere.code[:4]}…"
    assert "13700005678" not in response.content.decode()


def test_the_member_code_finds_the_member_in_any_case(desk):
    staff_a, _staff_b, _at_a, at_b, _nowhere, _other = desk

    assert ids(autocomplete(client_for(staff_a.user), at_b.code.lower())) == [str(at_b.pk)]


@pytest.mark.parametrize("term", ["", "  ", "56", "678", "05678", "2345678", "1381234567", "abc", "1" * 40])
def test_terms_of_no_known_shape_find_nobody_and_are_neither_counted_nor_audited(desk, term):
    """Only a code, a full number or exactly 4 digits search: longer digit strings would let a
    masked number be completed digit by digit."""
    staff_a = desk[0]
    assert ids(autocomplete(client_for(staff_a.user), term)) == []
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.MEMBER_SEARCHED).exists()


def test_each_search_is_audited_without_the_term(desk, caplog):
    """One `member_searched` event per search: who, how, how many and which members; the number
    searched is in no field of the row nor in the log line."""
    staff_a, _staff_b, at_a, _at_b, _nowhere, _other = desk
    client = client_for(staff_a.user)

    with caplog.at_level(logging.INFO, logger="greenbox.audit"):
        autocomplete(client, "13812345678")
        autocomplete(client, "5678")

    events = list(AuditEvent.objects.filter(action=AuditEvent.Action.MEMBER_SEARCHED).order_by("pk"))
    assert [(event.user, event.details["by"], event.details["found"]) for event in events] == [
        (staff_a.user, "mobile", 1),
        (staff_a.user, "last_digits", 1),
    ]
    assert all(event.details["members"] == [at_a.pk] for event in events)
    assert events[0].target_id == str(at_a.pk) and events[0].target_description == "138****5678"
    rows = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert "13812345678" not in rows and "12345678" not in rows
    assert "13812345678" not in caplog.text


def test_searches_are_throttled_per_staff_user(desk, settings):
    """Past GREENBOX_MEMBER_SEARCH_RATE the user's searches answer one disabled line that says so
    (and are not audited); another staff user still searches."""
    settings.GREENBOX_MEMBER_SEARCH_RATE = "3/hour"
    staff_a, staff_b, _at_a, at_b, _nowhere, _other = desk
    client = client_for(staff_a.user)
    for _ in range(3):
        assert ids(autocomplete(client, "5678")) != [""]

    refused = autocomplete(client, "13900005678").json()["results"]

    assert refused == [{"id": "", "text": str(MemberSearchThrottled.default_message), "disabled": True}]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.MEMBER_SEARCHED, user=staff_a.user).count() == 3
    assert ids(autocomplete(client_for(staff_b.user), "13900005678")) == [str(at_b.pk)]


def test_three_hundred_searches_do_not_harvest_numbers(desk):
    """The attack of the issue: 300 searches by last digits from one staff login. At most the
    default rate (60 an hour) are answered, none with a full number, and only members of the
    user's own station."""
    staff_a, _staff_b, at_a, _at_b, _nowhere, other_at_a = desk
    client = client_for(staff_a.user)
    answered, seen = 0, set()
    for n in range(300):
        results = autocomplete(client, f"{n % 10000:04d}" if n % 2 else "5678").json()["results"]
        if results and results[0]["id"] == "" and results[0].get("disabled"):
            continue
        answered += 1
        seen.update(result["id"] for result in results)
        assert all("****" in result["text"] for result in results)
    assert answered == 60
    assert seen <= {str(at_a.pk), str(other_at_a.pk)}


def test_the_selector_refuses_past_the_rate(desk, settings):
    settings.GREENBOX_MEMBER_SEARCH_RATE = "1/min"
    staff_a = desk[0]
    search_members(user=staff_a.user, term="5678")
    with pytest.raises(MemberSearchThrottled):
        search_members(user=staff_a.user, term="5678")


def test_a_deleted_member_is_never_found(desk):
    from recycling.services import anonymise_member

    staff_a, _staff_b, at_a, _at_b, _nowhere, _other = desk
    code = at_a.code
    anonymise_member(member=at_a)
    client = client_for(staff_a.user)
    assert ids(autocomplete(client, "5678")) == []
    assert ids(autocomplete(client, "13812345678")) == []
    assert ids(autocomplete(client, code)) == []


def test_a_superuser_finds_by_last_four_digits_anywhere(desk):
    _staff_a, _staff_b, at_a, at_b, _nowhere, _other = desk
    found = search_members(user=SuperuserFactory(), term="5678")
    assert {member.pk for member in found} == {at_a.pk, at_b.pk}


def test_the_dropoff_list_searches_members_the_same_way(desk):
    """The drop-off list finds a member's drop-offs by the last 4 digits (audited), but not by
    5 or more trailing digits, which would complete a masked number."""
    staff_a, _staff_b, at_a, _at_b, _nowhere, _other = desk
    client = client_for(staff_a.user)

    by_four = client.get(DROPOFFS_URL, {"q": "5678"})
    by_five = client.get(DROPOFFS_URL, {"q": "45678"})

    assert [dropoff.member_id for dropoff in by_four.context["cl"].result_list] == [at_a.pk]
    assert list(by_five.context["cl"].result_list) == []
    assert AuditEvent.objects.filter(action=AuditEvent.Action.MEMBER_SEARCHED).count() == 1
    assert "13812345678" not in by_four.content.decode()


def test_the_superusers_member_list_search_is_the_same_search(desk):
    _staff_a, _staff_b, at_a, _at_b, _nowhere, _other = desk
    client = client_for(SuperuserFactory())

    response = client.get(MEMBERS_URL, {"q": "13812345678"})

    assert list(response.context["cl"].result_list) == [at_a]
    content = response.content.decode()
    # The number is only where the superuser typed it (the search box, and the links that keep
    # the search); the results show it masked.
    typed = re.sub(r'href="[^"]*"|value="13812345678"', "", content)
    assert "138****5678" in content and "13812345678" not in typed
    assert AuditEvent.objects.filter(action=AuditEvent.Action.MEMBER_SEARCHED).count() == 1


def test_the_desk_shows_the_member_found_masked_and_audits_it(desk):
    """The station desk's log page shows the member a number finds masked, with their display
    name (desk.views.member_preview, through search_members: audited)."""
    staff_a, _staff_b, at_a, _at_b, _nowhere, _other = desk
    response = client_for(staff_a.user).get(reverse("desk:member_preview"), {"member": "13812345678"})
    content = response.content.decode()
    assert "138****5678 · 小王" in content and "13812345678" not in content
    assert AuditEvent.objects.filter(action=AuditEvent.Action.MEMBER_SEARCHED, target_id=str(at_a.pk)).exists()


@pytest.mark.parametrize(
    ("term", "by", "value"),
    [
        ("１３８１２３４５６７８", "mobile", "13812345678"),  # full-width digits from a Chinese IME
        ("138-1234-5678", "mobile", "13812345678"),
        (" 5678 ", "last_digits", "5678"),
        ("abcdefghjkmnpqrs", "code", "ABCDEFGHJKMNPQRS"),
    ],
)
def test_search_terms(term, by, value):
    what = member_search_term(term)
    assert (what.by, what.value) == (by, value)


@pytest.mark.parametrize(("rate", "parsed"), [("60/hour", (60, 3600)), ("5/min", (5, 60)), ("100/day", (100, 86400))])
def test_rates_read_as_drf_writes_them(rate, parsed):
    assert parse_rate(rate) == parsed
