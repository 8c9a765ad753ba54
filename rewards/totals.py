"""What rewards adds to the daily totals: the points spent at each station.

recycling/totals.py computes the daily totals but sits below this app, so it cannot read
redemptions and donations itself; rewards registers this SELECT with it (RewardsConfig.ready).
Redemptions count at their pickup station, donations at the donor's station (recorded on the
row); a reservation refunded by cancellation or expiry counts nowhere.
"""

from recycling.totals import register_spending_sql

SPENDING_SQL = """
        SELECT r.station_id, t.amount AS points_redeemed, 0 AS points_donated
        FROM rewards_redemption r JOIN recycling_transfer t ON t.id = r.transfer_id
        WHERE r.refund_transfer_id IS NULL AND t.created_at >= %(start)s AND t.created_at < %(end)s
        UNION ALL
        SELECT n.station_id, 0, t.amount
        FROM rewards_donation n JOIN recycling_transfer t ON t.id = n.transfer_id
        WHERE n.station_id IS NOT NULL AND t.created_at >= %(start)s AND t.created_at < %(end)s
"""


def register_spending() -> None:
    register_spending_sql(SPENDING_SQL)
