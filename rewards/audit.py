"""Rewards' part of the ledger audit (`manage.py check_ledger`, ledger/audit.py).

Registered by RewardsConfig.ready(): the causes of transfers that redemptions (their debit and
refund) and donations are, and the checks that each agrees with its transfers, that reward and
campaign accounts hold what their rows say, and stock. Like recycling/audit.py: each check is
one readable SQL query naming the rows it finds by id.
"""

from ledger.audit import register_cause, register_check, rows

DEBIT_CAUSE = "SELECT transfer_id, id FROM rewards_redemption"
REFUND_CAUSE = "SELECT refund_transfer_id, id FROM rewards_redemption WHERE refund_transfer_id IS NOT NULL"
DONATION_CAUSE = "SELECT transfer_id, id FROM rewards_donation"

# The price a row was charged at: a reward's points_cost (a campaign's points_per_notebook) when
# it was reserved (donated). A new price applies to later rows only, and the audit log records
# each change's new value: the price then is the last change before the row, or, with no change
# before it, the current price if none came after either. Otherwise (only changes after it) the
# first price is not recorded anywhere, and only "points are a whole multiple" is checked.
PRICE_THEN = """
    COALESCE(
        (SELECT (e.details -> 'changed' ->> '{field}')::bigint FROM audit_auditevent e
         WHERE e.action = 'catalog_changed' AND e.target_type_id = {content_type} AND e.target_id = {item}::text
           AND e.details -> 'changed' ? '{field}' AND e.at <= {at}
         ORDER BY e.at DESC, e.id DESC LIMIT 1),
        CASE WHEN NOT EXISTS (
            SELECT 1 FROM audit_auditevent e
            WHERE e.action = 'catalog_changed' AND e.target_type_id = {content_type} AND e.target_id = {item}::text
              AND e.details -> 'changed' ? '{field}' AND e.at > {at}
        ) THEN {current} END
    )
"""
CONTENT_TYPE = "(SELECT id FROM django_content_type WHERE app_label = 'rewards' AND model = '{model}')"

# Each condition is named, so the violation says what disagrees.
REDEMPTIONS_THAT_DISAGREE = (
    """
    WITH redemptions AS (
        SELECT r.*, m.account_id AS member_account_id, w.account_id AS reward_account_id, """
    + PRICE_THEN.format(
        field="points_cost",
        content_type=CONTENT_TYPE.format(model="reward"),
        item="w.id",
        at="r.reserved_at",
        current="w.points_cost",
    )
    + """ AS price
        FROM rewards_redemption r
        JOIN recycling_member m ON m.id = r.member_id
        JOIN rewards_reward w ON w.id = r.reward_id
    )
    SELECT r.id, r.status, concat_ws('; ',
        CASE WHEN t.kind <> 'redemption' THEN 'debit transfer ' || t.id || ' is of kind ' || t.kind END,
        CASE WHEN t.amount <> r.points THEN 'debit transfer ' || t.id || ' takes ' || t.amount || ' points, not '
                                            || r.points END,
        CASE WHEN t.debit_account_id <> r.member_account_id
             THEN 'debit transfer ' || t.id || ' debits account ' || t.debit_account_id || ', not the member''s '
                  || r.member_account_id END,
        CASE WHEN t.credit_account_id <> r.reward_account_id
             THEN 'debit transfer ' || t.id || ' credits account ' || t.credit_account_id
                  || ', not the reward''s ' || r.reward_account_id END,
        CASE WHEN r.points <> r.price * r.quantity OR (r.price IS NULL AND r.points %% r.quantity <> 0)
             THEN r.points || ' points for ' || r.quantity || ' at ' || COALESCE(r.price::text, 'an unrecorded price')
                  || ' each' END,
        CASE WHEN r.status IN ('reserved', 'collected') AND r.refund_transfer_id IS NOT NULL
             THEN 'a ' || r.status || ' redemption, yet refunded by transfer ' || r.refund_transfer_id END,
        CASE WHEN r.status IN ('cancelled', 'expired') AND r.refund_transfer_id IS NULL
             THEN 'no refund' END,
        CASE WHEN f.kind <> 'reversal' OR f.reverses_id <> t.id OR f.amount <> t.amount
                  OR f.debit_account_id <> t.credit_account_id OR f.credit_account_id <> t.debit_account_id
             THEN 'refund transfer ' || f.id || ' does not undo the debit' END
    )
    FROM redemptions r
    JOIN recycling_transfer t ON t.id = r.transfer_id
    LEFT JOIN recycling_transfer f ON f.id = r.refund_transfer_id
    WHERE t.kind <> 'redemption'
       OR t.amount <> r.points
       OR t.debit_account_id <> r.member_account_id
       OR t.credit_account_id <> r.reward_account_id
       OR r.points <> r.price * r.quantity OR (r.price IS NULL AND r.points %% r.quantity <> 0)
       OR (r.status IN ('reserved', 'collected')) <> (r.refund_transfer_id IS NULL)
       OR f.kind <> 'reversal' OR f.reverses_id <> t.id OR f.amount <> t.amount
       OR f.debit_account_id <> t.credit_account_id OR f.credit_account_id <> t.debit_account_id
    ORDER BY r.id
"""
)


