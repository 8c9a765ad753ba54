"""The member's account page: the display name, downloading one's data (JSON and CSV), and
deleting the account, which anonymises the member and leaves the books and the totals as they
were (check_ledger clean, daily and campaign totals recomputed equal)."""

import csv
import io
import json
import uuid

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from events.models import Event, Notice
from ledger.models import Transfer
from recycling.days import shanghai_day
from recycling.errors import UnknownMember
from recycling.models import CampaignStationTotal, DailyCityTotal, DailyStationTotal, Member
from recycling.services import record_dropoff
from recycling.totals import aggregate_campaign, aggregate_day
from rewards.models import Redemption
from rewards.services import collect_redemption, donate, reserve_reward
from tests.factories import RecyclingCampaignFactory

from .conftest import PASSWORD, balance_of, signed_in_client

ACCOUNT_URL = reverse("members:account")
DELETE_URL = reverse("members:delete_account")


def check_ledger() -> str:
    out = io.StringIO()
    call_command("check_ledger", stdout=out)  # raises CommandError on any violation
    return out.getvalue()


@pytest.fixture
def campaign(db):
    """A recycling campaign of today, whose station totals the tests recompute."""
    today = shanghai_day(timezone.now())
    return RecyclingCampaignFactory(start_day=today, end_day=today)


def totals(campaign) -> dict:
    """Every daily and campaign total, recomputed now from the drop-offs and the ledger."""
    aggregate_day(day=campaign.start_day)
    aggregate_campaign(campaign=campaign)

    def rows(model):
        return sorted(
            tuple(sorted((key, value) for key, value in row.items() if key not in {"id", "computed_at"}))
            for row in model.objects.values()
        )

    return {model.__name__: rows(model) for model in (DailyStationTotal, DailyCityTotal, CampaignStationTotal)}


def ledger_rows() -> list[tuple]:
    return list(Transfer.objects.order_by("pk").values_list("pk", "amount", "debit_account_id", "credit_account_id"))


def key() -> str:
    return str(uuid.uuid4())


def activity(shop) -> None:
    """The member donates a notebook (50 points) and collects a tote bag (10 points): balance 40."""
    donate(member=shop.member, campaign=shop.campaign, notebooks=1, idempotency_key=key())
    tote = reserve_reward(member=shop.member, reward=shop.tote, station=shop.station, quantity=1, idempotency_key=key())
    collect_redemption(redemption_id=tote.redemption.pk, pickup_code=tote.redemption.pickup_code, staff=shop.staff)


def delete(client: Client, password: str = PASSWORD, confirm: bool = True):
    data = {"password": password, **({"confirm": "on"} if confirm else {})}
    return client.post(DELETE_URL, data, HTTP_ACCEPT_LANGUAGE="en")


# --- The page ---------------------------------------------------------------------------------


def test_the_account_page_shows_the_members_own_number_and_the_downloads(member_client, shop):
    page = member_client.get(ACCOUNT_URL).content.decode()
    assert "13812345678" in page  # the member's own number, to the member
    assert reverse("members:export_json") in page
    for section in ("profile", "dropoffs", "points_history", "redemptions", "donations"):
        assert reverse("members:export_csv", args=[section]) in page


def test_the_account_pages_need_a_signed_in_member(client, shop):
    for url in (ACCOUNT_URL, reverse("members:export_json"), reverse("members:export_csv", args=["profile"])):
        response = client.get(url)
        assert response.status_code == 302 and reverse("members:signin") in response["Location"]
    assert client.post(DELETE_URL, {"password": PASSWORD, "confirm": "on"}).status_code == 302
    assert Member.objects.get(pk=shop.member.pk).mobile == "13812345678"


def test_a_member_sets_and_clears_a_display_name(member_client, shop):
    response = member_client.post(reverse("members:display_name"), {"display_name": "  王  小明 "})
    assert response.status_code == 302
    assert Member.objects.get(pk=shop.member.pk).display_name == "王 小明"
    member_client.post(reverse("members:display_name"), {"display_name": ""})
    assert Member.objects.get(pk=shop.member.pk).display_name == ""


