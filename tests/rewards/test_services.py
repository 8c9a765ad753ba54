"""The rewards services: each one's success and its refusals, asserted on the database."""

from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import translation

from idempotency.errors import InvalidKey, KeyReused
from idempotency.models import IdempotencyKey
from idempotency.services import member_scope
from ledger.audit import ledger_violations
from ledger.models import Account, Transfer
from recycling import errors as ledger_errors
from rewards import errors, services
from rewards.demo import load_demo_catalog
from rewards.models import Donation, DonationCampaign, Redemption, Reward, StationStock
from rewards.selectors import campaign_progress
from rewards.tasks import expire_reservations as expire_task
from tests.factories import (
    MemberFactory,
    RedemptionFactory,
    RewardFactory,
    StationFactory,
    StationStaffFactory,
    StationStockFactory,
    SuperuserFactory,
)

from .conftest import NOW, SHANGHAI, balance_of, give_points, refusals, snapshot, stock_at


def reserve(desk, *, reward=None, quantity=1, key="r1", member=None, station=None, now=NOW):
    return services.reserve_reward(
        member=member or desk.member,
        reward=reward or desk.eggs,
        station=station or desk.station,
        quantity=quantity,
        idempotency_key=key,
        now=now,
    )


# --- Catalog and stock -------------------------------------------------------------------


@pytest.mark.django_db
def test_create_reward_creates_its_ledger_account():
    """create_reward stores the reward with a new `reward` account named after it."""
    reward = services.create_reward(name="Four eggs", name_zh="四个鸡蛋", points_cost=20, daily_limit_per_member=2)

    reward.refresh_from_db()
    assert reward.account.kind == Account.Kind.REWARD
    assert reward.account.name == "四个鸡蛋 / Four eggs"
    assert reward.account.balance == 0
    assert reward.daily_limit_per_member == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "changes",
    [
        {"points_cost": 0},
        {"kind": Reward.Kind.DONATION},  # a donation reward needs its campaign
        {"active_from": datetime(2023, 1, 1, tzinfo=SHANGHAI), "active_until": datetime(2022, 1, 1, tzinfo=SHANGHAI)},
        {"daily_limit_per_member": 0},
    ],
)
def test_create_reward_refuses_invalid_values_and_writes_nothing(changes):
    """Invalid values raise ValidationError; neither a reward nor an account is left behind."""
    values = {"name": "Eggs", "name_zh": "鸡蛋", "points_cost": 20} | changes

    with pytest.raises(ValidationError):
        services.create_reward(**values)

    assert not Reward.objects.exists()
    assert not Account.objects.filter(kind=Account.Kind.REWARD).exists()


@pytest.mark.django_db
def test_create_campaign_creates_its_ledger_account_and_refuses_an_end_before_the_start():
    """create_campaign stores the campaign with a `campaign` account; an end before the start is
    refused with nothing written."""
    start = datetime(2022, 1, 1, tzinfo=SHANGHAI)
    values = dict(title="Notebooks", title_zh="笔记本", beneficiary="School", points_per_notebook=50)

    campaign = services.create_campaign(**values, target_notebooks=1000, starts_at=start, ends_at=start.replace(2023))
    with pytest.raises(ValidationError):
        services.create_campaign(**values, target_notebooks=10, starts_at=start, ends_at=start.replace(2021))

    assert list(DonationCampaign.objects.all()) == [campaign]
    assert list(Account.objects.filter(kind=Account.Kind.CAMPAIGN)) == [campaign.account]


@pytest.mark.django_db
def test_update_reward_changes_catalog_fields_only(desk):
    """update_reward saves a new price; the account cannot be changed through it."""
    services.update_reward(reward=desk.eggs, points_cost=25)
    with pytest.raises(TypeError):
        services.update_reward(reward=desk.eggs, account=Account.objects.create(kind=Account.Kind.REWARD))

    desk.eggs.refresh_from_db()
    assert desk.eggs.points_cost == 25