def redemptions_agree_with_their_transfers() -> list[str]:
    """A redemption's debit is a `redemption` transfer of exactly its points (its reward's price
    then times its quantity) from its member's account to its reward's account; a reserved or
    collected one has no refund; a cancelled or expired one its refund, which undoes that debit."""
    return [f"redemption {pk} ({status}): {what}" for pk, status, what in rows(REDEMPTIONS_THAT_DISAGREE)]


DONATIONS_THAT_DISAGREE = (
    """
    WITH donations AS (
        SELECT n.*, m.account_id AS member_account_id, c.account_id AS campaign_account_id, """
    + PRICE_THEN.format(
        field="points_per_notebook",
        content_type=CONTENT_TYPE.format(model="donationcampaign"),
        item="c.id",
        at="n.created_at",
        current="c.points_per_notebook",
    )
    + """ AS price
        FROM rewards_donation n
        JOIN recycling_member m ON m.id = n.member_id
        JOIN rewards_donationcampaign c ON c.id = n.campaign_id
    )
    SELECT n.id, concat_ws('; ',
        CASE WHEN t.kind <> 'donation' THEN 'transfer ' || t.id || ' is of kind ' || t.kind END,
        CASE WHEN t.amount <> n.points THEN 'transfer ' || t.id || ' takes ' || t.amount || ' points, not '
                                            || n.points END,
        CASE WHEN t.debit_account_id <> n.member_account_id
             THEN 'transfer ' || t.id || ' debits account ' || t.debit_account_id || ', not the member''s '
                  || n.member_account_id END,
        CASE WHEN t.credit_account_id <> n.campaign_account_id
             THEN 'transfer ' || t.id || ' credits account ' || t.credit_account_id
                  || ', not the campaign''s ' || n.campaign_account_id END,
        CASE WHEN n.points <> n.price * n.notebooks OR (n.price IS NULL AND n.points %% n.notebooks <> 0)
             THEN n.points || ' points for ' || n.notebooks || ' notebooks at '
                  || COALESCE(n.price::text, 'an unrecorded price') || ' each' END,
        CASE WHEN x.id IS NOT NULL THEN 'reversed by transfer ' || x.id END
    )
    FROM donations n
    JOIN recycling_transfer t ON t.id = n.transfer_id
    LEFT JOIN recycling_transfer x ON x.reverses_id = t.id
    WHERE t.kind <> 'donation'
       OR t.amount <> n.points
       OR t.debit_account_id <> n.member_account_id
       OR t.credit_account_id <> n.campaign_account_id
       OR n.points <> n.price * n.notebooks OR (n.price IS NULL AND n.points %% n.notebooks <> 0)
       OR x.id IS NOT NULL
    ORDER BY n.id
"""
)


def donations_agree_with_their_transfers() -> list[str]:
    """A donation's transfer is a `donation` of exactly its points (its campaign's price per
    notebook then times its notebooks) from its member's account to its campaign's account, and
    is never reversed."""
    return [f"donation {pk}: {what}" for pk, what in rows(DONATIONS_THAT_DISAGREE)]


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


