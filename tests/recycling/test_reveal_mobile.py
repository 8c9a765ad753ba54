"""A superuser who needs a member's full number sees it on the member's "reveal" page, after
giving the reason; recycling.services.reveal_mobile() audits it (the reason, never the number).
Everyone else sees members masked: every admin page that lists or shows a member."""

import json
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from recycling.errors import InvalidReason, MemberDeleted, NotAllowedToReveal
from recycling.services import anonymise_member, record_dropoff, reveal_mobile
from rewards.services import reserve_reward
from tests.factories import (
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    StaffUserFactory,
    StationStaffFactory,
    StationStockFactory,
    SuperuserFactory,
)

pytestmark = pytest.mark.django_db

NUMBER = "13812345678"


@pytest.fixture
def member():
    return MemberFactory(mobile=NUMBER, display_name="小王")


def client_for(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def reveal_url(member) -> str:
    return reverse("admin:recycling_member_reveal", args=[member.pk])


def revealed() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditEvent.Action.MOBILE_REVEALED))


def test_a_superuser_sees_the_number_after_giving_a_reason_and_it_is_audited(member):
    superuser = SuperuserFactory()
    client = client_for(superuser)

    form = client.get(reveal_url(member))
    shown = client.post(reveal_url(member), {"reason": "Member asked by phone to confirm their account"})

    assert form.status_code == 200 and NUMBER not in form.content.decode()
    assert shown.status_code == 200 and NUMBER in shown.content.decode()
    assert "no-store" in shown["Cache-Control"]
    (event,) = revealed()
    assert (event.user, event.target_id, event.target_description) == (superuser, str(member.pk), "138****5678")
    assert event.details == {"reason": "Member asked by phone to confirm their account"}
    assert NUMBER not in json.dumps(list(AuditEvent.objects.values()), default=str)


@pytest.mark.parametrize("reason", ["", "   ", "x" * 301])
def test_without_a_reason_nothing_is_shown_or_recorded(member, reason):
    response = client_for(SuperuserFactory()).post(reveal_url(member), {"reason": reason})
    assert response.status_code == 200 and NUMBER not in response.content.decode()
    assert revealed() == []


def test_staff_cannot_open_the_reveal_page(member):
    staff = StationStaffFactory().user
    assert client_for(staff).get(reveal_url(member)).status_code == 403
    assert client_for(staff).post(reveal_url(member), {"reason": "curious"}).status_code == 403
    assert revealed() == []


def test_the_service_refuses_anyone_but_a_superuser_and_a_deleted_member(member):
    with pytest.raises(NotAllowedToReveal):
        reveal_mobile(member=member, user=StaffUserFactory(), reason="because")
    with pytest.raises(InvalidReason):
        reveal_mobile(member=member, user=SuperuserFactory(), reason=" ")
    anonymise_member(member=member)
    with pytest.raises(MemberDeleted):
        reveal_mobile(member=member, user=SuperuserFactory(), reason="because")
    assert revealed() == []


def test_no_admin_page_shows_a_full_number(member):
    """The member list and page, the drop-off list and page, reservations, accounts, transfers,
    users and the audit log show the member masked, to a superuser too."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    desk = StationStaffFactory()
    dropoff = record_dropoff(
        station=desk.station, member_code=member.code, cartons=3, staff=desk.user, idempotency_key=str(uuid.uuid4())
    ).dropoff
    eggs = RewardFactory(points_cost=10)
    StationStockFactory(station=desk.station, reward=eggs, quantity=5)
    redemption = reserve_reward(
        member=member, reward=eggs, station=desk.station, quantity=1, idempotency_key=str(uuid.uuid4())
    ).redemption
    superuser = client_for(SuperuserFactory())
    pages = [
        reverse("admin:recycling_member_changelist"),
        reverse("admin:recycling_member_change", args=[member.pk]),
        reverse("admin:recycling_member_history", args=[member.pk]),
        reverse("admin:recycling_dropoff_changelist"),
        reverse("admin:recycling_dropoff_change", args=[dropoff.pk]),
        reverse("admin:rewards_redemption_changelist"),
        reverse("admin:rewards_redemption_change", args=[redemption.pk]),
        reverse("admin:ledger_account_changelist"),
        reverse("admin:ledger_transfer_changelist"),
        reverse("admin:auth_user_changelist"),
        reverse("admin:audit_auditevent_changelist"),
    ]
    for url in pages:
        response = superuser.get(url)
        assert response.status_code == 200, url
        assert NUMBER not in response.content.decode(), url
    staff = client_for(desk.user)
    for url in (reverse("admin:recycling_dropoff_changelist"), reverse("admin:rewards_redemption_changelist")):
        content = staff.get(url).content.decode()
        assert "138****5678" in content and NUMBER not in content
