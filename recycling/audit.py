"""Recycling's checks in the ledger audit (`manage.py check_ledger`, ledger/audit.py).

Registered by RecyclingConfig.ready(). Each check is one readable SQL query over the tables
(the ledger's keep their recycling_ names) and names the rows it finds by id; together with
the ledger's own checks and rewards' they explain every transfer by its one cause. Here: the
earning transfers and the reversals of voided drop-offs, and the carton inventories.
"""

from ledger.audit import register_check, rows

from .pricing import earning_transfer_key, reversal_transfer_key

DROPOFFS_WITHOUT_THEIR_TRANSFERS = """
    SELECT d.id, d.status, d.points, d.earning_transfer_id, d.reversal_transfer_id
    FROM recycling_dropoff d
    WHERE (d.points > 0) <> (d.earning_transfer_id IS NOT NULL)
       OR (d.status = 'voided' AND d.points > 0) <> (d.reversal_transfer_id IS NOT NULL)
    ORDER BY d.id
"""


def dropoffs_have_their_transfers() -> list[str]:
    """A drop-off with points has its earning transfer, one with none has none; a voided one with
    points also has its reversal, an accepted one none."""
    return [
        f"drop-off {pk} ({status}, {points} points): earning transfer {earning or 'missing'}, "
        f"reversal {reversal or 'missing'}"
        for pk, status, points, earning, reversal in rows(DROPOFFS_WITHOUT_THEIR_TRANSFERS)
    ]


EARNINGS_THAT_DISAGREE = """
    SELECT t.id, d.id, t.amount, d.points
    FROM recycling_transfer t
    JOIN recycling_dropoff d ON d.earning_transfer_id = t.id
    JOIN recycling_member m ON m.id = d.member_id
    LEFT JOIN stations_station s ON s.id = d.station_id
    WHERE t.kind <> 'earning'
       OR t.amount <> d.points
       OR t.credit_account_id <> m.account_id
       OR t.debit_account_id IS DISTINCT FROM s.issuance_account_id
       OR t.idempotency_key <> %(earning_prefix)s || d.id || %(earning_suffix)s
    ORDER BY t.id
"""


def earning_transfers_agree_with_their_dropoffs() -> list[str]:
    """A drop-off's earning transfer is an `earning` of its points, from its station's issuance
    account to its member's account, under the drop-off's earning key."""
    prefix, suffix = earning_transfer_key(dropoff_id=0).split("0", 1)
    return [
        f"transfer {pk}: earning of drop-off {dropoff} is {amount} points from the wrong accounts, kind or key "
        f"(the drop-off has {points})"
        if amount == points
        else f"transfer {pk}: {amount} points, but its drop-off {dropoff} has {points}"
        for pk, dropoff, amount, points in rows(
            EARNINGS_THAT_DISAGREE, {"earning_prefix": prefix, "earning_suffix": suffix}
        )
    ]


REVERSALS_THAT_DISAGREE = """
    SELECT t.id, d.id
    FROM recycling_transfer t
    JOIN recycling_dropoff d ON d.reversal_transfer_id = t.id
    WHERE t.kind <> 'reversal'
       OR t.reverses_id IS DISTINCT FROM d.earning_transfer_id
       OR t.idempotency_key <> %(reversal_prefix)s || d.id || %(reversal_suffix)s
    ORDER BY t.id
"""


def dropoff_reversals_reverse_their_earning() -> list[str]:
    """A voided drop-off's reversal reverses the drop-off's own earning transfer, under its key."""
    prefix, suffix = reversal_transfer_key(dropoff_id=0).split("0", 1)
    return [
        f"transfer {pk}: the reversal of drop-off {dropoff} does not reverse its earning transfer"
        for pk, dropoff in rows(REVERSALS_THAT_DISAGREE, {"reversal_prefix": prefix, "reversal_suffix": suffix})
    ]


EARNINGS_WITHOUT_DROPOFF = """
    SELECT t.id, t.amount
    FROM recycling_transfer t
    WHERE t.kind = 'earning'
      AND NOT EXISTS (SELECT 1 FROM recycling_dropoff d WHERE d.earning_transfer_id = t.id)
    ORDER BY t.id
"""


def earning_transfers_have_a_dropoff() -> list[str]:
    """Every `earning` transfer is some drop-off's earning transfer."""
    return [
        f"transfer {pk} (earning, {amount} points) has no drop-off" for pk, amount in rows(EARNINGS_WITHOUT_DROPOFF)
    ]


INVENTORIES_THAT_DISAGREE = """
    WITH dropped AS (
        SELECT station_id, SUM(cartons) AS cartons FROM recycling_dropoff WHERE status = 'accepted' GROUP BY 1
    ), moved AS (
        SELECT station_id, SUM(cartons) AS cartons FROM recycling_cartonmovement GROUP BY 1
    )
    SELECT s.code, i.on_hand, COALESCE(d.cartons, 0), COALESCE(m.cartons, 0)
    FROM stations_station s
    LEFT JOIN recycling_cartoninventory i ON i.station_id = s.id
    LEFT JOIN dropped d ON d.station_id = s.id
    LEFT JOIN moved m ON m.station_id = s.id
    WHERE (i.id IS NOT NULL OR d.station_id IS NOT NULL OR m.station_id IS NOT NULL)
      AND COALESCE(i.on_hand, -1) <> COALESCE(d.cartons, 0) - COALESCE(m.cartons, 0)
    ORDER BY s.code
"""


def carton_inventories_match_movements() -> list[str]:
    """Cartons on hand = cartons of accepted drop-offs - cartons reused or baled, per station."""
    return [
        f"station {code}: drop-offs but no carton inventory"
        if on_hand is None
        else f"station {code}: {on_hand} cartons on hand, but {dropped} dropped off - {moved} reused or baled"
        for code, on_hand, dropped, moved in rows(INVENTORIES_THAT_DISAGREE)
    ]


def register_checks() -> None:
    register_check("drop-offs have their transfers", dropoffs_have_their_transfers)
    register_check("earning transfers agree with their drop-offs", earning_transfers_agree_with_their_dropoffs)
    register_check("drop-off reversals reverse their earning", dropoff_reversals_reverse_their_earning)
    register_check("earning transfers have a drop-off", earning_transfers_have_a_dropoff)
    register_check("carton inventories match movements", carton_inventories_match_movements)