REDEMPTIONS_WITHOUT_STOCK = """
    SELECT s.code, w.name, count(*)
    FROM rewards_redemption r
    JOIN stations_station s ON s.id = r.station_id
    JOIN rewards_reward w ON w.id = r.reward_id
    WHERE NOT EXISTS (
        SELECT 1 FROM rewards_stationstock k WHERE k.station_id = r.station_id AND k.reward_id = r.reward_id
    )
    GROUP BY s.code, w.name
    ORDER BY s.code, w.name
"""


def redemptions_have_their_stock() -> list[str]:
    """Every reservation took its goods from its station's stock of that reward, so the stock row
    exists. (Stock moves are not recorded row by row: goods received and written off are audit
    events, and the first stock of a station is set directly, so no sum of moves can be checked.)"""
    return [
        f"station {code}: {count} redemption(s) of {reward} but no stock row"
        for code, reward, count in rows(REDEMPTIONS_WITHOUT_STOCK)
    ]


def stock_not_negative() -> list[str]:
    return [
        f"stock {pk} ({reward} at {station}): quantity {quantity}"
        for pk, station, reward, quantity in rows(NEGATIVE_STOCK)
    ]


NOTEBOOKS_THAT_DISAGREE = """
    SELECT 'purchase', p.id, p.notebooks, COALESCE(SUM(a.notebooks), 0)
    FROM rewards_notebookpurchase p LEFT JOIN rewards_donationallocation a ON a.purchase_id = p.id
    GROUP BY p.id HAVING p.notebooks <> COALESCE(SUM(a.notebooks), 0)
    UNION ALL
    SELECT 'delivery', d.id, d.notebooks, COALESCE(SUM(a.notebooks), 0)
    FROM rewards_notebookdelivery d LEFT JOIN rewards_donationallocation a ON a.delivery_id = d.id
    GROUP BY d.id HAVING d.notebooks <> COALESCE(SUM(a.notebooks), 0)
    UNION ALL
    SELECT 'donation', n.id, n.notebooks, SUM(a.notebooks)
    FROM rewards_donation n JOIN rewards_donationallocation a ON a.donation_id = n.id
    GROUP BY n.id HAVING SUM(a.notebooks) > n.notebooks
    UNION ALL
    SELECT 'allocation', a.id, a.purchase_id, d.purchase_id
    FROM rewards_donationallocation a JOIN rewards_notebookdelivery d ON d.id = a.delivery_id
    JOIN rewards_donation n ON n.id = a.donation_id JOIN rewards_notebookpurchase p ON p.id = a.purchase_id
    WHERE d.purchase_id <> a.purchase_id OR p.campaign_id <> n.campaign_id
    ORDER BY 1, 2
"""


def notebooks_are_allocated_exactly() -> list[str]:
    """Every notebook bought is some donation's, every notebook delivered came from its purchase's
    allocations, no donation is allocated more notebooks than it funded, and an allocation's
    delivery, purchase and donation are of one campaign (rewards/deliveries.py)."""
    messages = {
        "purchase": "purchase {0}: {1} notebooks bought, {2} allocated to donations",
        "delivery": "delivery {0}: {1} notebooks delivered, {2} allocations carried",
        "donation": "donation {0}: {1} notebooks funded, {2} allocated",
        "allocation": "allocation {0}: purchase {1}, its delivery's purchase {2} (or another campaign's donation)",
    }
    return [messages[kind].format(pk, a, b) for kind, pk, a, b in rows(NOTEBOOKS_THAT_DISAGREE)]


def register_checks() -> None:
    register_cause("debit of redemption", DEBIT_CAUSE)
    register_cause("refund of redemption", REFUND_CAUSE)
    register_cause("donation", DONATION_CAUSE)
    register_check("redemptions agree with their transfers", redemptions_agree_with_their_transfers)
    register_check("donations agree with their transfers", donations_agree_with_their_transfers)
    register_check("campaign balances match donations", campaign_balances_match_donations)
    register_check("reward balances match redemptions", reward_balances_match_redemptions)
    register_check("redemptions have their stock", redemptions_have_their_stock)
    register_check("no negative stock", stock_not_negative)
    register_check("notebooks are allocated exactly", notebooks_are_allocated_exactly)
