"""What each index and foreign key on a drop-off's write path is for (bench_api.py prints it).

Every index is one more B-tree insert per row and every foreign key one more lookup of the row
it points to: the minimal drop-off runs 1.5 to 2.5 times faster on bare copies of these tables
(only their primary and unique keys). Each must therefore say what reads it or what it guards.
describe_write_path() lists what the database has, with the reason written here; an index or
foreign key without one is printed as UNEXPLAINED, and one that nothing reads is named at the end
of the benchmark's output, to be dropped by a migration of its app.

Keys: ("index", table, columns) for an index (a varchar_pattern_ops one is ("like", table,
columns)); ("fk", table, columns) for a foreign key. Primary keys are not listed.
"""

WRITE_PATH_TABLES = ("recycling_dropoff", "recycling_transfer", "recycling_account", "idempotency_idempotencykey")
# The API's record table until the idempotency app replaces it, listed while it exists.
OLD_KEY_TABLE = "api_idempotencyrecord"

NOTHING = "nothing"  # the reason of an index that nothing reads

_PROTECT = "Django's PROTECT check when the {} is deleted (rare: an admin deleting one)"

REASONS = {
    # --- drop-offs
    ("index", "recycling_dropoff", ("idempotency_key",)): "unique: a retried drop-off finds its first one",
    ("like", "recycling_dropoff", ("idempotency_key",)): NOTHING
    + ": Django's LIKE twin of a unique key; no query uses LIKE on it",
    (
        "index",
        "recycling_dropoff",
        ("member_id", "occurred_at"),
    ): "the member's cartons of the day (the daily cap), the member's history and figures",
    (
        "index",
        "recycling_dropoff",
        ("station_id", "occurred_at"),
    ): "a station's drop-offs (API lists, the desk), the inventory audit per station",
    (
        "index",
        "recycling_dropoff",
        ("occurred_at",),
    ): "the daily totals (one day's drop-offs), the factor-overtaken check, lists by time",
    ("index", "recycling_dropoff", ("member_id",)): NOTHING + ": (member_id, occurred_at) starts with it",
    ("index", "recycling_dropoff", ("station_id",)): NOTHING + ": (station_id, occurred_at) starts with it",
    ("index", "recycling_dropoff", ("emission_factor_id",)): "the rules admin's 'in use' flag per factor; "
    + _PROTECT.format("factor"),
    ("index", "recycling_dropoff", ("rule_id",)): _PROTECT.format("earning rule"),
    ("index", "recycling_dropoff", ("logged_by_id",)): _PROTECT.format("user"),
    ("index", "recycling_dropoff", ("voided_by_id",)): _PROTECT.format("user") + "; NULL until a void",
    ("fk", "recycling_dropoff", ("station_id",)): "guards: the station exists",
    ("fk", "recycling_dropoff", ("member_id",)): "guards: the member exists",
    ("fk", "recycling_dropoff", ("rule_id",)): "guards: the earning rule that priced it exists (explains its points)",
    ("fk", "recycling_dropoff", ("emission_factor_id",)): "guards: the factor of its carbon figure exists",
    ("fk", "recycling_dropoff", ("logged_by_id",)): "guards: the staff user who logged it exists",
    ("fk", "recycling_dropoff", ("voided_by_id",)): "guards: the user who voided it exists (no check while NULL)",
    ("fk", "recycling_dropoff", ("earning_transfer_id",)): "guards: the drop-off's earning transfer exists",
    ("fk", "recycling_dropoff", ("reversal_transfer_id",)): "guards: the void's reversal exists (no check while NULL)",
    (
        "index",
        "recycling_dropoff",
        ("earning_transfer_id",),
    ): "unique: one drop-off per earning transfer; the audit's join",
    ("index", "recycling_dropoff", ("reversal_transfer_id",)): "unique: one drop-off per reversal; the audit's join",
    # --- transfers
    (
        "index",
        "recycling_transfer",
        ("idempotency_key",),
    ): "unique: a transfer is posted once (dropoff:<id>:earning, ...)",
    ("like", "recycling_transfer", ("idempotency_key",)): NOTHING
    + ": Django's LIKE twin of a unique key; no query uses LIKE on it",
    (
        "index",
        "recycling_transfer",
        ("reverses_id",),
    ): "unique: a transfer is reversed at most once; finds a transfer's reversal",
    ("index", "recycling_transfer", ("credit_account_id",)): "a member's history (credits), the balance audit",
    ("index", "recycling_transfer", ("debit_account_id",)): "a member's history (debits), the balance audit",
    (
        "index",
        "recycling_transfer",
        ("dropoff_id",),
    ): "a void finds the drop-off's earning transfer; the audit counts them",
    (
        "index",
        "recycling_transfer",
        ("created_at",),
    ): "the daily totals (one day's spending), the member's history order",
    ("index", "recycling_transfer", ("station_id",)): _PROTECT.format("station"),
    ("fk", "recycling_transfer", ("debit_account_id",)): "guards: the account debited exists",
    ("fk", "recycling_transfer", ("credit_account_id",)): "guards: the account credited exists",
    ("fk", "recycling_transfer", ("dropoff_id",)): "guards: the drop-off it pays exists",
    ("fk", "recycling_transfer", ("reverses_id",)): "guards: the transfer it reverses exists (no check while NULL)",
    ("fk", "recycling_transfer", ("station_id",)): "guards: the station it happened at exists",
    # --- accounts
    ("index", "recycling_account", ("member_id",)): "unique: one account per member; finds the member's account",
    ("index", "recycling_account", ("station_id",)): "unique: one issuance account per station; finds it",
    (
        "fk",
        "recycling_account",
        ("member_id",),
    ): "guards: the member exists (not on the drop-off's path: balances are UPDATEs)",
    ("fk", "recycling_account", ("station_id",)): "guards: the station exists (not on the drop-off's path)",
    # --- idempotency keys
    (
        "index",
        "idempotency_idempotencykey",
        ("scope", "key"),
    ): "unique: a key is claimed once in its scope; every keyed write reads it",
    (
        "index",
        OLD_KEY_TABLE,
        ("user_id", "key"),
    ): "unique: a user's key is claimed once; every keyed API write reads it",
    ("index", OLD_KEY_TABLE, ("created_at",)): "the daily purge of expired records",
    ("index", OLD_KEY_TABLE, ("user_id",)): NOTHING + ": (user_id, key) starts with it",
    ("like", OLD_KEY_TABLE, ("key",)): NOTHING + ": Django's LIKE twin; no query uses LIKE on it",
    ("index", OLD_KEY_TABLE, ("key",)): NOTHING + ": every read is by (user_id, key)",
    ("fk", OLD_KEY_TABLE, ("user_id",)): "guards: the user exists",
}

