"""The ledger's move to its own app carries existing data forward.

tests/fixtures/release_575ec8b.sql.gz is a database of the previous release (main at 575ec8b:
recycling owned Account and Transfer, which pointed at members, stations and drop-offs),
filled by that release's simulator (the 2021 campaign at the smallest scale) and a few
operations through its services: drop-offs over the daily cap and with 0 points, a void, a
reservation of each status, a donation. pg_dump --inserts, gzipped. This test restores it into
a database of its own, runs that release's successor's `migrate` and `check_ledger` on it as
an operator would (subprocesses), and checks that balances and every business link carried
over.

Made with: a worktree of 575ec8b, `manage.py migrate` on an empty database, `simulate_campaign
--year 2021 --scale 0.0005`, the service calls above in `manage.py shell`, then `pg_dump
--inserts --rows-per-insert=200 --no-owner --no-privileges --no-comments`, psql's \restrict
lines removed (the restore runs the script through psycopg), gzip -9 (about 140 KB).
"""

import gzip
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

FIXTURE = Path(__file__).parent.parent / "fixtures" / "release_575ec8b.sql.gz"
BASE_DIR = Path(settings.BASE_DIR)


def _conninfo(dbname: str) -> str:
    db = settings.DATABASES["default"]
    parts = {"dbname": dbname, "user": db["USER"], "password": db["PASSWORD"], "host": db["HOST"], "port": db["PORT"]}
    return psycopg.conninfo.make_conninfo(**{key: str(value) for key, value in parts.items() if value})


def _database_url(dbname: str) -> str:
    db = settings.DATABASES["default"]
    user = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    port = f":{db['PORT']}" if db["PORT"] else ""
    if str(db["HOST"]).startswith("/"):  # the embedded server's socket folder
        return f"postgres://{user}@{port}/{dbname}?host={db['HOST']}"
    return f"postgres://{user}@{db['HOST'] or '127.0.0.1'}{port}/{dbname}"