@pytest.mark.django_db
def test_adjust_stock_adds_and_removes_at_the_staff_station(desk):
    """Staff add goods received (creating the stock row on first use) and remove broken ones."""
    reward = RewardFactory()

    services.adjust_stock(station=desk.station, reward=reward, change=24, staff=desk.staff)
    stock = services.adjust_stock(station=desk.station, reward=reward, change=-4, staff=desk.staff)

    assert stock.quantity == 20
    assert stock_at(desk.station, reward) == 20


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "other_station", "error"),
    [
        (-11, False, errors.InvalidStockChange),  # 10 eggs in stock
        (0, False, errors.InvalidStockChange),
        (1.5, False, errors.InvalidStockChange),
        (5, True, ledger_errors.NotStationStaff),
    ],
)
def test_adjust_stock_refusals_change_nothing(desk, change, other_station, error):
    """Below zero, a zero or fractional change, or another station's stock: refused, stock as it was."""
    station = StationStockFactory(reward=desk.eggs).station if other_station else desk.station
    before = snapshot()

    with pytest.raises(error):
        services.adjust_stock(station=station, reward=desk.eggs, change=change, staff=desk.staff)

    assert snapshot() == before


@pytest.mark.django_db
def test_stock_cannot_go_negative_in_the_database(desk):
    """The CHECK constraint refuses a negative quantity even when written past the services."""
    with pytest.raises(IntegrityError):
        StationStock.objects.filter(station=desk.station, reward=desk.eggs).update(quantity=-1)


# --- Reserve -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_reserve_debits_the_member_takes_the_stock_and_records_the_transfer(desk):
    """Reserving 2 eggs packs: 40 points move from the member to the reward account in one
    `redemption` transfer, the station's stock drops by 2, and the reservation waits 3 days
    with a 6-digit pickup code."""
    result = reserve(desk, quantity=2)

    redemption = Redemption.objects.get()
    assert result.redemption == redemption and not result.replayed
    assert result.balance == 60 == balance_of(desk.member)
    assert stock_at(desk.station, desk.eggs) == 8
    assert redemption.status == Redemption.Status.RESERVED
    assert (redemption.quantity, redemption.points) == (2, 40)
    assert len(redemption.pickup_code) == 6 and redemption.pickup_code.isdigit()
    assert redemption.expires_at == NOW + timedelta(days=3)
    transfer = redemption.transfer
    assert transfer.kind == Transfer.Kind.REDEMPTION and transfer.amount == 40
    assert transfer.debit_account == desk.member.account
    assert transfer.credit_account == desk.eggs.account
    assert Account.objects.get(pk=desk.eggs.account_id).balance == 40
    stored = IdempotencyKey.objects.get(key="r1")
    assert (stored.scope, stored.operation, stored.result["redemption"]) == (
        member_scope(desk.member.pk),
        "reserve",
        redemption.pk,
    )
    assert ledger_violations() == []


@pytest.mark.django_db
def test_reserve_retry_with_the_same_key_returns_the_first_reservation(desk):
    """A retried request is answered with the first reservation: charged once, stock taken once."""
    first = reserve(desk, key="same")
    again = reserve(desk, key="same")

    assert again.replayed and again.redemption == first.redemption
    assert balance_of(desk.member) == 80
    assert stock_at(desk.station, desk.eggs) == 9
    assert Redemption.objects.count() == 1
    assert Transfer.objects.filter(kind=Transfer.Kind.REDEMPTION).count() == 1


def _reward_inactive(desk):
    desk.eggs.is_active = False
    desk.eggs.save()


def _reward_not_yet_active(desk):
    desk.eggs.active_from = NOW + timedelta(days=1)
    desk.eggs.save()


def _reward_window_over(desk):
    desk.eggs.active_until = NOW - timedelta(hours=1)
    desk.eggs.save()


def _station_inactive(desk):
    desk.station.is_active = False
    desk.station.save()


def _no_stock(desk):
    StationStock.objects.filter(station=desk.station, reward=desk.eggs).update(quantity=0)


