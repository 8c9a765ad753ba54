"""The audit explains every earning and reversal by its drop-off: each kind of corruption,
planted with raw SQL past the services, is named by id."""

import pytest
from django.db.models import F

from ledger.audit import transfers_have_one_cause
from ledger.models import Account, Transfer
from recycling.audit import (
    dropoff_points_equal_their_pricing,
    dropoff_reversals_undo_their_earning,
    dropoffs_have_their_transfers,
    earning_transfers_agree_with_their_dropoffs,
)
from recycling.models import DropOff
from tests.factories import DropOffFactory, StationStaffFactory

from .conftest import check_ledger_failing, post_raw, sql, violations_naming, without

pytestmark = pytest.mark.django_db


def issuer_of(station) -> Account:
    return Account.objects.get(station=station)


def test_an_earning_without_a_dropoff_is_reported_though_the_balances_match(activity):
    """The issue's example: an `earning` transfer with no drop-off behind it, the balances moved
    to match. The ledger's sums hold; the transfer has no cause, and the command says so."""
    forged = post_raw(
        debit=issuer_of(activity.first.station).pk,
        credit=activity.bob.account.pk,
        amount=500,
        kind="earning",
        key="forged-earning",
    )

    output, error = check_ledger_failing()

    assert "ok    cached balances match transfers" in output
    assert "ok    balances sum to zero" in output
    assert "FAIL  every transfer has exactly one cause: 1 violation(s)" in output
    assert f"transfer {forged} (earning, 500 points) has no cause" in output
    assert "check_ledger found 1 violation(s)." in str(error)


def test_a_dropoff_without_its_earning_transfer_is_reported(activity):
    """A drop-off with points but no earning transfer is named by the drop-off check."""
    orphan = DropOffFactory(
        station=activity.first.station, member=activity.bob, cartons=3, earning_cartons=3, points=30
    )

    assert dropoffs_have_their_transfers() == [
        f"drop-off {orphan.pk} (accepted, 30 points): earning transfer missing, reversal missing"
    ]


def test_a_voided_dropoff_without_its_reversal_is_reported(activity):
    """Marking a drop-off voided without posting the reversal is named by the drop-off check."""
    dropoff = activity.dropoffs["a1"]
    DropOff.objects.filter(pk=dropoff.pk).update(
        status=DropOff.Status.VOIDED, voided_by=activity.first.user, voided_at=dropoff.occurred_at, void_reason="x"
    )

    assert dropoffs_have_their_transfers() == [
        f"drop-off {dropoff.pk} (voided, 150 points): earning transfer {dropoff.earning_transfer_id}, reversal missing"
    ]


def test_an_earning_that_credits_another_member_is_reported(activity):
    """The drop-off's earning transfer swapped for one to another member's account (balances
    moved to match): the earning is named for its wrong account, and the first one as causeless."""
    dropoff = activity.dropoffs["b2"]
    wrong = post_raw(
        debit=issuer_of(activity.first.station).pk,
        credit=activity.alice.account.pk,
        amount=40,
        kind="earning",
        key=f"dropoff:{dropoff.pk}:earning-again",
    )
    sql("UPDATE recycling_dropoff SET earning_transfer_id = %s WHERE id = %s", [wrong, dropoff.pk])

    assert earning_transfers_agree_with_their_dropoffs() == [
        f"transfer {wrong} (earning of drop-off {dropoff.pk}): credits account {activity.alice.account.pk}, "
        f"not the member's {activity.bob.account.pk}; key dropoff:{dropoff.pk}:earning-again"
    ]
    assert transfers_have_one_cause() == [f"transfer {dropoff.earning_transfer_id} (earning, 40 points) has no cause"]


def test_an_earning_issued_by_another_station_is_reported(activity):
    """Points credited to the right member but from another station's issuance account."""
    dropoff = activity.dropoffs["a1"]
    other = StationStaffFactory().station
    without("recycling_transfer", trigger="recycling_transfer_append_only")
    sql(
        "UPDATE recycling_transfer SET debit_account_id = %s WHERE id = %s",
        [_new_issuer(other), dropoff.earning_transfer_id],
    )

    found = earning_transfers_agree_with_their_dropoffs()

    assert len(found) == 1
    assert found[0].startswith(f"transfer {dropoff.earning_transfer_id} (earning of drop-off {dropoff.pk}): debits")
    assert f"not the station's issuance account {issuer_of(activity.first.station).pk}" in found[0]


