"""Members' notices: written in the transaction of what they are about, sent once through the
configured channel (the log by default), listed on the member's notices page."""

import logging
from datetime import date, timedelta

import pytest
from django.utils import translation

from events.models import Notice
from recycling.notices import notify_points_expiring, send_pending_notices
from recycling.services import record_dropoff
from rewards.models import Redemption
from rewards.services import cancel_redemption, notice_expiring_reservations, reserve_reward
from tests.factories import MemberFactory
from tests.members.conftest import signed_in_client

pytestmark = pytest.mark.django_db


def reserve(desk, key="r1"):
    record_dropoff(
        station=desk.station, member_code=desk.member.code, cartons=4, staff=desk.staff, idempotency_key=f"f-{key}"
    )
    return reserve_reward(
        member=desk.member, reward=desk.eggs, station=desk.station, quantity=1, idempotency_key=key
    ).redemption


class Failing:
    def send(self, *, member, notice):
        raise ConnectionError("gateway down")


sent_to: list = []


class Recording:
    def send(self, *, member, notice):
        sent_to.append((member.pk, notice.kind, notice.message()))


def test_a_reservation_writes_a_pickup_code_notice_sent_once_through_the_log(desk, caplog):
    redemption = reserve(desk)

    notice = Notice.objects.get()
    assert (notice.member_id, notice.kind, notice.sent_at) == (desk.member.pk, "pickup_code_ready", None)
    with translation.override("en"):
        assert redemption.pickup_code in notice.message() and "Four eggs" in notice.message()
    with caplog.at_level(logging.INFO, logger="greenbox.notices"):
        assert send_pending_notices() == 1
        assert send_pending_notices() == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"notice {notice.pk} pickup_code_ready to member {desk.member.pk}"
    ]
    assert desk.member.mobile not in caplog.text
    notice.refresh_from_db()
    assert notice.sent_at is not None


def test_the_channel_comes_from_the_setting_and_a_failure_leaves_the_notice_for_the_next_run(desk, settings):
    reserve(desk)
    settings.GREENBOX_NOTICE_CHANNEL = "tests.events.test_notices.Failing"

    assert send_pending_notices() == 0
    assert Notice.objects.get().sent_at is None

    settings.GREENBOX_NOTICE_CHANNEL = "tests.events.test_notices.Recording"
    sent_to.clear()
    assert send_pending_notices() == 1
    assert [(pk, kind) for pk, kind, _text in sent_to] == [(desk.member.pk, "pickup_code_ready")]


def test_a_reservation_about_to_expire_is_noticed_once(desk):
    redemption = reserve(desk)
    other = reserve(desk, key="r2")
    cancel_redemption(redemption_id=other.pk, member=desk.member)  # not reserved any more: no warning
    soon = redemption.expires_at - timedelta(hours=11)

    assert notice_expiring_reservations(now=redemption.expires_at - timedelta(hours=13)) == 0  # not yet
    assert notice_expiring_reservations(now=soon) == 1
    assert notice_expiring_reservations(now=soon + timedelta(hours=1)) == 0  # once each

    warning = Notice.objects.get(kind="reservation_expiring")
    assert warning.params["redemption_id"] == redemption.pk
    assert Redemption.objects.get(pk=redemption.pk).status == "reserved"


def test_the_points_expiry_hook_writes_one_notice_per_member_and_day(db):
    member = MemberFactory()

    first = notify_points_expiring(member=member, points=120, expires_on=date(2027, 1, 31))
    again = notify_points_expiring(member=member, points=120, expires_on=date(2027, 1, 31))

    assert first is not None and again is None
    with translation.override("en"):
        assert first.message().startswith("120 of your points expire on")


def test_the_member_reads_their_notices_and_nobody_elses(desk):
    reserve(desk)
    stranger = MemberFactory()
    Notice.objects.create(
        member_id=stranger.pk, kind="points_expiring", params={"points": 7, "expires_on": "2027-01-31"}
    )

    page = signed_in_client(desk.member).get("/notices/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Four eggs" in html and "7 of your points" not in html
    zh = signed_in_client(desk.member, language="zh-hans").get("/notices/").content.decode()
    assert "消息" in zh and "四个鸡蛋" in zh
    account = signed_in_client(desk.member).get("/account/").content.decode()
    assert 'href="/notices/"' in account


def test_the_notices_page_needs_a_signed_in_member(client):
    response = client.get("/notices/")

    assert response.status_code == 302 and "/signin/" in response["Location"]