def _donation_reward(desk):
    desk.eggs = RewardFactory(kind=Reward.Kind.DONATION, campaign=desk.campaign)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("prepare", "quantity", "error"),
    [
        (None, 0, errors.InvalidQuantity),
        (None, 11, errors.InvalidQuantity),
        (None, "1", errors.InvalidQuantity),
        (None, True, errors.InvalidQuantity),
        (None, 3, errors.DailyLimitReached),  # at most 2 egg packs a day
        (_no_stock, 1, errors.OutOfStock),
        (_reward_inactive, 1, errors.RewardInactive),
        (_reward_not_yet_active, 1, errors.RewardNotYetActive),
        (_reward_window_over, 1, errors.RewardInactive),
        (_station_inactive, 1, ledger_errors.StationInactive),
        (_donation_reward, 1, errors.RewardNotReservable),
    ],
)
def test_reserve_refusals_change_nothing_and_are_remembered(desk, prepare, quantity, error):
    """Each refusal raises its clear error and leaves balances, stock, transfers and redemptions
    as they were. A domain refusal is remembered under its idempotency key; a quantity out of
    range (the request's own shape) is not, so the corrected retry with the key goes through."""
    if prepare:
        prepare(desk)
    before = snapshot()

    with pytest.raises(error) as raised:
        reserve(desk, quantity=quantity, key="refused")

    assert snapshot() == before
    if error is errors.InvalidQuantity:
        assert refusals() == []
        assert not reserve(desk, quantity=1, key="refused").replayed
    else:
        assert refusals() == [("refused", raised.value.code)]


@pytest.mark.django_db
def test_reserve_refuses_a_member_without_enough_points(desk):
    """Five tote bags (50 points) against 40 points: InsufficientPoints, with the figures in the
    message, and nothing written."""
    give_points(other := MemberFactory(), 40)
    before = snapshot()

    with pytest.raises(ledger_errors.InsufficientPoints, match="50.*40"):
        reserve(desk, member=other, reward=desk.tote, quantity=5, key="poor")

    assert snapshot() == before


@pytest.mark.django_db
def test_reserve_refuses_more_than_the_station_has(desk):
    """Six tote bags when the station has 5: OutOfStock saying how many are left."""
    with pytest.raises(errors.OutOfStock, match="5"):
        reserve(desk, reward=desk.tote, quantity=6)

    assert stock_at(desk.station, desk.tote) == 5


@pytest.mark.django_db
def test_reserve_refuses_a_reward_the_station_does_not_stock(desk):
    """No stock row at another station: OutOfStock."""
    with pytest.raises(errors.OutOfStock):
        reserve(desk, station=StationFactory())

    assert balance_of(desk.member) == 100


@pytest.mark.django_db
def test_a_retried_refusal_is_refused_again_even_after_the_member_earned_points(desk):
    """The first outcome counts: the same key gets the same refusal (code and message) after the
    member earned enough points; a new key then succeeds."""
    poor = MemberFactory()
    with pytest.raises(ledger_errors.InsufficientPoints) as first:
        reserve(desk, member=poor, key="k")
    give_points(poor, 20)

    with pytest.raises(ledger_errors.InsufficientPoints) as again:
        reserve(desk, member=poor, key="k")

    assert (again.value.code, str(again.value.message)) == (first.value.code, str(first.value.message))
    assert not Redemption.objects.exists()
    assert balance_of(poor) == 20
    assert reserve(desk, member=poor, key="k2").balance == 0


@pytest.mark.django_db
def test_the_same_key_for_a_different_request_is_refused(desk):
    """Reusing a key with another quantity, reward or station, or for a donation, raises KeyReused
    and writes nothing more; another member's key is in that member's scope, another request."""
    reserve(desk, key="k")
    before = snapshot()

    for other in ({"quantity": 2}, {"reward": desk.tote}, {"station": StationFactory()}):
        with pytest.raises(KeyReused):
            reserve(desk, key="k", **other)
    with pytest.raises(KeyReused):
        services.donate(member=desk.member, campaign=desk.campaign, notebooks=1, idempotency_key="k", now=NOW)
    assert snapshot() == before

    give_points(someone_else := MemberFactory(), 20)
    assert not reserve(desk, key="k", member=someone_else).replayed


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 101, None])
def test_reserve_refuses_an_invalid_idempotency_key(desk, key):
    """An empty, too long or missing key is refused before anything is written or remembered."""
    with pytest.raises(InvalidKey):
        reserve(desk, key=key)

    assert not IdempotencyKey.objects.filter(scope=member_scope(desk.member.pk)).exists()
    assert not Redemption.objects.exists()