@pytest.mark.parametrize("name", ["x" * 31, "bad\x00name", "tab\u200bzero"])
def test_a_display_name_too_long_or_with_control_characters_is_refused(member_client, shop, name):
    response = member_client.post(reverse("members:display_name"), {"display_name": name}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert Member.objects.get(pk=shop.member.pk).display_name == ""


# --- Downloading one's data ----------------------------------------------------------------


def test_the_json_download_holds_every_section(member_client, shop):
    activity(shop)
    response = member_client.get(reverse("members:export_json"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"] and response["Cache-Control"] == "no-store"
    data = json.loads(response.content)
    (profile,) = data["profile"]
    assert (profile["mobile"], profile["member_code"], profile["points_balance"]) == (
        "13812345678",
        shop.member.code,
        40,
    )
    assert [row["cartons"] for row in data["dropoffs"]] == [1]
    assert sorted(line["points"] for line in data["points_history"]) == [-50, -10, 100]
    assert [(row["reward"], row["status"]) for row in data["redemptions"]] == [("Tote bag", "collected")]
    assert [(row["notebooks"], row["points"]) for row in data["donations"]] == [(1, 50)]
    assert all("pickup_code" not in row for row in data["redemptions"])
    assert [row["kind"] for row in data["notices"]] == ["pickup_code_ready"]  # the tote bag's


def test_each_section_downloads_as_csv(member_client, shop):
    activity(shop)
    response = member_client.get(reverse("members:export_csv", args=["points_history"]), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert sorted(int(row["points"]) for row in rows) == [-50, -10, 100]
    assert any("Donation to" in row["reason"] for row in rows)
    profile = list(
        csv.DictReader(
            io.StringIO(member_client.get(reverse("members:export_csv", args=["profile"])).content.decode("utf-8-sig"))
        )
    )
    assert profile[0]["mobile"] == "13812345678"


def test_a_csv_cell_that_a_spreadsheet_would_run_is_neutralised(member_client, shop):
    Member.objects.filter(pk=shop.member.pk).update(display_name="=HYPERLINK(1)")
    response = member_client.get(reverse("members:export_csv", args=["profile"]))
    (row,) = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    assert row["display_name"] == "'=HYPERLINK(1)"


def test_an_unknown_section_is_404(member_client, shop):
    assert member_client.get(reverse("members:export_csv", args=["passwords"])).status_code == 404


def test_a_member_downloads_only_their_own_data(shop):
    from recycling.services import register_member

    other = register_member(mobile="13987654321", password=PASSWORD)
    data = json.loads(signed_in_client(other).get(reverse("members:export_json")).content)
    assert data["profile"][0]["mobile"] == "13987654321"
    assert data["dropoffs"] == [] and data["points_history"] == []


# --- Deleting the account -------------------------------------------------------------------


def test_deleting_the_account_anonymises_the_member_and_keeps_the_books_and_totals(member_client, shop, campaign):
    """Number, name and code go, sign-in is disabled; the ledger rows stay, check_ledger is
    clean, and the daily and campaign totals recomputed after are the ones before."""
    activity(shop)
    Member.objects.filter(pk=shop.member.pk).update(display_name="小王")
    old_code = shop.member.code
    before = totals(campaign)
    transfers = list(
        Transfer.objects.order_by("pk").values_list("pk", "amount", "debit_account_id", "credit_account_id")
    )
    assert "Ledger is consistent." in check_ledger()

    response = delete(member_client)

    assert response.status_code == 302 and response["Location"] == reverse("members:signin")
    member = Member.objects.select_related("user").get(pk=shop.member.pk)
    assert member.mobile is None and member.display_name == "" and member.anonymised_at is not None
    assert member.code != old_code
    assert not member.user.is_active and not member.user.has_usable_password()
    assert member.user.username.startswith("deleted-")
    assert balance_of(member) == 40  # the account and its balance stay, for the books
    assert (
        list(Transfer.objects.order_by("pk").values_list("pk", "amount", "debit_account_id", "credit_account_id"))
        == transfers
    )
    assert "Ledger is consistent." in check_ledger()
    assert before["DailyStationTotal"] and totals(campaign) == before
    event = AuditEvent.objects.get(action=AuditEvent.Action.ACCOUNT_DELETED)
    assert event.target_id == str(member.pk) and "13812345678" not in json.dumps(event.details)
    # Signed out, and the number signs nobody in any more.
    assert "_auth_user_id" not in member_client.session
    again = Client().post(
        reverse("members:signin"), {"username": "13812345678", "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert again.status_code == 200 and "_auth_user_id" not in again.wsgi_request.session
    # The old QR code finds nobody at the desk.
    with pytest.raises(UnknownMember):
        record_dropoff(station=shop.station, member_code=old_code, cartons=1, staff=shop.staff, idempotency_key=key())


def test_deleting_cancels_open_reservations_through_the_cancel_service(member_client, shop, campaign):
    """An open reservation is cancelled as the member's own cancel would: points and stock come
    back, the ledger stays clean; the drop-off totals (cartons, points issued) do not change."""
    activity(shop)
    eggs = reserve_reward(member=shop.member, reward=shop.eggs, station=shop.station, quantity=2, idempotency_key=key())
    assert balance_of(shop.member) == 0
    before = totals(campaign)

    response = delete(member_client)

    assert response.status_code == 302
    redemption = Redemption.objects.get(pk=eggs.redemption.pk)
    assert redemption.status == Redemption.Status.CANCELLED and redemption.refund_transfer_id is not None
    assert shop.station.stock.get(reward=shop.eggs).quantity == 10
    assert balance_of(shop.member) == 40
    assert "Ledger is consistent." in check_ledger()
    # Their notices are gone, and their events keep ids and figures but no member code.
    assert not Notice.objects.filter(member_id=shop.member.pk).exists()
    events = Event.objects.filter(member_id=shop.member.pk)
    assert events.count() >= 4 and not any("member_code" in event.payload for event in events)
    after = totals(campaign)
    assert (
        before["CampaignStationTotal"] and after["CampaignStationTotal"] == before["CampaignStationTotal"]
    )  # cartons, drop-offs, points issued
    station_before, station_after = (
        {key: value for key, value in dict(rows[0]).items() if key != "points_redeemed"}
        for rows in (before["DailyStationTotal"], after["DailyStationTotal"])
    )
    assert station_after == station_before


def test_deleting_twice_changes_nothing_more(shop):
    from rewards.services import delete_member_account

    assert delete_member_account(member=shop.member) == 0
    first = Member.objects.values().get(pk=shop.member.pk)
    assert delete_member_account(member=shop.member) == 0
    assert Member.objects.values().get(pk=shop.member.pk) == first
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ACCOUNT_DELETED).count() == 1


@pytest.mark.parametrize(("password", "confirm"), [("wrong-password-1", True), (PASSWORD, False), ("", True)])
def test_deleting_needs_the_password_and_the_tick(member_client, shop, password, confirm):
    response = delete(member_client, password=password, confirm=confirm)
    assert response.status_code == 400
    assert Member.objects.get(pk=shop.member.pk).mobile == "13812345678"
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ACCOUNT_DELETED).exists()