@pytest.fixture
def release_database():
    """A database restored from the previous release's dump; dropped afterwards."""
    name = f"{settings.DATABASES['default']['NAME']}_release_575ec8b"
    with psycopg.connect(_conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(_conninfo(name), autocommit=True) as restore:
            restore.execute(gzip.decompress(FIXTURE.read_bytes()).decode())  # one script, simple protocol
        yield name
    finally:
        with psycopg.connect(_conninfo("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _manage(database: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": _database_url(database), "DEBUG": "1"}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=600
    )


def _rows(database: str, sql: str) -> list[tuple]:
    with psycopg.connect(_conninfo(database)) as conn:
        return conn.execute(sql).fetchall()


# What the previous release's tables say, through its own columns.
BEFORE = {
    "member balances": """
        SELECT m.mobile, a.id, a.balance FROM recycling_member m JOIN recycling_account a ON a.member_id = m.id
        ORDER BY m.mobile
    """,
    "station issuance accounts": """
        SELECT s.code, a.id, a.balance FROM stations_station s JOIN recycling_account a ON a.station_id = s.id
        ORDER BY s.code
    """,
    "drop-off earnings": """
        SELECT d.id, t.id FROM recycling_dropoff d JOIN recycling_transfer t ON t.dropoff_id = d.id
        WHERE t.kind = 'earning' ORDER BY d.id
    """,
    "drop-off reversals": """
        SELECT d.id, t.id FROM recycling_dropoff d JOIN recycling_transfer t ON t.dropoff_id = d.id
        WHERE t.kind = 'reversal' ORDER BY d.id
    """,
    "redemption refunds": """
        SELECT r.id, t.id FROM rewards_redemption r JOIN recycling_transfer t ON t.reverses_id = r.transfer_id
        ORDER BY r.id
    """,
    "donation stations": """
        SELECT n.id, t.station_id FROM rewards_donation n JOIN recycling_transfer t ON t.id = n.transfer_id
        ORDER BY n.id
    """,
    "flagged accounts": "SELECT id FROM recycling_account WHERE kind IN ('member', 'reward', 'campaign') ORDER BY id",
}
# The same facts through the new links.
AFTER = {
    "member balances": """
        SELECT m.mobile, a.id, a.balance FROM recycling_member m JOIN recycling_account a ON a.id = m.account_id
        ORDER BY m.mobile
    """,
    "station issuance accounts": """
        SELECT s.code, a.id, a.balance FROM stations_station s JOIN recycling_account a ON a.id = s.issuance_account_id
        ORDER BY s.code
    """,
    "drop-off earnings": """
        SELECT id, earning_transfer_id FROM recycling_dropoff WHERE earning_transfer_id IS NOT NULL ORDER BY id
    """,
    "drop-off reversals": """
        SELECT id, reversal_transfer_id FROM recycling_dropoff WHERE reversal_transfer_id IS NOT NULL ORDER BY id
    """,
    "redemption refunds": """
        SELECT id, refund_transfer_id FROM rewards_redemption WHERE refund_transfer_id IS NOT NULL ORDER BY id
    """,
    "donation stations": "SELECT id, station_id FROM rewards_donation ORDER BY id",
    "flagged accounts": "SELECT id FROM recycling_account WHERE balance_must_not_go_negative ORDER BY id",
}


def test_the_previous_release_migrates_with_its_ledger_intact(release_database):
    """After `migrate`, check_ledger is clean, every member, station, drop-off, redemption and
    donation points at the accounts and transfers it had, balances are unchanged, and the old
    columns and the PL/pgSQL drop-off function are gone."""
    before = {fact: _rows(release_database, sql) for fact, sql in BEFORE.items()}
    transfers_before = _rows(release_database, "SELECT count(*), sum(amount) FROM recycling_transfer")
    assert before["drop-off reversals"] and before["redemption refunds"] and before["donation stations"]
    assert ("13900000001", before["member balances"][0][1], 130) in before["member balances"]

    migrated = _manage(release_database, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    audited = _manage(release_database, "check_ledger", "--no-progress")

    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert "Ledger is consistent." in audited.stdout
    assert {fact: _rows(release_database, sql) for fact, sql in AFTER.items()} == before
    assert _rows(release_database, "SELECT count(*), sum(amount) FROM recycling_transfer") == transfers_before
    leftovers = _rows(
        release_database,
        """
        SELECT table_name || '.' || column_name FROM information_schema.columns
        WHERE (table_name = 'recycling_account' AND column_name IN ('member_id', 'station_id'))
           OR (table_name = 'recycling_transfer' AND column_name IN ('dropoff_id', 'station_id'))
        UNION ALL SELECT proname FROM pg_proc WHERE proname = 'recycling_record_dropoff'
        """,
    )
    assert leftovers == []
    trigger = _rows(
        release_database, "SELECT tgenabled FROM pg_trigger WHERE tgname = 'recycling_transfer_append_only'"
    )
    assert trigger == [("O",)]  # transfers are still append-only


def test_the_migrations_run_backwards_to_the_previous_release(release_database):
    """Forwards, then back to the previous release's migrations: its own columns hold again what
    they held (the reverse data migrations refill them from the new links)."""
    before = {fact: _rows(release_database, sql) for fact, sql in BEFORE.items() if fact != "flagged accounts"}
    forwards = _manage(release_database, "migrate", "--noinput")
    assert forwards.returncode == 0, forwards.stderr

    for app, target in [("recycling", "0006"), ("stations", "0002"), ("ledger", "zero")]:
        backwards = _manage(release_database, "migrate", app, target, "--noinput")
        assert backwards.returncode == 0, backwards.stderr

    assert {fact: _rows(release_database, sql) for fact in before for sql in [BEFORE[fact]]} == before
    assert _rows(release_database, "SELECT count(*) FROM pg_proc WHERE proname = 'recycling_record_dropoff'") == [(1,)]