@pytest.mark.django_db
def test_daily_limit_counts_reserved_and_collected_on_the_shanghai_day(desk):
    """Two packs reserved at 23:30 on 15 November (one collected) use up that day; a cancelled
    one does not count; at 00:10 on the 16th (Shanghai) the member may reserve again."""
    late = datetime(2022, 11, 15, 23, 30, tzinfo=SHANGHAI)
    first = reserve(desk, key="a", now=late).redemption
    cancelled = reserve(desk, key="b", now=late).redemption
    services.cancel_redemption(redemption_id=cancelled.pk, member=desk.member, now=late)
    reserve(desk, key="c", now=late)
    services.collect_redemption(redemption_id=first.pk, pickup_code=first.pickup_code, staff=desk.staff, now=late)

    with translation.override("en"), pytest.raises(errors.DailyLimitReached, match="0 left"):
        reserve(desk, key="d", now=late + timedelta(minutes=20))
    reserve(desk, key="e", now=datetime(2022, 11, 16, 0, 10, tzinfo=SHANGHAI))

    assert Redemption.objects.filter(status__in=["reserved", "collected"]).count() == 3


@pytest.mark.django_db(transaction=True)
def test_an_exception_between_the_debit_and_the_stock_update_leaves_nothing(desk, monkeypatch):
    """A failure after the points were debited but before the stock is taken rolls the whole
    reservation back: balances, stock, transfers, redemptions and remembered outcomes as before.
    (transaction=True: the rollback is the service's own, not the test's.)"""

    def broken_take_stock(**kwargs):
        assert Transfer.objects.filter(kind=Transfer.Kind.REDEMPTION).exists()  # the debit happened
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "_take_stock", broken_take_stock)
    before = snapshot()

    with pytest.raises(RuntimeError):
        reserve(desk)

    assert snapshot() == before
    assert not IdempotencyKey.objects.filter(scope=member_scope(desk.member.pk)).exists()
    assert ledger_violations() == []


# --- Collect -----------------------------------------------------------------------------


@pytest.fixture
def reserved(desk):
    """Two egg packs reserved by the desk's member at the desk's station (60 points left)."""
    return reserve(desk, quantity=2).redemption


@pytest.mark.django_db
def test_collect_hands_out_the_reservation(desk, reserved):
    """The right code at the right station: collected, by whom and when; points and stock stay
    where the reservation put them."""
    collected = services.collect_redemption(
        redemption_id=reserved.pk, pickup_code=f" {reserved.pickup_code} ", staff=desk.staff, now=NOW
    )

    reserved.refresh_from_db()
    assert collected == reserved
    assert reserved.status == Redemption.Status.COLLECTED
    assert (reserved.collected_by, reserved.collected_at) == (desk.staff, NOW)
    assert balance_of(desk.member) == 60
    assert stock_at(desk.station, desk.eggs) == 8
    assert not Transfer.objects.filter(kind=Transfer.Kind.REVERSAL).exists()
    assert ledger_violations() == []


def _collect(desk, redemption, *, code=None, staff=None, now=NOW):
    return services.collect_redemption(
        redemption_id=redemption.pk,
        pickup_code=redemption.pickup_code if code is None else code,
        staff=staff or desk.staff,
        now=now,
    )


@pytest.mark.django_db
def test_collect_refuses_a_wrong_code(desk, reserved):
    """A wrong pickup code: WrongPickupCode, still reserved."""
    wrong = f"{(int(reserved.pickup_code) + 1) % 1_000_000:06d}"
    before = snapshot()

    with pytest.raises(errors.WrongPickupCode):
        _collect(desk, reserved, code=wrong)

    assert snapshot() == before


@pytest.mark.django_db
def test_collect_at_another_station_names_the_right_one(desk, reserved):
    """Staff of another station are told where to collect, and nothing changes."""
    before = snapshot()

    with pytest.raises(errors.WrongStation, match=desk.station.code):
        _collect(desk, reserved, staff=StationStaffFactory().user)

    assert snapshot() == before


@pytest.mark.django_db
def test_collect_refuses_a_collected_cancelled_or_overdue_reservation(desk, reserved):
    """Collected twice: AlreadyCollected. Cancelled, or past its deadline: ReservationClosed.
    Unknown: NoSuchReservation."""
    _collect(desk, reserved)
    with pytest.raises(errors.AlreadyCollected):
        _collect(desk, reserved)

    cancelled = reserve(desk, key="r2", reward=desk.tote).redemption
    services.cancel_redemption(redemption_id=cancelled.pk, member=desk.member, now=NOW)
    with translation.override("en"), pytest.raises(errors.ReservationClosed, match="cancelled"):
        _collect(desk, cancelled)

    overdue = reserve(desk, key="r3", reward=desk.tote).redemption
    with translation.override("en"), pytest.raises(errors.ReservationClosed, match="expired"):
        _collect(desk, overdue, now=NOW + timedelta(days=3))
    overdue.refresh_from_db()
    assert overdue.status == Redemption.Status.RESERVED

    with pytest.raises(errors.NoSuchReservation):
        services.collect_redemption(redemption_id=999_999, pickup_code="123456", staff=desk.staff)


