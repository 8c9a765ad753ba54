"""Station roles (recycling/permissions.py, stations.selectors.manages): a manager voids any
drop-off of their station, adjusts its stock and bales its cartons; a plain staff user voids only
their own drop-off within 15 minutes of logging it, and records cartons reused. Each role on each
action, through the services, the API, the station desk and the admin."""

import uuid
from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from rest_framework.test import APIClient

from api.services import create_api_token
from ledger.models import Account
from recycling import errors
from recycling.models import CartonInventory, CartonMovement, DropOff
from recycling.permissions import STAFF_VOID_WINDOW, can_void_dropoff
from recycling.services import record_carton_movement, record_dropoff, void_dropoff
from rewards import services as rewards_services
from rewards.models import StationStock
from tests.factories import (
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    StationFactory,
    StationManagerFactory,
    StationStaffFactory,
    SuperuserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_english():
    """The services' messages are asserted in English, whatever language an earlier test left active."""
    with translation.override("en"):
        yield


LATER = STAFF_VOID_WINDOW + timedelta(seconds=1)


@pytest.fixture
def station():
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    return StationFactory()


@pytest.fixture
def staff(station):
    return StationStaffFactory(station=station).user


@pytest.fixture
def colleague(station):
    return StationStaffFactory(station=station).user


@pytest.fixture
def manager(station):
    return StationManagerFactory(station=station).user


@pytest.fixture
def member():
    return MemberFactory()


def log(station, member, staff, cartons=3):
    return record_dropoff(
        station=station, member_code=member.code, cartons=cartons, staff=staff, idempotency_key=str(uuid.uuid4())
    ).dropoff


def age(dropoff: DropOff, by: timedelta) -> DropOff:
    """Date the drop-off's logging back (rather than moving the clock forward)."""
    DropOff.objects.filter(pk=dropoff.pk).update(recorded_at=F("recorded_at") - by)
    dropoff.refresh_from_db()
    return dropoff


def status_of(dropoff: DropOff) -> str:
    return DropOff.objects.get(pk=dropoff.pk).status


def balance_of(member) -> int:
    return Account.objects.get(member=member).balance


# --- The rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "logged_ago", "allowed"),
    [
        ("staff", timedelta(0), True),
        ("staff", STAFF_VOID_WINDOW, True),  # the 15th minute still counts
        ("staff", LATER, False),
        ("colleague", timedelta(0), False),
        ("manager", timedelta(days=60), True),
        ("superuser", timedelta(days=60), True),
        ("elsewhere", timedelta(0), False),  # staff of another station
    ],
)
def test_can_void_dropoff(station, staff, colleague, manager, member, who, logged_ago, allowed):
    users = {
        "staff": staff,
        "colleague": colleague,
        "manager": manager,
        "superuser": SuperuserFactory(),
        "elsewhere": StationManagerFactory().user,
    }
    dropoff = log(station, member, staff)
    now = dropoff.recorded_at + logged_ago
    assert can_void_dropoff(user=users[who], dropoff=dropoff, now=now) is allowed


# --- Voids through the service -------------------------------------------------------------


def test_staff_void_their_own_dropoff_within_the_window(station, staff, member):
    dropoff = age(log(station, member, staff), timedelta(minutes=14))
    void_dropoff(dropoff_id=dropoff.pk, staff=staff, reason="wrong member")
    assert status_of(dropoff) == DropOff.Status.VOIDED
    assert balance_of(member) == 0


def test_staff_cannot_void_their_own_dropoff_after_the_window(station, staff, member):
    """Refused with the rule's message, nothing changes; the refusal is stored under the key and
    replayed (the time only moves on)."""
    dropoff = age(log(station, member, staff), LATER)
    for _ in range(2):
        with pytest.raises(errors.VoidNotAllowed) as refusal:
            void_dropoff(dropoff_id=dropoff.pk, staff=staff, reason="late", idempotency_key="void-1")
    assert "within 15 minutes" in str(refusal.value.message)
    assert status_of(dropoff) == DropOff.Status.ACCEPTED
    assert balance_of(member) == 30


def test_staff_cannot_void_a_colleagues_dropoff(station, staff, colleague, member):
    dropoff = log(station, member, colleague)
    with pytest.raises(errors.VoidNotAllowed):
        void_dropoff(dropoff_id=dropoff.pk, staff=staff, reason="not mine")
    assert status_of(dropoff) == DropOff.Status.ACCEPTED