_INDEXES = """
SELECT c.relname, i.relname, x.indisunique, x.indisprimary,
       array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.n),
       pg_get_indexdef(x.indexrelid) LIKE '%%pattern_ops%%'
  FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
 WHERE c.relname = ANY(%s) AND c.relnamespace = 'public'::regnamespace
 ORDER BY c.relname, i.relname
"""
_FOREIGN_KEYS = """
SELECT c.relname, k.conname,
       array(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(attnum, n)
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = u.attnum ORDER BY u.n)
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
 WHERE k.contype = 'f' AND c.relname = ANY(%s) AND c.relnamespace = 'public'::regnamespace
 ORDER BY c.relname, k.conname
"""


def describe_write_path(cursor) -> list[str]:
    """Print each index and foreign key of the write path's tables with what reads it or what it
    guards; return the names of those that nothing reads or that have no reason written here."""
    tables = list(WRITE_PATH_TABLES) + [OLD_KEY_TABLE]
    lines, unread = [], []
    cursor.execute(_INDEXES, [tables])
    for table, name, _unique, primary, columns, like in cursor.fetchall():
        if primary:
            continue
        lines.append(
            (table, f"index {name}", _reason(("like" if like else "index", table, tuple(columns)), name, unread))
        )
    cursor.execute(_FOREIGN_KEYS, [tables])
    for table, name, columns in cursor.fetchall():
        lines.append((table, f"foreign key {name}", _reason(("fk", table, tuple(columns)), name, unread)))
    print("\nIndexes and foreign keys on the write path (what reads each, or what it guards):")
    width = max(len(what) for _table, what, _reason_ in lines)
    for table in tables:
        for row_table, what, reason in lines:
            if row_table == table:
                print(f"  {table:<27} {what:<{width}}  {reason}")
    return unread


def _reason(key: tuple, name: str, unread: list[str]) -> str:
    reason = REASONS.get(key)
    if reason is None:
        unread.append(name)
        return "UNEXPLAINED: say in bench/write_path.py what reads it, or drop it"
    if reason.startswith(NOTHING):
        unread.append(name)
    return reason
