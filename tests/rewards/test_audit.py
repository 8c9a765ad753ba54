"""The rewards checks of the ledger audit: clean after real operations, and each one naming the
violation it exists for (built by writing past the services)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F

from ledger.audit import ledger_violations, registered_checks
from ledger.models import Account, Transfer
from ledger.services import lock_accounts, post_transfer
from rewards import audit, services
from rewards.models import Donation, Redemption, StationStock

from .conftest import NOW


@pytest.fixture
def activity(desk):
    """One reservation of each status and one donation, all through the services."""
    made = {}
    for status in ("reserved", "collected", "cancelled", "expired"):
        made[status] = services.reserve_reward(
            member=desk.member,
            reward=desk.tote,
            station=desk.station,
            quantity=1,
            idempotency_key=status,
            now=NOW - timedelta(days=10) if status == "expired" else NOW,
        ).redemption
    services.collect_redemption(
        redemption_id=made["collected"].pk, pickup_code=made["collected"].pickup_code, staff=desk.staff, now=NOW
    )
    services.cancel_redemption(redemption_id=made["cancelled"].pk, member=desk.member, now=NOW)
    assert services.expire_reservations(now=NOW) == 1
    services.donate(member=desk.member, campaign=desk.campaign, notebooks=1, idempotency_key="d", now=NOW)
    return made


@pytest.mark.django_db
def test_rewards_checks_are_registered_and_clean_after_real_operations(activity):
    """RewardsConfig.ready() registers every rewards check, and they find nothing after
    reservations of every status and a donation; check_ledger reports them ok."""
    checks = registered_checks()
    for name, check in [
        ("redemptions have their transfers", audit.redemptions_have_their_transfers),
        ("donations have their transfers", audit.donations_have_their_transfers),
        ("no negative stock", audit.stock_not_negative),
    ]:
        assert checks[name] is check
    assert ledger_violations() == []
    out = StringIO()
    call_command("check_ledger", stdout=out)
    assert "ok    campaign balances match donations" in out.getvalue()


@pytest.mark.django_db
def test_a_cancelled_redemption_without_its_reversal_is_reported(activity):
    """A reservation marked cancelled without a refund is named by redemptions_have_their_transfers
    (and the reward account no longer matches its open redemptions)."""
    redemption = activity["reserved"]
    Redemption.objects.filter(pk=redemption.pk).update(status="cancelled", ended_at=NOW)

    assert [f"redemption {redemption.pk} (cancelled" in v for v in audit.redemptions_have_their_transfers()] == [True]
    assert len(audit.reward_balances_match_redemptions()) == 1


@pytest.mark.django_db
def test_a_reserved_redemption_with_a_reversal_is_reported(activity):
    """A refunded reservation put back to `reserved` is reported: it must have no reversal. (The
    database refuses it too: its CHECK is dropped inside the test's transaction.)"""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE needs no deferred checks pending
        cursor.execute("ALTER TABLE rewards_redemption DROP CONSTRAINT redemption_refund_only_when_ended")
    Redemption.objects.filter(pk=activity["cancelled"].pk).update(status="reserved", ended_at=None)

    assert len(audit.redemptions_have_their_transfers()) == 1


@pytest.mark.django_db
def test_a_campaign_balance_that_differs_from_its_donations_is_reported(activity, desk):
    """A donation whose points no longer match its transfer and campaign balance is reported by
    both the donation and the campaign checks."""
    Donation.objects.update(points=F("points") + 1)

    assert len(audit.donations_have_their_transfers()) == 1
    assert [v.startswith(f"campaign {desk.campaign.pk} ") for v in audit.campaign_balances_match_donations()] == [True]


@pytest.mark.django_db
def test_a_spending_transfer_without_its_record_is_reported(desk):
    """A `redemption` transfer posted past the services (no Redemption) is an orphan."""
    with transaction.atomic():
        locked = lock_accounts(desk.member.account, desk.eggs.account)
        orphan = post_transfer(
            debit=locked[desk.member.account.pk],
            credit=locked[desk.eggs.account_id],
            amount=20,
            kind=Transfer.Kind.REDEMPTION,
            idempotency_key="orphan",
        )

    assert audit.spending_transfers_have_their_records() == [
        f"transfer {orphan.pk} (redemption, 20 points) has no redemption record"
    ]


@pytest.mark.django_db
def test_negative_stock_is_reported(desk):
    """With its CHECK constraints dropped (inside the test's transaction), a negative stock row
    is named by stock_not_negative."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # run the deferred FK checks: ALTER needs none pending
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'rewards_stationstock'::regclass AND contype = 'c'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE rewards_stationstock DROP CONSTRAINT "{name}"')
    stock = StationStock.objects.get(station=desk.station, reward=desk.eggs)
    StationStock.objects.filter(pk=stock.pk).update(quantity=-1)

    assert audit.stock_not_negative() == [f"stock {stock.pk} (Four eggs at {desk.station.code}): quantity -1"]
    assert Account.objects.exists()  # the rest of the database is untouched