def test_a_manager_voids_any_dropoff_of_their_station_whenever(station, staff, manager, member):
    dropoff = age(log(station, member, staff), timedelta(days=3))
    void_dropoff(dropoff_id=dropoff.pk, staff=manager, reason="reported by the member")
    voided = DropOff.objects.get(pk=dropoff.pk)
    assert (voided.status, voided.voided_by) == (DropOff.Status.VOIDED, manager)


def test_a_manager_of_another_station_is_not_staff_here(station, staff, member):
    dropoff = log(station, member, staff)
    with pytest.raises(errors.NotStationStaff):
        void_dropoff(dropoff_id=dropoff.pk, staff=StationManagerFactory().user, reason="x")


def test_a_void_done_within_the_window_replays_after_it(station, staff, member):
    """A retry of a void that went through gets it again, even once the window has passed."""
    dropoff = log(station, member, staff)
    void_dropoff(dropoff_id=dropoff.pk, staff=staff, reason="typo", idempotency_key="void-2")
    age(dropoff, timedelta(hours=1))
    again = void_dropoff(dropoff_id=dropoff.pk, staff=staff, reason="typo", idempotency_key="void-2")
    assert again.replayed and again.dropoff.status == DropOff.Status.VOIDED


# --- Cartons baled and stock, through the services ------------------------------------------


def movement(station, staff, kind, key=None):
    return record_carton_movement(
        station=station, kind=kind, cartons=2, staff=staff, idempotency_key=key or str(uuid.uuid4())
    )


def on_hand(station) -> int:
    return CartonInventory.objects.get(station=station).on_hand


def test_staff_reuse_cartons_but_only_the_manager_bales_them(station, staff, manager, member):
    log(station, member, staff, cartons=10)
    movement(station, staff, CartonMovement.Kind.REUSED)
    with pytest.raises(errors.NotStationManager) as refusal:
        movement(station, staff, CartonMovement.Kind.BALED, key="bale")
    assert "Only the station's manager records cartons baled." in str(refusal.value.message)
    assert on_hand(station) == 8
    movement(station, manager, CartonMovement.Kind.BALED, key="bale")  # the key stored nothing for the refusal
    assert on_hand(station) == 6
    assert list(CartonMovement.objects.order_by("pk").values_list("kind", "recorded_by")) == [
        ("reused", staff.pk),
        ("baled", manager.pk),
    ]


def test_only_the_manager_adjusts_the_stock(station, staff, manager):
    reward = RewardFactory()
    with pytest.raises(errors.NotStationManager):
        rewards_services.adjust_stock(station=station, reward=reward, change=10, staff=staff)
    assert not StationStock.objects.filter(quantity__gt=0).exists()
    stock = rewards_services.adjust_stock(station=station, reward=reward, change=10, staff=manager)
    assert stock.quantity == 10


# --- Through the API -----------------------------------------------------------------------


