"""Rewards' checks in the ledger audit (`manage.py check_ledger`, ledger/audit.py).

Registered by RewardsConfig.ready(). Like recycling/audit.py: each check is one readable SQL
query naming the rows it finds by id; here the redemption debits and refunds, the donations,
the reward and campaign accounts, and stock.
"""

from ledger.audit import register_check, rows

REDEMPTIONS_THAT_DISAGREE = """
    SELECT r.id, r.status, r.points, r.transfer_id, r.refund_transfer_id
    FROM rewards_redemption r
    JOIN recycling_member m ON m.id = r.member_id
    JOIN rewards_reward w ON w.id = r.reward_id
    JOIN recycling_transfer t ON t.id = r.transfer_id
    LEFT JOIN recycling_transfer f ON f.id = r.refund_transfer_id
    WHERE t.kind <> 'redemption'
       OR t.amount <> r.points
       OR t.debit_account_id <> m.account_id
       OR t.credit_account_id <> w.account_id
       OR (r.status IN ('reserved', 'collected')) <> (r.refund_transfer_id IS NULL)
       OR f.kind <> 'reversal'
       OR f.reverses_id <> r.transfer_id
    ORDER BY r.id
"""


def redemptions_have_their_transfers() -> list[str]:
    """A redemption's debit is a `redemption` transfer of exactly its points from its member's
    account to its reward's account; a reserved or collected one has no refund, a cancelled or
    expired one its refund: the reversal of that debit."""
    return [
        f"redemption {pk} ({status}, {points} points): debit transfer {transfer} does not match it "
        f"or refund {refund or 'missing'} is wrong"
        for pk, status, points, transfer, refund in rows(REDEMPTIONS_THAT_DISAGREE)
    ]


DONATIONS_THAT_DISAGREE = """
    SELECT n.id, n.points, n.transfer_id
    FROM rewards_donation n
    JOIN recycling_member m ON m.id = n.member_id
    JOIN rewards_donationcampaign c ON c.id = n.campaign_id
    JOIN recycling_transfer t ON t.id = n.transfer_id
    WHERE t.kind <> 'donation'
       OR t.amount <> n.points
       OR t.debit_account_id <> m.account_id
       OR t.credit_account_id <> c.account_id
       OR EXISTS (SELECT 1 FROM recycling_transfer x WHERE x.reverses_id = t.id)
    ORDER BY n.id
"""


def donations_have_their_transfers() -> list[str]:
    """A donation's transfer is a `donation` of exactly its points from its member's account to
    its campaign's account, never reversed."""
    return [
        f"donation {pk} ({points} points): transfer {transfer} does not match it"
        for pk, points, transfer in rows(DONATIONS_THAT_DISAGREE)
    ]


SPENDING_WITHOUT_RECORD = """
    SELECT t.id, t.kind, t.amount
    FROM recycling_transfer t
    WHERE (t.kind = 'redemption' AND NOT EXISTS (SELECT 1 FROM rewards_redemption r WHERE r.transfer_id = t.id))
       OR (t.kind = 'donation' AND NOT EXISTS (SELECT 1 FROM rewards_donation n WHERE n.transfer_id = t.id))
    ORDER BY t.id
"""


def spending_transfers_have_their_records() -> list[str]:
    """Every `redemption` transfer belongs to a redemption and every `donation` transfer to a donation."""
    return [
        f"transfer {pk} ({kind}, {amount} points) has no {kind} record"
        for pk, kind, amount in rows(SPENDING_WITHOUT_RECORD)
    ]


CAMPAIGN_BALANCES = """
    SELECT c.id, c.title, a.balance, COALESCE(SUM(n.points), 0) AS donated
    FROM rewards_donationcampaign c
    JOIN recycling_account a ON a.id = c.account_id
    LEFT JOIN rewards_donation n ON n.campaign_id = c.id
    GROUP BY c.id, c.title, a.balance
    HAVING a.balance <> COALESCE(SUM(n.points), 0)
    ORDER BY c.id
"""


def campaign_balances_match_donations() -> list[str]:
    """A campaign account's balance is the sum of the campaign's donations."""
    return [
        f"campaign {pk} ({title}): account balance {balance}, but donations sum to {donated}"
        for pk, title, balance, donated in rows(CAMPAIGN_BALANCES)
    ]


REWARD_BALANCES = """
    SELECT w.id, w.name, a.balance, COALESCE(SUM(r.points) FILTER (WHERE r.status IN ('reserved', 'collected')), 0)
    FROM rewards_reward w
    JOIN recycling_account a ON a.id = w.account_id
    LEFT JOIN rewards_redemption r ON r.reward_id = w.id
    GROUP BY w.id, w.name, a.balance
    HAVING a.balance <> COALESCE(SUM(r.points) FILTER (WHERE r.status IN ('reserved', 'collected')), 0)
    ORDER BY w.id
"""


def reward_balances_match_redemptions() -> list[str]:
    """A reward account's balance is the points of its reserved and collected redemptions."""
    return [
        f"reward {pk} ({name}): account balance {balance}, but open redemptions hold {spent} points"
        for pk, name, balance, spent in rows(REWARD_BALANCES)
    ]


NEGATIVE_STOCK = """
    SELECT k.id, s.code, w.name, k.quantity
    FROM rewards_stationstock k
    JOIN stations_station s ON s.id = k.station_id
    JOIN rewards_reward w ON w.id = k.reward_id
    WHERE k.quantity < 0
    ORDER BY k.id
"""


def stock_not_negative() -> list[str]:
    return [
        f"stock {pk} ({reward} at {station}): quantity {quantity}"
        for pk, station, reward, quantity in rows(NEGATIVE_STOCK)
    ]


def register_checks() -> None:
    register_check("redemptions have their transfers", redemptions_have_their_transfers)
    register_check("donations have their transfers", donations_have_their_transfers)
    register_check("spending transfers have their records", spending_transfers_have_their_records)
    register_check("campaign balances match donations", campaign_balances_match_donations)
    register_check("reward balances match redemptions", reward_balances_match_redemptions)
    register_check("no negative stock", stock_not_negative)