def _new_issuer(station) -> int:
    from django.db import transaction

    from recycling.ledger import issuance_account

    with transaction.atomic():
        return issuance_account(station=station).pk


def test_a_dropoff_whose_points_changed_is_reported(activity):
    """A drop-off whose points no longer equal its earning transfer (nor its pricing) is named
    by both checks."""
    dropoff = activity.dropoffs["a2"]
    DropOff.objects.filter(pk=dropoff.pk).update(points=60)

    assert earning_transfers_agree_with_their_dropoffs() == [
        f"transfer {dropoff.earning_transfer_id} (earning of drop-off {dropoff.pk}): 50 points, but the drop-off has 60"
    ]
    assert dropoff_points_equal_their_pricing() == [
        f"drop-off {dropoff.pk}: 5 of 10 cartons earning 60 points, but its pricing gives 5 earning 50 points "
        "(15 earlier earning cartons that day, a cap of 20, 10 points a carton)"
    ]


def test_a_dropoff_priced_over_the_cap_is_reported_though_its_transfer_matches(activity):
    """Drop-off, transfer and balances all say 10 earning cartons and 100 points, consistently;
    but alice had 15 earning cartons that day under a cap of 20: her pricing gives 5 and 50."""
    dropoff = activity.dropoffs["a2"]
    without("recycling_transfer", trigger="recycling_transfer_append_only")
    DropOff.objects.filter(pk=dropoff.pk).update(earning_cartons=10, points=100)
    sql("UPDATE recycling_transfer SET amount = 100 WHERE id = %s", [dropoff.earning_transfer_id])
    Account.objects.filter(pk=activity.alice.account.pk).update(balance=F("balance") + 50)
    Account.objects.filter(station=activity.second.station).update(balance=F("balance") - 50)

    assert violations_naming(f"drop-off {dropoff.pk}") == [
        f"drop-off {dropoff.pk}: 10 of 10 cartons earning 100 points, but its pricing gives 5 earning 50 points "
        "(15 earlier earning cartons that day, a cap of 20, 10 points a carton)"
    ]
    assert len(violations_naming("")) == 1  # nothing else is wrong


def test_a_capped_dropoff_that_earned_nothing_is_clean(activity):
    """Beyond the cap, a drop-off earns 0 and has no transfer, and that is correct; so is one
    priced before a since-voided drop-off of the same member was voided."""
    assert activity.dropoffs["a3"].points == 0 and activity.dropoffs["a3"].earning_transfer_id is None
    assert activity.dropoffs["b2"].points == 40  # priced after b1 was voided: 4 cartons earn again
    assert dropoff_points_equal_their_pricing() == []


def test_a_reversal_of_another_transfer_is_reported(activity):
    """A voided drop-off pointing at a reversal of some other transfer (posted to match): named
    by the reversal check, and the drop-off's real reversal is then causeless."""
    voided = activity.dropoffs["b1"]
    other = activity.dropoffs["b2"]
    bogus = post_raw(
        debit=activity.bob.account.pk,
        credit=issuer_of(activity.first.station).pk,
        amount=40,
        kind="reversal",
        key=f"dropoff:{voided.pk}:reversal-again",
        reverses=other.earning_transfer_id,
    )
    sql("UPDATE recycling_dropoff SET reversal_transfer_id = %s WHERE id = %s", [bogus, voided.pk])

    found = dropoff_reversals_undo_their_earning()

    assert found == [
        f"transfer {bogus} (reversal of drop-off {voided.pk}): reverses transfer {other.earning_transfer_id}, "
        f"not the earning {voided.earning_transfer_id}; key dropoff:{voided.pk}:reversal-again"
    ]
    assert transfers_have_one_cause() == [f"transfer {voided.reversal_transfer_id} (reversal, 40 points) has no cause"]


