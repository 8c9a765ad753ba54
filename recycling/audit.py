"""Recycling's part of the ledger audit (`manage.py check_ledger`, ledger/audit.py).

Registered by RecyclingConfig.ready(): the two causes of transfers that drop-offs are (a
drop-off's earning transfer, a voided drop-off's reversal of it), and the checks that each of
those transfers agrees with its drop-off and each drop-off with its pricing, plus the carton
inventories. Each check is one readable SQL query over the tables (the ledger's keep their
recycling_ names) and names the rows it finds by id.
"""

from ledger.audit import register_cause, register_check, rows, stream

from .pricing import DropOffPrice, Earned, earning_transfer_key, price_dropoff, reversal_transfer_key

EARNING_CAUSE = "SELECT earning_transfer_id, id FROM recycling_dropoff WHERE earning_transfer_id IS NOT NULL"
REVERSAL_CAUSE = "SELECT reversal_transfer_id, id FROM recycling_dropoff WHERE reversal_transfer_id IS NOT NULL"

DROPOFFS_WITHOUT_THEIR_TRANSFERS = """
    SELECT d.id, d.status, d.points, d.earning_transfer_id, d.reversal_transfer_id
    FROM recycling_dropoff d
    WHERE (d.points > 0) <> (d.earning_transfer_id IS NOT NULL)
       OR (d.status = 'voided' AND d.points > 0) <> (d.reversal_transfer_id IS NOT NULL)
    ORDER BY d.id
"""


def dropoffs_have_their_transfers() -> list[str]:
    """A drop-off with points has its earning transfer, one with none has none; a voided one with
    points also has exactly one reversal, an accepted one none."""
    return [
        f"drop-off {pk} ({status}, {points} points): earning transfer {earning or 'missing'}, "
        f"reversal {reversal or 'missing'}"
        for pk, status, points, earning, reversal in rows(DROPOFFS_WITHOUT_THEIR_TRANSFERS)
    ]


# Each condition is named, so the violation says what disagrees.
EARNINGS_THAT_DISAGREE = """
    SELECT t.id, d.id, concat_ws('; ',
        CASE WHEN t.kind <> 'earning' THEN 'kind ' || t.kind || ', not earning' END,
        CASE WHEN t.amount <> d.points THEN t.amount || ' points, but the drop-off has ' || d.points END,
        CASE WHEN t.credit_account_id <> m.account_id
             THEN 'credits account ' || t.credit_account_id || ', not the member''s ' || m.account_id END,
        CASE WHEN t.debit_account_id IS DISTINCT FROM s.issuance_account_id
             THEN 'debits account ' || t.debit_account_id || ', not the station''s issuance account '
                  || COALESCE(s.issuance_account_id::text, '(none)') END,
        CASE WHEN t.idempotency_key <> %(key_prefix)s || d.id || %(key_suffix)s
             THEN 'key ' || t.idempotency_key END
    )
    FROM recycling_dropoff d
    JOIN recycling_transfer t ON t.id = d.earning_transfer_id
    JOIN recycling_member m ON m.id = d.member_id
    JOIN stations_station s ON s.id = d.station_id
    WHERE t.kind <> 'earning'
       OR t.amount <> d.points
       OR t.credit_account_id <> m.account_id
       OR t.debit_account_id IS DISTINCT FROM s.issuance_account_id
       OR t.idempotency_key <> %(key_prefix)s || d.id || %(key_suffix)s
    ORDER BY t.id
"""


def earning_transfers_agree_with_their_dropoffs() -> list[str]:
    """A drop-off's earning transfer is an `earning` of exactly its points, from its station's
    issuance account to its member's account, under the drop-off's earning key."""
    return [
        f"transfer {pk} (earning of drop-off {dropoff}): {what}"
        for pk, dropoff, what in rows(EARNINGS_THAT_DISAGREE, _key_parts(earning_transfer_key))
    ]


REVERSALS_THAT_DISAGREE = """
    SELECT r.id, d.id, concat_ws('; ',
        CASE WHEN r.kind <> 'reversal' THEN 'kind ' || r.kind || ', not reversal' END,
        CASE WHEN r.reverses_id IS DISTINCT FROM d.earning_transfer_id
             THEN 'reverses transfer ' || COALESCE(r.reverses_id::text, '(none)') || ', not the earning '
                  || COALESCE(d.earning_transfer_id::text, '(none)') END,
        CASE WHEN r.amount <> e.amount THEN r.amount || ' points, but the earning has ' || e.amount END,
        CASE WHEN r.debit_account_id <> e.credit_account_id OR r.credit_account_id <> e.debit_account_id
             THEN 'moves account ' || r.debit_account_id || ' to ' || r.credit_account_id
                  || ', not back from ' || e.credit_account_id || ' to ' || e.debit_account_id END,
        CASE WHEN r.idempotency_key <> %(key_prefix)s || d.id || %(key_suffix)s
             THEN 'key ' || r.idempotency_key END
    )
    FROM recycling_dropoff d
    JOIN recycling_transfer r ON r.id = d.reversal_transfer_id
    LEFT JOIN recycling_transfer e ON e.id = d.earning_transfer_id
    WHERE r.kind <> 'reversal'
       OR r.reverses_id IS DISTINCT FROM d.earning_transfer_id
       OR r.amount <> e.amount
       OR r.debit_account_id <> e.credit_account_id
       OR r.credit_account_id <> e.debit_account_id
       OR r.idempotency_key <> %(key_prefix)s || d.id || %(key_suffix)s
    ORDER BY r.id
"""