# --- Cancel and expire -------------------------------------------------------------------


@pytest.mark.django_db
def test_cancel_returns_the_points_and_the_stock_once(desk, reserved):
    """Cancelling posts one reversal of the debit (40 points back), returns the 2 packs to the
    station, and a second cancel changes nothing."""
    services.cancel_redemption(redemption_id=reserved.pk, member=desk.member, now=NOW)
    again = services.cancel_redemption(
        redemption_id=reserved.pk, member=desk.member, now=NOW + timedelta(hours=1)
    ).redemption

    reserved.refresh_from_db()
    assert reserved.status == again.status == Redemption.Status.CANCELLED
    assert reserved.ended_at == NOW
    assert balance_of(desk.member) == 100
    assert stock_at(desk.station, desk.eggs) == 10
    assert reserved.transfer.reversal.amount == 40
    assert Transfer.objects.filter(kind=Transfer.Kind.REVERSAL).count() == 1
    assert Account.objects.get(pk=desk.eggs.account_id).balance == 0
    assert ledger_violations() == []


@pytest.mark.django_db
def test_cancel_refuses_a_collected_reservation_or_another_members(desk, reserved):
    """A collected reward cannot be cancelled (AlreadyCollected); another member cannot cancel
    this one (NotYourRedemption); neither changes anything."""
    with pytest.raises(errors.NotYourRedemption):
        services.cancel_redemption(redemption_id=reserved.pk, member=MemberFactory())
    _collect(desk, reserved)
    before = snapshot()

    with pytest.raises(errors.AlreadyCollected):
        services.cancel_redemption(redemption_id=reserved.pk, member=desk.member)

    assert snapshot() == before


@pytest.mark.django_db
def test_expire_refunds_overdue_reservations_exactly_once(desk, reserved):
    """After 3 days the uncollected reservation expires (points and stock back); a younger one
    and a collected one stay; a second run and a later cancel change nothing."""
    younger = reserve(desk, key="young", reward=desk.tote, now=NOW + timedelta(days=1)).redemption
    collected = reserve(desk, key="done", reward=desk.tote).redemption
    _collect(desk, collected)
    deadline = NOW + timedelta(days=3)

    assert services.expire_reservations(now=deadline) == 1
    assert services.expire_reservations(now=deadline) == 0
    services.cancel_redemption(redemption_id=reserved.pk, member=desk.member)

    statuses = dict(Redemption.objects.values_list("pk", "status"))
    assert statuses == {reserved.pk: "expired", younger.pk: "reserved", collected.pk: "collected"}
    assert Transfer.objects.filter(kind=Transfer.Kind.REVERSAL).count() == 1
    assert balance_of(desk.member) == 100 - 10 - 10
    assert stock_at(desk.station, desk.eggs) == 10
    assert ledger_violations() == []


@pytest.mark.django_db
def test_expire_task_calls_the_service(desk):
    """The Celery task expires overdue reservations and returns how many (run in-process)."""
    reserve(desk, now=datetime(2022, 1, 1, tzinfo=SHANGHAI))

    assert expire_task.apply().get() == 1
    assert Redemption.objects.get().status == Redemption.Status.EXPIRED