def test_a_reversal_of_the_wrong_amount_is_reported(activity):
    """A reversal that gives back less than the earning took is named."""
    voided = activity.dropoffs["b1"]
    without("recycling_transfer", trigger="recycling_transfer_append_only")
    sql("UPDATE recycling_transfer SET amount = 30 WHERE id = %s", [voided.reversal_transfer_id])

    assert dropoff_reversals_undo_their_earning() == [
        f"transfer {voided.reversal_transfer_id} (reversal of drop-off {voided.pk}): 30 points, but the earning has 40"
    ]


def test_a_transfer_claimed_by_two_dropoffs_is_reported(activity):
    """One transfer as a drop-off's earning and another's reversal: two causes, both named."""
    a1, b1 = activity.dropoffs["a1"], activity.dropoffs["b1"]
    sql("UPDATE recycling_dropoff SET reversal_transfer_id = NULL WHERE id = %s", [b1.pk])
    sql("UPDATE recycling_dropoff SET reversal_transfer_id = %s WHERE id = %s", [a1.earning_transfer_id, b1.pk])

    assert (
        f"transfer {a1.earning_transfer_id} (earning, 150 points) has 2 causes: "
        f"earning of drop-off {a1.pk}, reversal of drop-off {b1.pk}"
    ) in transfers_have_one_cause()
    assert f"transfer {b1.reversal_transfer_id} (reversal, 40 points) has no cause" in transfers_have_one_cause()


def test_every_kind_of_transfer_without_its_row_is_reported(activity):
    """No transfer without a cause, of any kind: one forged of each kind is named."""
    member, reward = activity.alice.account.pk, activity.eggs.account_id
    issuer = issuer_of(activity.first.station).pk
    forged = {
        "earning": post_raw(debit=issuer, credit=member, amount=5, kind="earning", key="f-e"),
        "redemption": post_raw(debit=member, credit=reward, amount=5, kind="redemption", key="f-r"),
        "donation": post_raw(debit=member, credit=activity.campaign.account_id, amount=5, kind="donation", key="f-d"),
    }
    forged["reversal"] = post_raw(debit=reward, credit=member, amount=5, kind="reversal", key="f-v",
                                  reverses=forged["redemption"])  # fmt: skip

    assert transfers_have_one_cause() == [
        f"transfer {pk} ({kind}, 5 points) has no cause" for kind, pk in sorted(forged.items(), key=lambda i: i[1])
    ]
    assert Transfer.objects.count() > len(forged)


@pytest.mark.usefixtures("any_past_time")
def test_a_dropoff_priced_over_the_weekly_cap_is_reported():
    """Under a weekly cap of 30 the second 20 cartons of the week earn 10; stored as 20 earning
    (200 points), the pricing check names the week's earlier cartons and the cap."""
    from datetime import UTC, datetime

    from recycling.services import record_dropoff
    from tests.factories import EarningRuleFactory, MemberFactory

    EarningRuleFactory(daily_carton_cap=20, weekly_carton_cap=30)
    staff, member = StationStaffFactory(), MemberFactory()
    for n, day in enumerate((1, 2)):  # Tuesday and Wednesday, 1 and 2 November 2022
        record_dropoff(
            station=staff.station,
            member_code=member.code,
            cartons=20,
            staff=staff.user,
            idempotency_key=f"w{n}",
            occurred_at=datetime(2022, 11, day, 4, tzinfo=UTC),
        )
    second = DropOff.objects.order_by("pk").last()
    assert (second.earning_cartons, second.points) == (10, 100)
    assert dropoff_points_equal_their_pricing() == []

    DropOff.objects.filter(pk=second.pk).update(earning_cartons=20, points=200)

    assert dropoff_points_equal_their_pricing() == [
        f"drop-off {second.pk}: 20 of 20 cartons earning 200 points, but its pricing gives 10 earning 100 points "
        "(0 earlier earning cartons that day, a cap of 20, 20 that week, a weekly cap of 30, 10 points a carton)"
    ]