def dropoff_reversals_undo_their_earning() -> list[str]:
    """A voided drop-off's reversal reverses that drop-off's own earning transfer: the same
    amount between the same accounts the other way, under the drop-off's reversal key."""
    return [
        f"transfer {pk} (reversal of drop-off {dropoff}): {what}"
        for pk, dropoff, what in rows(REVERSALS_THAT_DISAGREE, _key_parts(reversal_transfer_key))
    ]


# What a drop-off's price was computed from: its cartons, its rule's terms, and the cartons of
# the member that earned points earlier in the same Shanghai day, ISO week and calendar month
# (the caps' periods are those of the drop-off's time). "Earlier" is recording order:
# drop-offs of one member are recorded one at a time (the member's account lock), so in id
# order. An earlier drop-off since voided may or may not have counted (it did if it was voided
# after this one was priced, and the rows do not record which came first), so each period's
# earlier earning cartons are a range: those still accepted, up to those plus the voided ones.
# Exact whenever the member voided nothing in the period.
DROPOFF_PRICING = """
    SELECT id, cartons, earning_cartons, points, points_per_carton, daily_carton_cap, weekly_carton_cap,
           monthly_carton_cap,
           COALESCE(SUM(earning_cartons) FILTER (WHERE status = 'accepted') OVER earlier_day, 0),
           COALESCE(SUM(earning_cartons) OVER earlier_day, 0),
           COALESCE(SUM(earning_cartons) FILTER (WHERE status = 'accepted') OVER earlier_week, 0),
           COALESCE(SUM(earning_cartons) OVER earlier_week, 0),
           COALESCE(SUM(earning_cartons) FILTER (WHERE status = 'accepted') OVER earlier_month, 0),
           COALESCE(SUM(earning_cartons) OVER earlier_month, 0)
    FROM (
        SELECT d.id, d.member_id, d.cartons, d.earning_cartons, d.points, d.status, r.points_per_carton,
               r.daily_carton_cap, r.weekly_carton_cap, r.monthly_carton_cap,
               (d.occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
               date_trunc('week', d.occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS week,
               date_trunc('month', d.occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS month
        FROM recycling_dropoff d JOIN recycling_earningrule r ON r.id = d.rule_id
    ) dropoffs
    WINDOW earlier_day AS (PARTITION BY member_id, day ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
           earlier_week AS (PARTITION BY member_id, week ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
           earlier_month AS (PARTITION BY member_id, month ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    ORDER BY id
"""


class _Terms:
    __slots__ = ("daily_carton_cap", "monthly_carton_cap", "points_per_carton", "weekly_carton_cap")

    def __init__(self, points_per_carton: int, daily: int, weekly: int | None, monthly: int | None):
        self.points_per_carton, self.daily_carton_cap = points_per_carton, daily
        self.weekly_carton_cap, self.monthly_carton_cap = weekly, monthly


def _possible_before(cap: int | None, earning: int, accepted: int, any_: int) -> set[int]:
    """The earlier earning cartons of one period to try: both ends of its range, and the one in
    the range that would leave exactly `earning` under the cap."""
    if cap is None:
        return {accepted}
    return {accepted, any_, min(max(cap - earning, accepted), any_)}


def dropoff_points_equal_their_pricing() -> list[str]:
    """A drop-off's earning cartons and points are what recycling.pricing.price_dropoff() gives
    for its cartons, its rule and the member's earlier earning cartons in its day, week and
    month: the one pricing function, the same that record_dropoff() and the simulator use."""
    wrong = []
    for row in stream(DROPOFF_PRICING):
        pk, cartons, earning, points, per_carton, daily, weekly, monthly = row[:8]
        day_accepted, day_any, week_accepted, week_any, month_accepted, month_any = row[8:]
        terms = _Terms(per_carton, daily, weekly, monthly)
        priced = {
            price_dropoff(cartons=cartons, earned_before=Earned(day=d, week=w, month=m), rule=terms)
            for d in _possible_before(daily, earning, day_accepted, day_any)
            for w in _possible_before(weekly, earning, week_accepted, week_any)
            for m in _possible_before(monthly, earning, month_accepted, month_any)
        }
        if DropOffPrice(earning_cartons=earning, points=points) not in priced:
            accepted = Earned(day=day_accepted, week=week_accepted, month=month_accepted)
            expected = price_dropoff(cartons=cartons, earned_before=accepted, rule=terms)
            terms_said = [f"{day_accepted} earlier earning cartons that day, a cap of {daily}"]
            if weekly is not None:
                terms_said.append(f"{week_accepted} that week, a weekly cap of {weekly}")
            if monthly is not None:
                terms_said.append(f"{month_accepted} that month, a monthly cap of {monthly}")
            wrong.append(
                f"drop-off {pk}: {earning} of {cartons} cartons earning {points} points, but its pricing gives "
                f"{expected.earning_cartons} earning {expected.points} points "
                f"({', '.join(terms_said)}, {per_carton} points a carton)"
            )
    return wrong


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


def _key_parts(key_format) -> dict[str, str]:
    """The text around the drop-off id in a key format of recycling.pricing, for the SQL."""
    prefix, suffix = key_format(dropoff_id=0).split("0", 1)
    return {"key_prefix": prefix, "key_suffix": suffix}


def register_checks() -> None:
    register_cause("earning of drop-off", EARNING_CAUSE)
    register_cause("reversal of drop-off", REVERSAL_CAUSE)
    register_check("drop-offs have their transfers", dropoffs_have_their_transfers)
    register_check("earning transfers agree with their drop-offs", earning_transfers_agree_with_their_dropoffs)
    register_check("drop-off reversals undo their earning", dropoff_reversals_undo_their_earning)
    register_check("drop-off points equal their pricing", dropoff_points_equal_their_pricing)
    register_check("carton inventories match movements", carton_inventories_match_movements)
