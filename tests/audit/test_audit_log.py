"""The audit log: sign-ins, refusals (403), voids, stock and catalog/rule changes, with who,
when and from which address; append-only; and text a user typed cannot forge a log line."""

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent, HourlyCount
from audit.receivers import masked_username
from audit.services import count_per_hour, record_event
from recycling import errors
from recycling.models import DropOff, EarningRule, EmissionFactor
from recycling.services import record_dropoff, register_member, void_dropoff
from rewards.services import adjust_stock, create_reward, reserve_reward, update_reward
from tests.factories import (
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    StationManagerFactory,
    StationStaffFactory,
    SuperuserFactory,
)

PASSWORD = "correct-horse-battery"
FORGED = "typo\n2026-01-01 12:00:00 INFO audit admin voided everything\r\x1b[2Kok\u2028end"


def events(action=None):
    queryset = AuditEvent.objects.order_by("pk")
    return list(queryset.filter(action=action) if action else queryset)


@pytest.fixture
def desk(db):
    staff = StationManagerFactory()  # adjusts stock too
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    return staff


def record(desk, member, cartons=2, key="k1"):
    return record_dropoff(
        station=desk.station, member_code=member.code, cartons=cartons, staff=desk.user, idempotency_key=key
    ).dropoff


# --- Sign-ins ----------------------------------------------------------------------------


def test_a_member_sign_in_is_recorded_with_user_and_address(db):
    member = register_member(mobile="13812345678", password=PASSWORD)
    Client().post(
        reverse("members:signin"), {"username": "13812345678", "password": PASSWORD}, REMOTE_ADDR="203.0.113.9"
    )
    [event] = events(AuditEvent.Action.SIGN_IN)
    assert (event.user, event.username, event.address) == (member.user, member.user.username, "203.0.113.9")
    assert "1381234" not in event.username  # the login's handle, never the number


def test_a_failed_sign_in_keeps_the_number_masked_and_never_the_password(db):
    register_member(mobile="13812345678", password=PASSWORD)
    Client().post(
        reverse("members:signin"), {"username": "+86 138-1234-5678", "password": "hunter2-secret"}, REMOTE_ADDR="::1"
    )
    [event] = events(AuditEvent.Action.SIGN_IN_FAILED)
    assert (event.user, event.username, event.address) == (None, "138****5678", "::1")
    stored = json.dumps([event.username, event.details, event.target_description])
    assert "hunter2" not in stored and "12345678" not in stored


def test_a_failed_admin_sign_in_keeps_the_username_tried(db):
    Client().post(reverse("admin:login"), {"username": "boss", "password": "guess", "next": "/admin/"})
    [event] = events(AuditEvent.Action.SIGN_IN_FAILED)
    assert (event.user, event.username, event.address) == (None, "boss", "127.0.0.1")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("13812345678", "138****5678"), ("138 1234 5678", "138****5678"), ("008613812345678", "138****5678"),
     ("staff-hz-00001", "staff-hz-00001"), ("12812345678", "12812345678"), (None, "")],
)  # fmt: skip
def test_masked_username(typed, stored):
    assert masked_username(typed) == stored


# --- Addresses ---------------------------------------------------------------------------


def test_x_forwarded_for_is_ignored_unless_the_app_is_behind_a_proxy(db, settings):
    sign_in = {"path": reverse("admin:login"), "data": {"username": "x", "password": "y"}}
    headers = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.4"}
    Client().post(**sign_in, **headers)
    settings.GREENBOX_TRUSTED_PROXIES = 1
    Client().post(**sign_in, **headers)
    settings.GREENBOX_TRUSTED_PROXIES = 2
    Client().post(**sign_in, **headers)
    # Not trusted: the proxy itself. One proxy: what it saw. Two: the next one left, never "6.6.6.6"
    # unless as many proxies as that are trusted.
    assert [e.address for e in events()] == ["10.0.0.2", "198.51.100.4", "6.6.6.6"]


def test_outside_a_request_there_is_no_address_and_no_user(db):
    event = record_event(action=AuditEvent.Action.CATALOG_CHANGED)
    assert (event.user, event.username, event.address) == (None, "", None)


# --- Refusals (403) ----------------------------------------------------------------------


def test_a_refused_admin_page_is_recorded_with_path_and_method(db):
    staff = StationStaffFactory().user
    client = Client()
    client.force_login(staff)
    response = client.post(reverse("admin:rewards_reward_add"), {"name": "x"})
    assert response.status_code == 403
    [event] = events(AuditEvent.Action.PERMISSION_DENIED)
    assert (event.user, event.username, event.address) == (staff, staff.username, "127.0.0.1")
    assert event.details == {"method": "POST", "path": reverse("admin:rewards_reward_add")}


