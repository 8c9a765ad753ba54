"""The audit explains every redemption debit, refund and donation by its row: each kind of
corruption, planted with raw SQL past the services, is named by id."""

import pytest
from django.db.models import F

from ledger.audit import transfers_have_one_cause
from ledger.models import Account
from rewards import services
from rewards.audit import (
    campaign_balances_match_donations,
    donations_agree_with_their_transfers,
    redemptions_agree_with_their_transfers,
    redemptions_have_their_stock,
    reward_balances_match_redemptions,
    stock_not_negative,
)
from rewards.models import Donation, Redemption, StationStock

from .conftest import post_raw, sql, without

pytestmark = pytest.mark.django_db


def test_a_cancelled_redemption_without_its_refund_is_reported(activity):
    """A reservation marked cancelled without a refund: named, and the reward account no longer
    holds what its open redemptions say."""
    redemption = activity.redemptions["reserved"]
    Redemption.objects.filter(pk=redemption.pk).update(status="cancelled", ended_at=F("reserved_at"))

    assert redemptions_agree_with_their_transfers() == [f"redemption {redemption.pk} (cancelled): no refund"]
    assert len(reward_balances_match_redemptions()) == 1


@pytest.mark.parametrize("status", ["reserved", "collected"])
def test_an_open_or_collected_redemption_with_a_refund_is_reported(activity, status):
    """A refunded reservation put back to reserved or collected (the database refuses it too:
    its CHECK is lifted for the test) is named with the refund."""
    without("rewards_redemption", constraint="redemption_refund_only_when_ended")
    without("rewards_redemption", constraint="redemption_fields_match_status")
    refunded = activity.redemptions["cancelled"]
    Redemption.objects.filter(pk=refunded.pk).update(status=status, ended_at=None)

    assert redemptions_agree_with_their_transfers() == [
        f"redemption {refunded.pk} ({status}): a {status} redemption, yet refunded by transfer "
        f"{refunded.refund_transfer_id}"
    ]


def test_a_redemption_debited_from_another_member_is_reported(activity):
    """The debit swapped for one from bob's account (balances moved to match): the redemption
    names the account, and its real debit is now causeless."""
    redemption = activity.redemptions["collected"]
    other = post_raw(
        debit=activity.bob.account.pk, credit=activity.eggs.account_id, amount=20, kind="redemption", key="swap"
    )
    sql("UPDATE rewards_redemption SET transfer_id = %s WHERE id = %s", [other, redemption.pk])

    assert redemptions_agree_with_their_transfers() == [
        f"redemption {redemption.pk} (collected): debit transfer {other} debits account {activity.bob.account.pk}, "
        f"not the member's {activity.alice.account.pk}"
    ]
    assert transfers_have_one_cause() == [f"transfer {redemption.transfer_id} (redemption, 20 points) has no cause"]


def test_a_redemption_credited_to_another_reward_is_reported(activity):
    redemption = activity.redemptions["reserved"]
    tote = services.create_reward(name="Tote bag", name_zh="环保袋", points_cost=20)
    without("recycling_transfer", trigger="recycling_transfer_append_only")
    sql("UPDATE recycling_transfer SET credit_account_id = %s WHERE id = %s", [tote.account_id, redemption.transfer_id])

    assert redemptions_agree_with_their_transfers() == [
        f"redemption {redemption.pk} (reserved): debit transfer {redemption.transfer_id} credits account "
        f"{tote.account_id}, not the reward's {activity.eggs.account_id}"
    ]


def test_a_redemption_charged_the_wrong_price_is_reported_though_everything_else_matches(activity):
    """Row, debit and balances all say 30 points for one box of eggs at 20: only the price
    check can tell, and it names the redemption."""
    redemption = activity.redemptions["reserved"]
    without("recycling_transfer", trigger="recycling_transfer_append_only")
    Redemption.objects.filter(pk=redemption.pk).update(points=30)
    sql("UPDATE recycling_transfer SET amount = 30 WHERE id = %s", [redemption.transfer_id])
    Account.objects.filter(pk=activity.alice.account.pk).update(balance=F("balance") - 10)
    Account.objects.filter(pk=activity.eggs.account_id).update(balance=F("balance") + 10)

    assert redemptions_agree_with_their_transfers() == [
        f"redemption {redemption.pk} (reserved): 30 points for 1 at 20 each"
    ]
    assert reward_balances_match_redemptions() == []


