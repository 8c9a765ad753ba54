"""The station desk's pages, as each role meets them: a station's clerk, its manager, the clerk
of another station, a member, a visitor. Every write is a service's; bad input is a form error
on its field (400), never a 500, and writes nothing."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import constants, get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from recycling.models import CartonInventory, CartonMovement, DropOff
from recycling.services import void_dropoff
from rewards.models import Redemption
from tests.factories import SuperuserFactory, UserFactory

from .conftest import client_of, log, reserve

pytestmark = pytest.mark.django_db

PAGES = [
    ("desk:home", []),
    ("desk:station", []),
    ("desk:log", []),
    ("desk:member_preview", []),
    ("desk:dropoffs", []),
    ("desk:hand_out", []),
    ("desk:waiting", []),
    ("desk:cartons", []),
]


def messages_of(response) -> list[tuple[int, str]]:
    return [(message.level, str(message)) for message in get_messages(response.wsgi_request)]


def field_errors(response, field: str) -> list[str]:
    return [str(error) for error in response.context["form"].errors.get(field, [])]


# --- Who gets in ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_a_visitor_is_sent_to_the_staff_sign_in(world, name, args):
    response = Client().get(reverse(name, args=args))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login") + "?next=/desk/")


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_a_member_is_refused(world, name, args):
    assert client_of(world.member.user).get(reverse(name, args=args)).status_code == 403


def test_a_clerk_signing_in_at_the_admin_lands_on_the_desk(world):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    world.clerk.set_password("counter-pass-1")
    world.clerk.save()
    page = client.get(reverse("admin:login"))
    next_field = page.context["next"]  # the admin's index: no page of its own to go back to
    response = client.post(
        reverse("admin:login"), {"username": world.clerk.username, "password": "counter-pass-1", "next": next_field}
    )
    assert response.status_code == 302 and response["Location"] == reverse("desk:home")
    home = client.get(reverse("desk:home"))
    assert home.status_code == 200
    assert "菜鸟驿站 文三路店" in home.content.decode()
    assert reverse("admin:index") in home.content.decode()  # the rest of the admin, one click away


def test_a_clerk_asked_for_an_admin_page_goes_there_and_a_superuser_to_the_admin(world):
    world.clerk.set_password("counter-pass-1")
    world.clerk.save()
    wanted = reverse("admin:recycling_dropoff_changelist")
    response = Client().post(
        f"{reverse('admin:login')}?next={wanted}", {"username": world.clerk.username, "password": "counter-pass-1"}
    )
    assert response["Location"] == wanted
    boss = SuperuserFactory()
    boss.set_password("counter-pass-1")
    boss.save()
    signed_in = {"username": boss.username, "password": "counter-pass-1", "next": reverse("admin:index")}
    response = Client().post(reverse("admin:login"), signed_in)
    assert response["Location"] == reverse("admin:index")


def test_staff_without_a_station_are_told_so(world):
    lonely = UserFactory(is_staff=True)
    client = client_of(lonely)
    assert client.get(reverse("desk:home"))["Location"] == reverse("desk:station")
    page = client.get(reverse("desk:station"))
    assert page.status_code == 200 and "not assigned to any station" in page.content.decode()


def test_a_clerk_of_two_stations_picks_one_and_it_sticks(world, two_station_clerk):
    client = client_of(two_station_clerk)
    assert client.get(reverse("desk:home"))["Location"] == reverse("desk:station")
    page = client.get(reverse("desk:station")).content.decode()
    assert "HZ-00001" in page and "HZ-00002" in page
    assert client.post(reverse("desk:station"), {"station": "HZ-00002"})["Location"] == reverse("desk:home")
    home = client.get(reverse("desk:home"))
    assert home.context["station"] == world.other
    assert client.get(reverse("desk:log")).context["station"] == world.other


def test_nobody_picks_a_station_they_do_not_work_at(world):
    client = client_of(world.other_clerk)
    response = client.post(reverse("desk:station"), {"station": "HZ-00001"})
    assert response.status_code == 400
    assert field_errors(response, "station") == ["You do not work at a station with this code."]
    assert client.get(reverse("desk:home")).context["station"] == world.other
    # Junk is a form error too.
    assert client.post(reverse("desk:station"), {"station": "x" * 500}).status_code == 400


def test_a_superuser_types_the_station_code(world):
    client = client_of(SuperuserFactory())
    assert client.get(reverse("desk:home"))["Location"] == reverse("desk:station")
    client.post(reverse("desk:station"), {"station": "hz-00002"})
    assert client.get(reverse("desk:home")).context["station"] == world.other


# --- Home --------------------------------------------------------------------------------------


def test_the_home_shows_todays_counts_and_the_reservations_waiting_oldest_first(world):
    log(world, cartons=2)
    voided = log(world, cartons=4)
    void_dropoff(dropoff_id=voided.pk, staff=world.manager, reason="wrong member")  # voided ones do not count
    first, second = reserve(world), reserve(world)
    reserve(world, station=world.other)
    response = client_of(world.clerk).get(reverse("desk:home"))
    today = response.context["today"]
    assert (today.dropoffs, today.cartons, today.points) == (2, 12, 120)
    assert response.context["handed_out"] == 0
    assert list(response.context["waiting"]) == [first, second]
    page = response.content.decode()
    assert reverse("desk:hand_out_one", args=[first.pk]) in page
    assert first.pickup_code not in page and "13812345678" not in page and "138****5678" in page


# --- Logging cartons ---------------------------------------------------------------------------


def log_form(client, **data):
    page = client.get(reverse("desk:log"))
    key = page.context["form"]["idempotency_key"].value()
    return client.post(reverse("desk:log"), {"idempotency_key": key, **data})


def test_a_clerk_logs_cartons_and_may_undo_them(world):
    client = client_of(world.clerk)
    response = log_form(client, member=world.member.code.lower(), cartons="3")
    assert response["Location"] == reverse("desk:log")
    dropoff = DropOff.objects.latest("pk")
    assert (dropoff.cartons, dropoff.points, dropoff.logged_by) == (3, 30, world.clerk)
    assert messages_of(response) == [
        (constants.SUCCESS, "Saved: 3 cartons for 138****5678, 30 points; new balance 130 points.")
    ]
    page = client.get(reverse("desk:log"))
    assert page.context["undo"] == dropoff
    assert reverse("desk:void", args=[dropoff.pk]) in page.content.decode()
    assert client.get(reverse("desk:log")).context["undo"] is None  # offered once, right after saving

    undone = client.post(
        reverse("desk:void", args=[dropoff.pk]), {"reason": "wrong member", "next": reverse("desk:log")}
    )
    assert undone["Location"] == reverse("desk:log")
    dropoff.refresh_from_db()
    assert dropoff.status == DropOff.Status.VOIDED and dropoff.void_reason == "wrong member"


def test_cartons_beyond_the_cap_are_a_warning(world):
    response = log_form(client_of(world.clerk), member=world.member.code, cartons="15")  # 10 earlier, cap 20
    [(level, text)] = messages_of(response)
    assert level == constants.WARNING
    assert "5 cartons were beyond the member's caps and earned no points." in text


def test_the_member_preview_says_how_many_cartons_still_earn(world):
    client = client_of(world.clerk)
    preview = client.get(reverse("desk:member_preview"), {"member": world.member.code})
    assert preview.context["left"] == 10 and "138****5678 · 小王" in preview.content.decode()
    log(world, cartons=10)
    capped = client.get(reverse("desk:member_preview"), {"member": world.member.code})
    assert capped.context["left"] == 0 and "Caps reached" in capped.content.decode()
    unknown = client.get(reverse("desk:member_preview"), {"member": "13900000000"})
    assert "No member found" in unknown.content.decode()
    assert client.get(reverse("desk:member_preview"), {"member": "x" * 5000}).status_code == 200


def test_a_member_is_found_by_mobile_number_or_its_last_digits(world):
    client = client_of(world.clerk)
    log_form(client, member="138 1234 5678", cartons="1")
    log_form(client, member="5678", cartons="1")  # has left cartons here before
    assert DropOff.objects.filter(member=world.member).count() == 3


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"member": "", "cartons": "3"}, "member", "This field is required."),
        ({"member": "not a code", "cartons": "3"}, "member", "This is not a member code"),
        ({"member": "ABCDEFGHJKMNPQRS", "cartons": "3"}, "member", "No member has this member code."),
        ({"member": "13900000000", "cartons": "3"}, "member", "No member found"),
        ({"cartons": "abc"}, "cartons", "Enter a whole number."),
        ({"cartons": "0"}, "cartons", "A drop-off has 1 to 50 cartons."),
        ({"cartons": "99999999999999999999"}, "cartons", ""),
        ({"cartons": "3", "occurred_at": "2001-01-01T10:00"}, "occurred_at", ""),
        ({"cartons": "3", "occurred_at": "junk"}, "occurred_at", "Enter a valid date/time."),
    ],
)
def test_bad_input_is_an_error_on_its_field_and_writes_nothing(world, data, field, error):
    before = DropOff.objects.count()
    response = log_form(client_of(world.clerk), **{"member": world.member.code, **data})
    assert response.status_code == 400
    errors = field_errors(response, field)
    assert errors and error in errors[0]
    assert 'aria-invalid="true"' in response.content.decode()  # desk.js focuses it
    assert DropOff.objects.count() == before


def test_a_double_submit_logs_once(world):
    client = client_of(world.clerk)
    key = client.get(reverse("desk:log")).context["form"]["idempotency_key"].value()
    data = {"idempotency_key": key, "member": world.member.code, "cartons": "2"}
    client.post(reverse("desk:log"), data)
    again = client.post(reverse("desk:log"), data)
    assert DropOff.objects.count() == 2  # the fixture's and this one
    assert "already saved" in messages_of(again)[-1][1]


# --- Voiding -----------------------------------------------------------------------------------


def test_a_clerk_cannot_undo_after_the_window_nor_someone_elses(world):
    mine = log(world, cartons=2)
    DropOff.objects.filter(pk=mine.pk).update(recorded_at=mine.recorded_at - timedelta(minutes=16))
    client = client_of(world.clerk)
    page = client.get(reverse("desk:dropoff", args=[mine.pk]))
    assert page.context["may_void"] is False and 'data-testid="void-form"' not in page.content.decode()
    refused = client.post(reverse("desk:void", args=[mine.pk]), {"reason": "late"})
    assert refused.status_code == 400
    assert "ask the station's manager" in refused.context["form"].non_field_errors()[0]
    managers = log(world, cartons=1, staff=world.manager)
    assert client.get(reverse("desk:dropoff", args=[managers.pk])).context["may_void"] is False
    assert DropOff.objects.filter(status=DropOff.Status.VOIDED).count() == 0


def test_a_manager_voids_from_the_drop_offs_page(world):
    old = log(world, cartons=2)
    DropOff.objects.filter(pk=old.pk).update(recorded_at=old.recorded_at - timedelta(hours=3))
    client = client_of(world.manager)
    page = client.get(reverse("desk:dropoff", args=[old.pk]))
    assert page.context["may_void"] is True
    text = page.content.decode()
    assert "dropoff:" not in text and "/admin/ledger/" not in text  # no keys, no links that answer 403
    assert client.post(reverse("desk:void", args=[old.pk]), {"reason": ""}).status_code == 400
    response = client.post(reverse("desk:void", args=[old.pk]), {"reason": "counted twice"})
    assert response["Location"] == reverse("desk:dropoff", args=[old.pk])
    old.refresh_from_db()
    assert old.status == DropOff.Status.VOIDED and old.voided_by == world.manager


def test_another_stations_clerk_cannot_see_or_void_a_drop_off(world):
    dropoff = log(world, cartons=2)
    client = client_of(world.other_clerk)
    assert client.get(reverse("desk:dropoff", args=[dropoff.pk])).status_code == 404
    assert client.post(reverse("desk:void", args=[dropoff.pk]), {"reason": "x"}).status_code == 404
    assert client.get(reverse("desk:void", args=[dropoff.pk])).status_code == 405
    assert dropoff not in client.get(reverse("desk:dropoffs")).context["dropoffs"]


def test_todays_list_shows_the_stations_drop_offs(world):
    dropoff = log(world, cartons=2)
    response = client_of(world.clerk).get(reverse("desk:dropoffs"))
    assert dropoff in response.context["dropoffs"]
    assert "138****5678" in response.content.decode()


# --- Handing out -------------------------------------------------------------------------------


def test_a_clerk_hands_out_by_pickup_code_and_the_message_names_the_member(world):
    redemption = reserve(world)
    client = client_of(world.clerk)
    wrong = f"{(int(redemption.pickup_code) + 1) % 1_000_000:06d}"
    refused = client.post(reverse("desk:hand_out"), {"pickup_code": wrong})
    assert refused.status_code == 400 and field_errors(refused, "pickup_code")
    assert client.post(reverse("desk:hand_out"), {"pickup_code": "12"}).status_code == 400
    response = client.post(reverse("desk:hand_out"), {"pickup_code": redemption.pickup_code})
    assert response["Location"] == reverse("desk:hand_out")
    assert messages_of(response) == [(constants.SUCCESS, "Handed out 1 × Four eggs to 138****5678 · 小王.")]
    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.COLLECTED and redemption.collected_by == world.clerk
    assert client.get(reverse("desk:home")).context["handed_out"] == 1


def test_the_hand_out_message_is_in_one_language(world):
    redemption = reserve(world)
    response = client_of(world.clerk, "zh-hans").post(reverse("desk:hand_out"), {"pickup_code": redemption.pickup_code})
    assert messages_of(response) == [(constants.SUCCESS, "已发放 1 × 四个鸡蛋，领取人 138****5678 · 小王。")]


def test_a_clerk_hands_out_one_waiting_reservation(world):
    redemption = reserve(world)
    client = client_of(world.clerk)
    page = client.get(reverse("desk:hand_out_one", args=[redemption.pk]))
    assert page.status_code == 200 and redemption.pickup_code not in page.content.decode()
    response = client.post(reverse("desk:hand_out_one", args=[redemption.pk]), {"pickup_code": redemption.pickup_code})
    assert response["Location"] == reverse("desk:waiting")
    assert client.get(reverse("desk:hand_out_one", args=[redemption.pk])).status_code == 404  # no longer waiting


def test_another_stations_clerk_cannot_hand_out_here(world):
    redemption = reserve(world)
    client = client_of(world.other_clerk)
    assert client.get(reverse("desk:hand_out_one", args=[redemption.pk])).status_code == 404
    refused = client.post(reverse("desk:hand_out"), {"pickup_code": redemption.pickup_code})
    assert refused.status_code == 400  # no reservation with this code waits at their station
    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.RESERVED


# --- Cartons on hand ---------------------------------------------------------------------------


def movement(client, **data):
    key = client.get(reverse("desk:cartons")).context["form"]["idempotency_key"].value()
    return client.post(reverse("desk:cartons"), {"idempotency_key": key, **data})


def test_a_clerk_records_cartons_reused_but_not_baled(world):
    client = client_of(world.clerk)
    assert client.get(reverse("desk:cartons")).context["on_hand"] == 10
    response = movement(client, kind="reused", cartons="4")
    assert response["Location"] == reverse("desk:cartons")
    assert CartonInventory.objects.get(station=world.station).on_hand == 6
    refused = movement(client, kind="baled", cartons="1")
    assert refused.status_code == 400 and field_errors(refused, "kind")
    too_many = movement(client, kind="reused", cartons="7")
    assert too_many.status_code == 400 and field_errors(too_many, "cartons")
    assert CartonMovement.objects.count() == 1


def test_a_manager_records_cartons_baled(world):
    response = movement(client_of(world.manager), kind="baled", cartons="10")
    assert response.status_code == 302
    assert CartonInventory.objects.get(station=world.station).on_hand == 0


def test_the_desk_speaks_chinese(world):
    page = client_of(world.clerk, "zh-hans").get(reverse("desk:home")).content.decode()
    assert "扫码登记纸箱" in page and "凭取件码发放" in page and "待领取" in page and "纸箱去向" in page


def test_a_refusal_about_the_station_is_at_the_top_of_the_form(world):
    world.station.is_active = False
    world.station.save(update_fields=["is_active"])
    response = log_form(client_of(world.clerk), member=world.member.code, cartons="2")
    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == ["This station is not active."]
    assert DropOff.objects.count() == 1


def test_a_superuser_logs_at_the_station_they_picked(world):
    boss = SuperuserFactory()
    client = client_of(boss)
    client.post(reverse("desk:station"), {"station": "HZ-00002"})
    assert log_form(client, member=world.member.code, cartons="1").status_code == 302
    assert DropOff.objects.latest("pk").station == world.other


def test_cartons_left_earlier_are_logged_at_their_time_within_the_window(world):
    earlier = timezone.now() - timedelta(hours=70)
    at = timezone.localtime(earlier).strftime("%Y-%m-%dT%H:%M")
    client = client_of(world.clerk)
    assert log_form(client, member=world.member.code, cartons="3", occurred_at=at).status_code == 302
    assert DropOff.objects.latest("pk").occurred_at == earlier.replace(second=0, microsecond=0)
    too_old = timezone.localtime(timezone.now() - timedelta(hours=80)).strftime("%Y-%m-%dT%H:%M")
    refused = log_form(client, member=world.member.code, cartons="3", occurred_at=too_old)
    assert field_errors(refused, "occurred_at") == ["A drop-off can be recorded at most 72 hours after it happened."]


def test_the_admins_carton_inventory_has_translated_headers(world):
    """Its columns are named in Chinese (the city column was "STATION CITY")."""
    from django.contrib.admin.templatetags.admin_list import result_headers

    page = client_of(world.clerk, "zh-hans").get(reverse("admin:recycling_cartoninventory_changelist"))
    headers = [str(header["text"]) for header in result_headers(page.context["cl"])]
    assert "城市" in headers
    assert not [header for header in headers if re.search("[A-Za-z]", header)], headers