def test_a_refused_member_page_is_recorded(db):
    staff = StationStaffFactory().user  # a login without a Member: the member pages refuse it
    client = Client()
    client.force_login(staff)
    assert client.get(reverse("members:history")).status_code == 403
    [event] = events(AuditEvent.Action.PERMISSION_DENIED)
    assert event.user == staff and event.details["path"] == reverse("members:history")


def test_anonymous_refusals_are_counted_per_hour_not_logged_one_by_one(db):
    """A flood of anonymous 403s (here CSRF refusals) adds to one row per hour, and no event."""
    client = Client(enforce_csrf_checks=True)
    for _ in range(3):
        assert client.post(reverse("members:signin"), {"username": "a", "password": "b"}).status_code == 403
    assert events(AuditEvent.Action.PERMISSION_DENIED) == []
    [counted] = HourlyCount.objects.all()
    assert counted.kind == HourlyCount.Kind.ANONYMOUS_REFUSAL
    assert counted.count == 3 and (counted.hour.minute, counted.hour.second) == (0, 0)


def test_counts_of_different_hours_and_kinds_are_kept_apart(db):
    refusal, fail_open = HourlyCount.Kind.ANONYMOUS_REFUSAL, HourlyCount.Kind.THROTTLE_FAILED_OPEN
    count_per_hour(refusal, at=datetime(2026, 11, 11, 9, 59, tzinfo=UTC))
    count_per_hour(refusal, at=datetime(2026, 11, 11, 10, 0, 1, tzinfo=UTC))
    count_per_hour(refusal, at=datetime(2026, 11, 11, 10, 30, tzinfo=UTC))
    count_per_hour(fail_open, at=datetime(2026, 11, 11, 10, 30, tzinfo=UTC))
    counts = {(row.kind, row.hour.astimezone(UTC).hour): row.count for row in HourlyCount.objects.all()}
    assert counts == {(refusal, 9): 1, (refusal, 10): 2, (fail_open, 10): 1}


def test_pages_that_are_allowed_record_nothing(db):
    Client().get(reverse("members:signin"))
    assert events() == []


# --- Voids -------------------------------------------------------------------------------


def test_a_void_is_recorded_in_its_transaction(desk):
    member = MemberFactory()
    dropoff = record(desk, member)
    void_dropoff(dropoff_id=dropoff.pk, staff=desk.user, reason="wrong member")
    [event] = events(AuditEvent.Action.DROPOFF_VOIDED)
    assert (event.user, event.target_type, event.target_id) == (
        desk.user,
        ContentType.objects.get_for_model(DropOff),
        str(dropoff.pk),
    )
    assert event.details == {"reason": "wrong member", "cartons": 2, "points": 20}


def test_a_refused_void_leaves_no_event(desk):
    """Voiding after the member spent the points rolls back: no "voided" event remains."""
    member = MemberFactory()
    dropoff = record(desk, member, cartons=2)
    reward = RewardFactory(points_cost=20)
    adjust_stock(station=desk.station, reward=reward, change=1, staff=desk.user)
    reserve_reward(member=member, reward=reward, station=desk.station, quantity=1, idempotency_key="r1")
    with pytest.raises(errors.InsufficientPoints):
        void_dropoff(dropoff_id=dropoff.pk, staff=desk.user, reason="too late")
    assert events(AuditEvent.Action.DROPOFF_VOIDED) == []


def test_a_void_rolled_back_by_its_caller_leaves_no_event(desk):
    dropoff = record(desk, MemberFactory())
    with pytest.raises(RuntimeError), transaction.atomic():
        void_dropoff(dropoff_id=dropoff.pk, staff=desk.user, reason="wrong member")
        raise RuntimeError("the caller fails after the void")
    assert events(AuditEvent.Action.DROPOFF_VOIDED) == []


def test_a_reason_with_line_breaks_stays_one_field_and_one_log_line(desk, caplog):
    """A forged "log line" inside a reason is stored as typed, in its own field, and the log
    gets exactly one line whose JSON gives the reason back unchanged."""
    dropoff = record(desk, MemberFactory())
    with caplog.at_level(logging.INFO, logger="greenbox.audit"):
        void_dropoff(dropoff_id=dropoff.pk, staff=desk.user, reason=FORGED)
    [event] = events(AuditEvent.Action.DROPOFF_VOIDED)
    assert event.details["reason"] == FORGED
    [line] = [r.getMessage() for r in caplog.records if r.name == "greenbox.audit"]
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u2028" not in line
    assert line.startswith("audit {")
    logged = json.loads(line.removeprefix("audit "))
    assert logged["action"] == "dropoff_voided" and logged["details"]["reason"] == FORGED


# --- Stock, catalog and rules ------------------------------------------------------------