# --- Donate ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_donate_moves_points_to_the_campaign_and_records_the_notebooks(desk):
    """Two notebooks at 50 points: 100 points from the member to the campaign account in one
    `donation` transfer, a donation of 2 notebooks, and the campaign's progress shows them."""
    result = services.donate(member=desk.member, campaign=desk.campaign, notebooks=2, idempotency_key="d", now=NOW)

    donation = Donation.objects.get()
    assert result.donation == donation and result.balance == 0 == balance_of(desk.member)
    assert (donation.notebooks, donation.points) == (2, 100)
    assert donation.transfer.kind == Transfer.Kind.DONATION
    assert donation.transfer.credit_account == desk.campaign.account
    desk.member.refresh_from_db()
    assert donation.station == desk.member.home_station  # where the member first left cartons
    progress = campaign_progress(campaign=desk.campaign)
    assert (progress.points, progress.notebooks, progress.percent) == (100, 2, 0.2)
    again = services.donate(member=desk.member, campaign=desk.campaign, notebooks=2, idempotency_key="d", now=NOW)
    assert again.replayed and again.donation == donation
    assert Donation.objects.count() == 1
    assert ledger_violations() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("notebooks", "now", "error"),
    [
        (0, NOW, errors.InvalidQuantity),
        (101, NOW, errors.InvalidQuantity),
        (3, NOW, ledger_errors.InsufficientPoints),  # 150 points, the member has 100
        (1, datetime(2019, 12, 31, tzinfo=SHANGHAI), errors.CampaignNotStarted),
        (1, datetime(2100, 1, 1, tzinfo=SHANGHAI), errors.CampaignEnded),
    ],
)
def test_donate_refusals_change_nothing_and_are_remembered(desk, notebooks, now, error):
    """Out-of-range notebooks, too few points, or a campaign not open: refused with nothing
    written; a retry with the same key gets the same refusal, stored for a domain refusal and
    checked again for notebooks out of range (the request's shape: nothing stored)."""
    before = snapshot()

    for _attempt in range(2):
        with pytest.raises(error):
            services.donate(
                member=desk.member, campaign=desk.campaign, notebooks=notebooks, idempotency_key="d", now=now
            )

    assert snapshot() == before
    assert refusals() == ([] if error is errors.InvalidQuantity else [("d", error.code)])


# --- Factories and demo ------------------------------------------------------------------


@pytest.mark.django_db
def test_redemption_factory_reserves_through_the_service(desk):
    """RedemptionFactory goes through reserve_reward, so the ledger stays consistent."""
    redemption = RedemptionFactory(member=desk.member, reward=desk.tote, station=desk.station, quantity=2)

    assert redemption.transfer.amount == 20
    assert ledger_violations() == []


@pytest.mark.django_db
def test_demo_catalog_buys_four_eggs_and_a_tote_bag_with_a_festival_order():
    """The demo prices: a festival order of 3 cartons (30 points at 10 a carton) buys four eggs
    (20) and a tote bag (10); a notebook costs 50 points; every station has both in stock."""
    stations = [StationFactory(), StationFactory()]
    SuperuserFactory()
    catalog = load_demo_catalog(stations=stations)
    member = MemberFactory()
    give_points(member, 30)

    for key, reward in (("eggs", catalog.eggs), ("bag", catalog.tote_bag)):
        services.reserve_reward(member=member, reward=reward, station=stations[1], quantity=1, idempotency_key=key)

    assert (catalog.eggs.points_cost, catalog.eggs.daily_limit_per_member, catalog.tote_bag.points_cost) == (20, 2, 10)
    assert (catalog.campaign.points_per_notebook, catalog.campaign.target_notebooks) == (50, 1000)
    assert balance_of(member) == 0
    assert StationStock.objects.filter(station__in=stations).count() == 4
    assert ledger_violations() == []


@pytest.mark.django_db
def test_the_demo_catalog_of_the_same_dates_is_reused_not_created_twice():
    """The simulator asks for its festival catalog at every run: the second call finds the first's
    rewards and campaign; other dates get a catalog of their own."""
    festival = {
        "available_from": datetime(2021, 11, 1, tzinfo=SHANGHAI),
        "rewards_until": datetime(2022, 12, 1, tzinfo=SHANGHAI),
        "campaign_until": datetime(2022, 12, 1, tzinfo=SHANGHAI),
    }
    first = load_demo_catalog(**festival)
    again = load_demo_catalog(**festival)
    other = load_demo_catalog(available_from=datetime(2023, 1, 1, tzinfo=SHANGHAI))

    assert again == first  # the same rows (model instances compare by primary key)
    assert {other.eggs.pk, other.tote_bag.pk}.isdisjoint({first.eggs.pk, first.tote_bag.pk})
    assert other.campaign.ends_at == datetime(2024, 1, 1, tzinfo=SHANGHAI)
    assert (Reward.objects.count(), DonationCampaign.objects.count()) == (4, 2)
