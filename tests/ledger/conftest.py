"""Shared set-up for the ledger audit tests: normal activity through the services, and the raw
SQL that plants each kind of corruption past them (the tests' transaction rolls it all back)."""

from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ledger.audit import ledger_violations
from recycling.services import record_dropoff, void_dropoff
from rewards import services as rewards
from tests.factories import (
    DonationCampaignFactory,
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    StationStaffFactory,
    StationStockFactory,
)
from tests.rewards.conftest import NOW


def check_ledger() -> str:
    out = StringIO()
    call_command("check_ledger", stdout=out)
    return out.getvalue()


def check_ledger_failing() -> tuple[str, CommandError]:
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("check_ledger", stdout=out)
    return out.getvalue(), failed.value


def sql(statement: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def post_raw(*, debit: int, credit: int, amount: int, kind: str, key: str, reverses: int | None = None) -> int:
    """Insert a transfer past the services and move both cached balances to match, as a
    consistent-looking forgery would: the ledger's own sums stay right."""
    ((pk,),) = sql(
        "INSERT INTO recycling_transfer (debit_account_id, credit_account_id, amount, kind, idempotency_key,"
        " created_at, reverses_id) VALUES (%s, %s, %s, %s, %s, now(), %s) RETURNING id",
        [debit, credit, amount, kind, key, reverses],
    )
    sql("UPDATE recycling_account SET balance = balance - %s WHERE id = %s", [amount, debit])
    sql("UPDATE recycling_account SET balance = balance + %s WHERE id = %s", [amount, credit])
    return pk


def without(table: str, *, constraint: str | None = None, trigger: str | None = None) -> None:
    """Lift a CHECK constraint or the append-only trigger for the rest of the test, to build a
    state only a broken database has (DDL is transactional: the test's rollback restores it)."""
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending deferred checks
    if constraint:
        sql(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"')
    if trigger:
        sql(f'ALTER TABLE {table} DISABLE TRIGGER "{trigger}"')
    sql("SET CONSTRAINTS ALL DEFERRED")


def violations_naming(text: str) -> list[str]:
    return [violation for violation in ledger_violations() if text in violation]


@pytest.fixture
def activity(db):
    """Normal activity through the services: two members at two stations, one drop-off beyond
    the cap, one voided, one with 0 points; a reservation of each status and a donation."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    first, second = StationStaffFactory(), StationStaffFactory()
    alice, bob = MemberFactory(), MemberFactory()

    def drop(desk, member, cartons, key):
        return record_dropoff(
            station=desk.station, member_code=member.code, cartons=cartons, staff=desk.user, idempotency_key=key
        ).dropoff

    dropoffs = {
        "a1": drop(first, alice, 15, "a1"),  # 150 points
        "a2": drop(second, alice, 10, "a2"),  # 5 within the cap: 50 points
        "a3": drop(first, alice, 2, "a3"),  # beyond the cap: 0 points, no transfer
        "b1": drop(first, bob, 4, "b1"),  # voided below
        "b2": drop(first, bob, 4, "b2"),  # 40 points
    }
    void_dropoff(dropoff_id=dropoffs["b1"].pk, staff=first.user, reason="wrong member")
    eggs = RewardFactory(name="Four eggs", name_zh="四个鸡蛋", points_cost=20)
    StationStockFactory(station=first.station, reward=eggs, quantity=10)
    campaign = DonationCampaignFactory(points_per_notebook=50)
    redemptions = {}
    for status in ("reserved", "collected", "cancelled", "expired"):
        redemptions[status] = rewards.reserve_reward(
            member=alice,
            reward=eggs,
            station=first.station,
            quantity=1,
            idempotency_key=status,
            now=NOW - timedelta(days=10) if status == "expired" else NOW,
        ).redemption
    rewards.collect_redemption(
        redemption_id=redemptions["collected"].pk,
        pickup_code=redemptions["collected"].pickup_code,
        staff=first.user,
        now=NOW,
    )
    rewards.cancel_redemption(redemption_id=redemptions["cancelled"].pk, member=alice, now=NOW)
    assert rewards.expire_reservations(now=NOW) == 1
    donation = rewards.donate(member=alice, campaign=campaign, notebooks=1, idempotency_key="d", now=NOW).donation
    for row in (*dropoffs.values(), *redemptions.values()):
        row.refresh_from_db()
    return SimpleNamespace(
        alice=alice,
        bob=bob,
        first=first,
        second=second,
        dropoffs=dropoffs,
        eggs=eggs,
        campaign=campaign,
        redemptions=redemptions,
        donation=donation,
    )