def test_a_stock_change_is_recorded(desk):
    reward = RewardFactory()
    stock = adjust_stock(station=desk.station, reward=reward, change=24, staff=desk.user)
    [event] = events(AuditEvent.Action.STOCK_CHANGED)
    assert (event.user, event.target_id, event.details) == (desk.user, str(stock.pk), {"change": 24, "quantity": 24})


def test_a_refused_stock_change_leaves_no_event(desk):
    with pytest.raises(errors.DomainError):
        adjust_stock(station=desk.station, reward=RewardFactory(), change=-1, staff=desk.user)
    assert events() == []


def test_catalog_changes_are_recorded(db):
    reward = create_reward(name="Eggs", name_zh="鸡蛋", points_cost=20)
    update_reward(reward=reward, points_cost=25)
    created, changed = events(AuditEvent.Action.CATALOG_CHANGED)
    assert created.details == {"created": True} and created.target_id == str(reward.pk)
    assert changed.details == {"created": False, "changed": {"points_cost": 25}}


def test_catalog_changes_in_the_admin_name_the_superuser(db):
    admin_user = SuperuserFactory()
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:rewards_reward_add"),
        {"name": "Tote", "name_zh": "袋", "kind": "goods", "points_cost": 10, "is_active": "on",
         "active_from_0": "2024-01-01", "active_from_1": "00:00:00"},
    )  # fmt: skip
    assert response.status_code == 302, response.content
    [event] = events(AuditEvent.Action.CATALOG_CHANGED)
    assert (event.user, event.target_description) == (admin_user, "袋 / Tote")


def test_rule_changes_in_the_admin_are_recorded(db):
    admin_user = SuperuserFactory()
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:recycling_earningrule_add"),
        {"points_per_carton": 12, "daily_carton_cap": 20, "valid_from_0": "2024-01-01", "valid_from_1": "00:00:00"},
    )
    assert response.status_code == 302, response.content
    rule = EarningRule.objects.get()
    [event] = events(AuditEvent.Action.RULE_CHANGED)
    assert (event.user, event.target_id) == (admin_user, str(rule.pk))
    assert event.details["created"] is True and event.details["changed"]["points_per_carton"] == 12

    factor = EmissionFactor.objects.get()
    data = {
        "name": "Changed", "kg_board_per_carton": "0.300", "kg_co2e_per_kg": "3.000", "basis": "b",
        "source": "s", "source_url": "https://example.org", "valid_from": "2000-01-01",
    }  # fmt: skip
    url = reverse("admin:recycling_emissionfactor_change", args=[factor.pk])
    assert client.post(url, data).status_code == 302
    event = events(AuditEvent.Action.RULE_CHANGED)[-1]
    assert event.target_id == str(factor.pk) and event.details["changed"]["kg_board_per_carton"] == "0.300"
    assert Decimal(event.details["changed"]["kg_co2e_per_kg"]) == Decimal("3.000")


# --- Append-only and the admin -----------------------------------------------------------


def test_the_database_refuses_to_change_an_event(db):
    event = record_event(action=AuditEvent.Action.SIGN_IN, user=None, username="someone")
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(username="someone else")
    assert AuditEvent.objects.get(pk=event.pk).username == "someone"


def test_postgresql_refuses_to_delete_an_event(db):
    event = record_event(action=AuditEvent.Action.SIGN_IN, user=None, username="someone")
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_superusers_read_and_filter_the_log_and_nobody_edits_it(db):
    admin_user = SuperuserFactory()
    event = record_event(action=AuditEvent.Action.SIGN_IN, user=admin_user)
    client = Client()
    client.force_login(admin_user)
    changelist = reverse("admin:audit_auditevent_changelist")
    assert client.get(changelist).status_code == 200
    for query in [
        "?action=sign_in",
        f"?user__id__exact={admin_user.pk}",
        f"?q={admin_user.username}",
        "?at__year=2020",
    ]:
        assert client.get(changelist + query).status_code == 200, query
    assert client.get(reverse("admin:audit_auditevent_change", args=[event.pk])).status_code == 200
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert client.post(reverse("admin:audit_auditevent_delete", args=[event.pk])).status_code == 403
    page = client.get(reverse("admin:audit_auditevent_change", args=[event.pk])).content.decode()
    assert 'name="_save"' not in page


def test_staff_cannot_read_the_log(db):
    staff = StationStaffFactory().user
    client = Client()
    client.force_login(staff)
    assert client.get(reverse("admin:audit_auditevent_changelist")).status_code == 403


def test_an_unsaved_user_is_named_without_a_link(db):
    """Scripts may act as an unsaved superuser (the demo loader does): the event keeps the name."""
    event = record_event(action=AuditEvent.Action.STOCK_CHANGED, user=get_user_model()(username="demo-loader"))
    assert (event.user, event.username) == (None, "demo-loader")