def api_void(user, dropoff, key: str | None = None):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {create_api_token(user=user, name='test device').secret}")
    return client.post(
        reverse("api:dropoff-void", args=[dropoff.pk]),
        {"reason": "logged in error"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def test_api_void_by_role(station, staff, colleague, manager, member):
    own_fresh = log(station, member, staff)
    own_old = age(log(station, member, staff), LATER)
    colleagues = log(station, member, colleague)
    colleagues_old = age(log(station, member, colleague), timedelta(days=2))

    assert api_void(staff, own_fresh).status_code == 200
    for refused in (own_old, colleagues):
        response = api_void(staff, refused)
        assert response.status_code == 403 and response.json()["error"]["code"] == "void_not_allowed"
    assert api_void(manager, colleagues_old).status_code == 200

    statuses = {d.pk: status_of(d) for d in (own_fresh, own_old, colleagues, colleagues_old)}
    assert statuses == {
        own_fresh.pk: DropOff.Status.VOIDED,
        own_old.pk: DropOff.Status.ACCEPTED,
        colleagues.pk: DropOff.Status.ACCEPTED,
        colleagues_old.pk: DropOff.Status.VOIDED,
    }


def test_a_void_by_role_keeps_its_answer_under_its_key_after_the_window(station, staff, member):
    """The role check depends on the time, so it is decided in the write and its answer is stored
    with the key like any domain outcome: a void that went through inside the window replays
    after it (a retried request is not refused for arriving late), and a refused one replays
    its refusal (the same request under the same key answers the same)."""
    fresh, old = log(station, member, staff), age(log(station, member, staff), LATER)
    assert api_void(staff, fresh, key="void-fresh").status_code == 200
    refused = api_void(staff, old, key="void-old")
    assert refused.status_code == 403

    age(fresh, LATER)  # the retry arrives after the window
    retried = api_void(staff, fresh, key="void-fresh")
    assert (retried.status_code, retried["Idempotent-Replayed"]) == (200, "true")
    again = api_void(staff, old, key="void-old")
    assert (again.status_code, again["Idempotent-Replayed"]) == (403, "true")
    assert again.json() == refused.json()
    assert (status_of(fresh), status_of(old)) == (DropOff.Status.VOIDED, DropOff.Status.ACCEPTED)


# --- Through the station desk and the admin -------------------------------------------------


def desk_void(client, dropoff, reason="typo"):
    return client.post(reverse("desk:void", args=[dropoff.pk]), {"reason": reason})


def test_the_desk_offers_staff_a_void_of_their_own_recent_dropoffs_only(station, staff, colleague, member):
    """The station desk (desk/) shows the void form where can_void_dropoff allows it; a void
    posted anyway is the service's refusal on the form, and nothing changes."""
    own_fresh = log(station, member, staff)
    own_old = age(log(station, member, staff), LATER)
    colleagues = log(station, member, colleague)
    client = english_client(staff)

    offered = [
        client.get(reverse("desk:dropoff", args=[d.pk])).context["may_void"] for d in (own_fresh, own_old, colleagues)
    ]
    assert offered == [True, False, False]
    assert desk_void(client, own_old).status_code == 400
    assert desk_void(client, colleagues).status_code == 400
    assert desk_void(client, own_fresh).status_code == 302
    assert [status_of(d) for d in (own_fresh, own_old, colleagues)] == [
        DropOff.Status.VOIDED,
        DropOff.Status.ACCEPTED,
        DropOff.Status.ACCEPTED,
    ]


def test_a_manager_voids_a_colleagues_old_dropoff_at_the_desk(station, staff, manager, member):
    old = age(log(station, member, staff), timedelta(days=2))
    assert desk_void(english_client(manager), old, reason="member complained").status_code == 302
    assert status_of(old) == DropOff.Status.VOIDED


def test_desk_baling_by_role(station, staff, manager, member):
    log(station, member, staff, cartons=10)

    def record(user, kind):
        client = english_client(user)
        key = client.get(reverse("desk:cartons")).context["form"]["idempotency_key"].value()
        return client.post(reverse("desk:cartons"), {"kind": kind, "cartons": 2, "idempotency_key": key})

    assert record(staff, "baled").status_code == 400  # not offered to plain staff
    assert record(staff, "reused").status_code == 302
    assert record(manager, "baled").status_code == 302
    assert list(CartonMovement.objects.order_by("pk").values_list("kind", flat=True)) == ["reused", "baled"]


def english_client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def test_admin_stock_by_role(station, staff, manager):
    """Plain staff see the stock but cannot add or change it; the manager adjusts it."""
    reward = RewardFactory()
    stock = rewards_services.adjust_stock(station=station, reward=reward, change=5, staff=manager)
    add_url = reverse("admin:rewards_stationstock_add")
    change_url = reverse("admin:rewards_stationstock_change", args=[stock.pk])
    staff_client, manager_client = english_client(staff), english_client(manager)

    assert staff_client.get(reverse("admin:rewards_stationstock_changelist")).status_code == 200
    assert staff_client.post(add_url, {"station": station.pk, "reward": reward.pk, "change": "3"}).status_code == 403
    staff_client.post(change_url, {"change": "3"})  # the read-only view: nothing to save
    assert StationStock.objects.get(pk=stock.pk).quantity == 5

    assert manager_client.post(change_url, {"change": "3"}).status_code == 302
    assert StationStock.objects.get(pk=stock.pk).quantity == 8


def test_the_window_is_counted_from_logging_not_from_the_dropoffs_time(station, staff, member):
    """A late drop-off (it happened yesterday) logged now may be undone now by whoever logged it."""
    dropoff = record_dropoff(
        station=station,
        member_code=member.code,
        cartons=1,
        staff=staff,
        idempotency_key="late",
        occurred_at=timezone.now() - timedelta(days=1),
    ).dropoff
    assert can_void_dropoff(user=staff, dropoff=dropoff, now=timezone.now())