def test_a_price_changed_after_a_redemption_is_not_a_violation(activity):
    """A new price applies to later reservations only; the audit log says what it was then."""
    services.update_reward(reward=activity.eggs, points_cost=25)
    later = services.reserve_reward(
        member=activity.alice, reward=activity.eggs, station=activity.first.station, quantity=2, idempotency_key="new"
    ).redemption

    assert later.points == 50
    assert redemptions_agree_with_their_transfers() == []


def test_a_refund_that_does_not_undo_the_debit_is_reported(activity):
    refunded = activity.redemptions["expired"]
    without("recycling_transfer", trigger="recycling_transfer_append_only")
    sql("UPDATE recycling_transfer SET amount = 10 WHERE id = %s", [refunded.refund_transfer_id])

    assert redemptions_agree_with_their_transfers() == [
        f"redemption {refunded.pk} (expired): refund transfer {refunded.refund_transfer_id} does not undo the debit"
    ]


def test_a_donation_whose_points_changed_is_reported(activity):
    """A donation whose points no longer match its transfer and campaign balance is named by the
    donation and the campaign checks."""
    Donation.objects.filter(pk=activity.donation.pk).update(points=F("points") + 1)

    assert donations_agree_with_their_transfers() == [
        f"donation {activity.donation.pk}: transfer {activity.donation.transfer_id} takes 50 points, not 51; "
        "51 points for 1 notebooks at 50 each"
    ]
    assert [v.startswith(f"campaign {activity.campaign.pk} ") for v in campaign_balances_match_donations()] == [True]


def test_a_reversed_donation_is_reported(activity):
    """Donations are never reversed: a reversal of one is named twice, as the donation's and as
    a transfer with no cause."""
    reversal = post_raw(
        debit=activity.campaign.account_id,
        credit=activity.alice.account.pk,
        amount=50,
        kind="reversal",
        key="undo-donation",
        reverses=activity.donation.transfer_id,
    )

    assert donations_agree_with_their_transfers() == [
        f"donation {activity.donation.pk}: reversed by transfer {reversal}"
    ]
    assert transfers_have_one_cause() == [f"transfer {reversal} (reversal, 50 points) has no cause"]


def test_a_transfer_claimed_by_a_refund_and_a_dropoff_is_reported(activity):
    """A voided drop-off's reversal also named as a cancelled redemption's refund: two causes."""
    voided, cancelled = activity.dropoffs["b1"], activity.redemptions["cancelled"]
    sql(
        "UPDATE rewards_redemption SET refund_transfer_id = %s WHERE id = %s",
        [voided.reversal_transfer_id, cancelled.pk],
    )

    assert transfers_have_one_cause() == [
        f"transfer {voided.reversal_transfer_id} (reversal, 40 points) has 2 causes: "
        f"refund of redemption {cancelled.pk}, reversal of drop-off {voided.pk}",
        f"transfer {cancelled.refund_transfer_id} (reversal, 20 points) has no cause",
    ]


def test_negative_stock_is_reported(activity):
    without("rewards_stationstock", constraint="station_stock_quantity_not_negative")
    without("rewards_stationstock", constraint="rewards_stationstock_quantity_check")  # PositiveIntegerField's
    stock = StationStock.objects.get(station=activity.first.station, reward=activity.eggs)
    StationStock.objects.filter(pk=stock.pk).update(quantity=-1)

    assert stock_not_negative() == [f"stock {stock.pk} (Four eggs at {activity.first.station.code}): quantity -1"]


def test_redemptions_without_their_stock_row_are_reported(activity):
    StationStock.objects.filter(station=activity.first.station, reward=activity.eggs).delete()

    assert redemptions_have_their_stock() == [
        f"station {activity.first.station.code}: 4 redemption(s) of Four eggs but no stock row"
    ]
