"""Benchmark: drop-off POSTs through the REST API under gunicorn, against two pgbench references,
on PostgreSQL.

    python bench/bench_api.py [--seconds 15]        (or `make bench`)

Needs PostgreSQL, pgbench (Debian's postgresql-client) and wrk (Debian's wrk), and Redis for the
throttles' cache (REDIS_URL, default redis://127.0.0.1:6379/3). DATABASE_URL defaults to
postgres://postgres@127.0.0.1:5432/greenbox_bench_api, which is created and migrated if missing;
the first run adds a bench city (BA), 12 stations with a staff user and token each, and 20,000
members. CLIENTS concurrent clients, client n being the device of the n-th station (its
requests one after the other, as a station's device sends them), for --seconds each
(BENCH_SECONDS; 15 by default, 5 is enough to check that it all runs):

1. The minimal drop-off, the first reference: pgbench running only what a drop-off must write,
   on the project's own tables, in one transaction: INSERT the drop-off, INSERT its transfer,
   UPDATE both balances, INSERT the idempotency key's record. Transactions per second, and the
   CPU its PostgreSQL backends spend per transaction (read from /proc). Then the same on bare
   copies of those tables (schema bench_bare: the same columns, only the primary and unique
   keys, no other index, no foreign key, no check, no trigger): what the rest costs.
2. The endpoint's SQL, the second reference: pgbench sending everything one drop-off POST sends
   (the connection's health check, authentication, the idempotency key, the drop-off), in the
   same transactions. In transactions per second.
3. wrk (bench/dropoffs.lua), CLIENTS connections flat out, POSTs single drop-offs to gunicorn
   with the station staff's token, for a random member, with a fresh Idempotency-Key: the most
   requests per second the server answers, their p50 and p99 (shown: see below), and the CPU of
   the PostgreSQL backends per POST (gunicorn's persistent connections to this database only).
4. The CLIENTS devices POST single drop-offs at a fixed rate, open loop (bench/paced.py), at each
   of BUSY_SHARES of the flat-out rate: the p50 and p99 latency at that throughput.
5. pgbench sends what one batch of BATCH_SIZE sends (the endpoint's SQL again), then wrk POSTs
   such batches flat out: drop-offs per second.

Both pgbench scripts are made from requests captured in this process (bench/pgscript.py): one
POST (or batch) of each kind through Django's test client, its statements, parameters and
transactions recorded from three clients' points of view, then written out with each varying
parameter as the pgbench expression that varies it the same way (the client's station, user and
token, a random member, a fresh key, the ids earlier INSERTs returned). The minimal drop-off is
the captured POST's INSERTs and UPDATEs on the four tables and the SELECT that draws the
drop-off's id from its sequence (its transfer, posted first, names it), nothing else. So neither reference
can drift from the endpoint. Each wrk run follows a warm-up run of WARMUP seconds. Every answer
is checked: a failed request fails the benchmark.

Judged, against the minimal drop-off measured in the same run (issue 13): single POSTs flat out
at least 15% of its rate; p99 under 50 ms at 40% of the flat-out rate; batched drop-offs at
least 35% of its rate; PostgreSQL CPU per drop-off POST at most twice its CPU per transaction.
The table shows each figure beside the one measured before that issue's changes ("before"), and
the ratio to the endpoint's SQL too. It also lists each index and foreign key of the write path's
tables and what reads it or what it guards (bench/write_path.py); one that nothing reads is named.

Why latency is judged at a fixed rate: with CLIENTS clients that send their next request the
moment the last is answered, the server is saturated by construction, and each request's
latency is mostly its wait behind the others: its mean is CLIENTS divided by the throughput
(12 clients answered at 240 req/s see 50 ms on average). A throughput kept within a latency
bound is measured by offering a load at that throughput; the flat-out figures are still shown.

The CPU figures: milliseconds of CPU per drop-off by process group (gunicorn, PostgreSQL, wrk);
PostgreSQL's counts only the backends connected to the bench's database, sampled every
SAMPLE_SECONDS (a backend's last fraction of a sample before it exits is not counted).

Both pgbench scripts use its simple query protocol, as the figures quoted from issue 13 did; the
server binds and prepares its statements (config/settings/base.py, DATABASES OPTIONS).

The last line is machine-readable:
    RESULT api_single_ratio=0.21 api_p99_ms=31.2 api_batch_ratio=0.52 api_pg_cpu_ratio=1.6
The exit status is 1 if a target is missed. BENCH_SECONDS, BENCH_PORT, BENCH_SERVER_SETTINGS
(the settings module gunicorn runs with, default config.settings.base) and BENCH_WORKERS
(gunicorn's sync worker processes) adjust a run.

The server runs as production would (README, "Production"): gunicorn's sync workers, DEBUG off,
persistent database connections with a health check at the start of each request
(conn_max_age, conn_health_checks in DATABASE_URL), throttles on Redis but with their rates
lifted (API_THROTTLE_*: the bench's few users would otherwise be throttled, which is the point
of throttles but not what this measures).
"""

import argparse
import asyncio
import functools
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from database import ensure_database  # bench/database.py
from paced import paced_posts  # bench/paced.py
from pgscript import BEGIN, COMMIT, PgScript, Role, Statement, capture  # bench/pgscript.py
from report import figure  # bench/report.py, beside this script
from write_path import OLD_KEY_TABLE, WRITE_PATH_TABLES, describe_write_path  # bench/write_path.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/greenbox_bench_api")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/3")

CLIENTS = 12
DURATION = float(os.environ.get("BENCH_SECONDS", "15"))
WARMUP = 3
BATCH_SIZE = 50
STATIONS = 12
MEMBERS = 20_000
MEMBER_CODE_PREFIX = "BENCH"
PORT = int(os.environ.get("BENCH_PORT", "8765"))
# 2 cores shared by gunicorn, PostgreSQL, pgbench and wrk. gunicorn's sync workers, one request
# at a time each, one per core. Measured on this machine (12 clients flat out): 2 or 3 sync
# workers about 245 single POSTs/s, 4 about 190; batches 620-720 drop-offs/s with 2, about 500
# with 3. gthread workers (2 x 6 threads) served a fifth fewer at several times the p99: threads
# of one process queue for the GIL behind each other at every database round trip, and
# keep-alive connections stay with the process that accepted them, however busy it is.
GUNICORN_WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
SAMPLE_SECONDS = 0.2
PREFIX = "BA"
BARE_SCHEMA = "bench_bare"

# Issue 13's targets, against the minimal drop-off of the same run.
SINGLE_RATIO_TARGET = 0.15
P99_SHARE = 0.4  # the p99 is judged at this share of the flat-out rate
P99_TARGET_MS = 50.0
BATCH_RATIO_TARGET = 0.35
PG_CPU_RATIO_TARGET = 2.0
BUSY_SHARES = (P99_SHARE, 0.6, 0.8)
# The figures issue 13 quotes from before its changes (a quiet 2-core machine), shown beside.
BEFORE = {
    "minimal": "1,240-1,510",
    "minimal_cpu": "1.1-1.3",
    "single": "312 (21-25%)",
    "p99": "35",
    "batch": "1,048",
    "post_cpu": "1.77",
}


def set_up() -> dict:
    """Migrate, create the bench data once, and return what the clients and pgbench need."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from api.models import ApiToken
    from api.services import create_api_token, token_digest
    from ledger.models import Account
    from recycling.ledger import issuance_account
    from recycling.models import CartonInventory, EarningRule, Member
    from stations.models import City, Station, StationStaff

    call_command("migrate", verbosity=0)
    User = get_user_model()
    city, _created = City.objects.get_or_create(
        code=PREFIX, defaults={"name": "Bench", "name_zh": "基准", "province": "Bench"}
    )
    if not Station.objects.filter(city=city).exists():
        Station.objects.bulk_create(
            Station(code=f"{PREFIX}-{n:05d}", name=f"Bench {n}", city=city, address="-") for n in range(STATIONS)
        )
        EarningRule.objects.create(
            city=city, points_per_carton=10, daily_carton_cap=100_000, valid_from=timezone.now().replace(year=2020)
        )
    stations = list(Station.objects.filter(city=city).order_by("pk"))
    staff = []  # per station: its id, code, staff user's id and token, issuance account and inventory ids
    for n, station in enumerate(stations):
        with transaction.atomic():
            issuer = issuance_account(station=station)
        inventory, _created = CartonInventory.objects.get_or_create(station=station)
        user, _created = User.objects.get_or_create(username=f"bench-staff-{n}")
        StationStaff.objects.get_or_create(user=user, station=station)
        # A token's secret is shown once: each run makes the device a new one (and drops the last).
        ApiToken.objects.filter(user=user).delete()
        token = create_api_token(user=user, name=f"bench {station.code}", station=station).secret
        staff.append(
            {"station": station.pk, "code": station.code, "user": user.pk, "token": token, "issuer": issuer.pk,
             "inventory": inventory.pk, "token_prefix": token[:10], "token_digest": token_digest(token)}
        )  # fmt: skip
    if not Member.objects.filter(mobile__startswith="1990").exists():
        create_members(User, Member, Account)
    # pgbench picks member n at random and computes its ids: the bench members' ids, their users'
    # and their accounts' must each run in the order of their codes, without gaps.
    rows = list(
        Member.objects.filter(code__startswith=MEMBER_CODE_PREFIX)
        .order_by("code")
        .values_list("pk", "user_id", "account__pk")
    )
    first = dict(zip(("member", "user", "account"), rows[0], strict=True))
    if len(rows) != MEMBERS or any(row != tuple(v + n for v in rows[0]) for n, row in enumerate(rows)):
        raise SystemExit("The bench members' ids are not consecutive: drop the bench database and run again.")
    return {"staff": staff, "first": first}


def create_members(User, Member, Account) -> None:
    """MEMBERS bench members with their users and accounts (consecutive ids: one process inserts
    them, in order). In batches: with server-side binding each INSERT may carry at most 65,535
    parameters."""
    batch = 2_000
    users = User.objects.bulk_create(
        (User(username=f"bench-member-{n}", password="!") for n in range(MEMBERS)), batch_size=batch
    )
    accounts = Account.objects.bulk_create(
        (Account(kind=Account.Kind.MEMBER, balance_must_not_go_negative=True) for _user in users), batch_size=batch
    )
    Member.objects.bulk_create(
        (
            Member(user=user, mobile=f"1990{n:07d}", code=member_code(n), account=account)
            for n, (user, account) in enumerate(zip(users, accounts, strict=True))
        ),
        batch_size=batch,
    )


# --- The references: pgbench scripts made from captured requests -----------------------------------

HEALTH_CHECK = "SELECT 1;"  # Django's conn_health_checks, before the first query of each request
# The minimal drop-off: the captured POST's writes on these tables (the key's record: the
# idempotency app's table, or the API's own record table where that is what the POST writes).
MINIMAL_WRITES = {
    # The drop-off's id, drawn before its transfer, whose key names it (recycling.services).
    "select generate_series": "the drop-off's id",
    "insert recycling_dropoff": "the drop-off",
    "insert recycling_transfer": "its transfer",
    "with insert recycling_transfer, update recycling_account": "its transfer",  # ledger.services.post_transfer
    "update recycling_account": "the balances",
    "insert idempotency_idempotencykey": "the key's record",
}


def station_roles(data: dict) -> list[Role]:
    """The client's station, as pgbench client n (client_id n) is the n-th station's device."""
    roles = []
    for name in ("station", "code", "user", "token", "issuer", "inventory", "token_prefix", "token_digest"):
        per_client = tuple(station[name] for station in data["staff"])
        items = ", ".join(str(v) if isinstance(v, int) else f"'{v}'" for v in per_client)
        captured = tuple(per_client[client] for client in CAPTURED_CLIENTS)
        roles.append(Role(f"station {name}", captured, f"(ARRAY[{items}])[:client_id + 1]", per_client))
    return roles


def member_roles(data: dict, name: str, members: tuple[int, ...], number: str) -> list[Role]:
    """The member whose number (0 to MEMBERS - 1) the pgbench expression `number` gives, which
    the captures had as `members`: their ids, code and mobile number."""
    first, n = data["first"], f"({number})"
    return [
        Role(f"{name} id", tuple(first["member"] + m for m in members), f"{first['member']} + {n}"),
        Role(f"{name} user", tuple(first["user"] + m for m in members), f"{first['user']} + {n}"),
        Role(f"{name} account", tuple(first["account"] + m for m in members), f"{first['account']} + {n}"),
        Role(f"{name} code", tuple(member_code(m) for m in members),
             f"'{MEMBER_CODE_PREFIX}' || lpad({n}::text, 11, '0')"),
        Role(f"{name} mobile", tuple(f"1990{m:07d}" for m in members), f"'1990' || lpad({n}::text, 7, '0')"),
        Role(f"{name} masked", tuple(f"199****{m % 10000:04d}" for m in members),
             f"'199****' || lpad(({n} % 10000)::text, 4, '0')"),
    ]  # fmt: skip


def member_code(n: int) -> str:
    return f"{MEMBER_CODE_PREFIX}{n:011d}"


# One random number per pgbench transaction gives its member(s) and idempotency key(s): item i
# of a batch has member (seed + 7919 i) mod MEMBERS (all different: 7919 is prime to MEMBERS)
# and key "bench-<seed>-<i>". One variable, not two per item: pgbench 15 corrupts its memory on
# the batch's script with a hundred \set variables.
SEED = "\\set seed random(1, 9000000000000000000)"


def seeded_member(item: int) -> str:
    return f":seed % {MEMBERS}" if item == 0 else f"(:seed + {7919 * item}) % {MEMBERS}"


def seeded_key(name: str, keys: tuple[str, ...], item: int) -> Role:
    return Role(name, keys, f"'bench-' || :seed || '-{item}'")


def post(data: dict, client_index: int, *, url: str, body: dict, key: str) -> dict:
    """One POST through the test client as station client_index's device; its JSON answer."""
    from django.test import Client
    from django.test.utils import override_settings

    token = data["staff"][client_index]["token"]
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_IDEMPOTENCY_KEY=key)
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        response = client.post(url, json.dumps(body), content_type="application/json")
    if response.status_code not in (200, 201):
        raise SystemExit(f"the bench's own POST {url} failed: {response.status_code} {response.content[:300]!r}")
    return response.json()


def literal_of():
    """psycopg's SQL literal of a value, as the script writes a constant parameter."""
    from django.db import connection
    from psycopg import sql

    connection.ensure_connection()
    return lambda value: sql.Literal(value).as_string(connection.connection)


# The pgbench clients (stations) whose requests are captured: spaced unevenly, so that the ids
# the captured requests' INSERTs return (consecutive) never match the stations', users' or
# accounts' ids (consecutive too) in all three captures.
CAPTURED_CLIENTS = (0, 5, 2)
# The members of the captured requests, drawn at random (the same every run): in no arithmetic
# relation with the clients' numbers or with each other, so that no id of theirs can be taken
# for a station's or a user's.
CAPTURED_MEMBERS = random.Random(13).sample(range(MEMBERS), 3 * (1 + BATCH_SIZE))


def stagger_ids(n: int) -> None:
    """Before capture n: move each write-path table's id sequence on by n times a step of its own
    (table k by n * (k + 1)), so that the ids one request's INSERTs return differ from table to
    table, and from the stations', in the three captures, however the sequences stood."""
    from django.db import connection

    if not n:
        return
    with connection.cursor() as cursor:
        for k, table in enumerate((*WRITE_PATH_TABLES, OLD_KEY_TABLE)):
            cursor.execute("SELECT to_regclass(%s)", [table])
            if cursor.fetchone()[0] is None:
                continue
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            (sequence,) = cursor.fetchone()
            if sequence is not None:
                cursor.execute("SELECT setval(%s, nextval(%s) + %s)", [sequence, sequence, n * (k + 1) - 1])


def single_captures(data: dict) -> tuple[list[list], list[Role]]:
    """One drop-off POST captured as each of CAPTURED_CLIENTS (for three CAPTURED_MEMBERS), and its roles."""
    captures, keys = [], []
    members = tuple(CAPTURED_MEMBERS[:3])
    for n, (client, member) in enumerate(zip(CAPTURED_CLIENTS, members, strict=True)):
        stagger_ids(n)
        key = f"bench-{uuid.uuid4().hex}"
        body = {"station": data["staff"][client]["station"], "member_code": member_code(member), "cartons": 1}
        events, _answer = capture(functools.partial(post, data, client, url="/api/v1/dropoffs/", body=body, key=key))
        captures.append(events)
        keys.append(key)
    roles = station_roles(data) + member_roles(data, "member", members, seeded_member(0))
    roles.append(seeded_key("key", tuple(keys), 0))
    return captures, roles


def endpoint_script(data: dict) -> list[str]:
    """What one drop-off POST sends, as a pgbench script."""
    captures, roles = single_captures(data)
    return [SEED, HEALTH_CHECK] + PgScript(roles).render(captures, literal=literal_of())


def minimal_script(data: dict) -> list[str]:
    """The minimal drop-off: the captured POST's writes on the four tables, in one transaction."""
    captures, roles = single_captures(data)
    kept = [[e for e in events if isinstance(e, Statement) and e.shape in MINIMAL_WRITES] for events in captures]
    found = [e.shape for e in kept[0]]
    expected = {"the drop-off": 1, "its transfer": 1, "the key's record": 1}
    counts = {what: sum(1 for s in found if MINIMAL_WRITES[s] == what) for what in expected}
    balances = sum(1 for s in found if s.endswith("update recycling_account"))
    if counts != expected or not 1 <= balances <= 2:
        raise SystemExit(f"the drop-off POST no longer writes what the minimal drop-off is made of: {found}")
    lines = PgScript(roles).render([[BEGIN, *events, COMMIT] for events in kept], literal=literal_of())
    return [SEED] + lines


def batch_script(data: dict) -> list[str]:
    """What one batch of BATCH_SIZE sends, each item with its own member and key."""
    captures, keys, items = [], [], [[] for _ in range(BATCH_SIZE)]
    for n, client in enumerate(CAPTURED_CLIENTS):
        stagger_ids(n)
        members = CAPTURED_MEMBERS[3 + n * BATCH_SIZE : 3 + (n + 1) * BATCH_SIZE]
        batch_items = [
            {"idempotency_key": f"bench-{uuid.uuid4().hex}", "member_code": member_code(m), "cartons": 1}
            for m in members
        ]
        key = f"bench-{uuid.uuid4().hex}"
        body = {"station": data["staff"][client]["station"], "items": batch_items}
        send = functools.partial(post, data, client, url="/api/v1/dropoffs/batch/", body=body, key=key)
        events, answer = capture(send)
        if answer.get("created") != BATCH_SIZE:
            raise SystemExit(f"the bench's own batch was not recorded: {answer}")
        captures.append(events)
        keys.append(key)
        for i, (member, item) in enumerate(zip(members, batch_items, strict=True)):
            items[i].append((member, item["idempotency_key"]))
    roles = station_roles(data) + [seeded_key("batch key", tuple(keys), 0)]
    for i, captured in enumerate(items, start=1):
        roles += member_roles(data, f"item {i} member", tuple(m for m, _k in captured), seeded_member(i))
        roles.append(seeded_key(f"item {i} key", tuple(k for _m, k in captured), i))
    return [SEED, HEALTH_CHECK] + PgScript(roles).render(captures, literal=literal_of())


def create_bare_tables() -> None:
    """The write path's tables again in schema bench_bare, with their rows, their primary and
    unique keys and identity columns, and nothing else."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {BARE_SCHEMA} CASCADE")
        cursor.execute(f"CREATE SCHEMA {BARE_SCHEMA}")
        made = []
        for table in (*WRITE_PATH_TABLES, OLD_KEY_TABLE):
            cursor.execute("SELECT to_regclass(%s)", [f"public.{table}"])
            if cursor.fetchone()[0] is None:
                continue
            made.append(table)
            cursor.execute(
                f"CREATE TABLE {BARE_SCHEMA}.{table} (LIKE public.{table} INCLUDING DEFAULTS INCLUDING IDENTITY)"
            )
            cursor.execute(f"INSERT INTO {BARE_SCHEMA}.{table} OVERRIDING SYSTEM VALUE SELECT * FROM public.{table}")
            cursor.execute(
                "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass"
                " AND (i.indisprimary OR i.indisunique)",
                [f"public.{table}"],
            )
            for (definition,) in cursor.fetchall():
                bare = re.sub(r" ON (public\.)?", f" ON {BARE_SCHEMA}.", definition, count=1)
                cursor.execute(bare.replace("CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX bare_", 1))
            cursor.execute(
                "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attidentity <> ''",
                [f"{BARE_SCHEMA}.{table}"],
            )
            for (column,) in cursor.fetchall():
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence(%s, %s), coalesce(max({column}), 0) + 1, false)"
                    f" FROM {BARE_SCHEMA}.{table}",
                    [f"{BARE_SCHEMA}.{table}", column],
                )
            cursor.execute(f"ANALYZE {BARE_SCHEMA}.{table}")
    print(f"bare copies of {', '.join(made)} made in {time.perf_counter() - started:.1f} s")


class BackendCpu:
    """CPU seconds spent by the PostgreSQL backends connected to one database, between start()
    and stop(): /proc sampled every SAMPLE_SECONDS, a backend that starts meanwhile counted from
    zero, one that exits at its last sample."""

    def __init__(self, database: str):
        self.database = database
        self._names: dict[int, str | None] = {}  # pid -> the database its backend serves (None: not a backend)

    def _sample(self) -> dict[int, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        used = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                if pid not in self._names:
                    with open(f"/proc/{pid}/cmdline", "rb") as file:
                        words = file.read().replace(b"\0", b" ").decode(errors="replace").split()
                    # "postgres: [CLUSTER:] USER DATABASE HOST(PORT) STATE"
                    words = words[1:] if words[:1] == ["postgres:"] else []
                    words = words[1:] if words and words[0].endswith(":") else words
                    self._names[pid] = words[1] if len(words) > 2 else None
                if self._names[pid] != self.database:
                    continue
                with open(f"/proc/{pid}/stat") as stat:
                    text = stat.read()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / ticks
        return used

    def start(self) -> "BackendCpu":
        self._before = self._sample()
        self._last = dict(self._before)
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while self._running:
            time.sleep(SAMPLE_SECONDS)
            self._last.update(self._sample())

    def stop(self) -> float:
        self._running = False
        self._thread.join()
        self._last.update(self._sample())
        return sum(seconds - self._before.get(pid, 0.0) for pid, seconds in self._last.items())


def run_pgbench(lines: list[str], *, search_path: str | None = None) -> tuple[float, float]:
    """Transactions per second of the script, CLIENTS clients, DURATION seconds; and the CPU its
    PostgreSQL backends spent per transaction, in milliseconds."""
    import environ

    config = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as file:
        file.write("\n".join(lines) + "\n")
    command = ["pgbench", "-n", "-c", str(CLIENTS), "-j", "2", "-T", str(int(DURATION)), "-f", file.name]
    command += ["-h", config["HOST"], "-p", str(config["PORT"] or 5432), "-U", config["USER"], config["NAME"]]
    env = {**os.environ, "PGPASSWORD": config["PASSWORD"] or ""}
    if search_path:
        env["PGOPTIONS"] = f"-c search_path={search_path}"
    cpu = BackendCpu(config["NAME"]).start()
    try:
        run = subprocess.run(command, capture_output=True, text=True, env=env)
    finally:
        spent = cpu.stop()
        os.unlink(file.name)
    processed = re.search(r"number of transactions actually processed: (\d+)", run.stdout)
    if run.returncode != 0 or "tps = " not in run.stdout or processed is None:
        raise SystemExit(f"pgbench failed:\n{run.stdout}\n{run.stderr}\nscript:\n" + "\n".join(lines[:40]))
    tps = float(re.search(r"tps = ([0-9.]+)", run.stdout).group(1))
    return tps, spent * 1000 / int(processed.group(1))


# --- The API under gunicorn, driven by wrk ------------------------------------------------------------


def port_open() -> bool:
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
        return True
    except OSError:
        return False


def start_gunicorn() -> subprocess.Popen:
    if port_open():
        raise SystemExit(f"port {PORT} is already in use: stop what listens there, or set BENCH_PORT")
    url = os.environ["DATABASE_URL"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_SERVER_SETTINGS", "config.settings.base"),
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-not-a-secret",
        "ALLOWED_HOSTS": "127.0.0.1",
        # Persistent database connections: one per gunicorn worker, as a production setting would,
        # checked at the start of each request that uses them (a PostgreSQL restart costs no 500).
        "DATABASE_URL": url + ("&" if "?" in url else "?") + "conn_max_age=600&conn_health_checks=True",
        "API_THROTTLE_USER": "1000000/s",
        "API_THROTTLE_STATION": "1000000/s",
    }
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{PORT}",
         "--worker-class", "sync", "--workers", str(GUNICORN_WORKERS), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        if port_open():
            return server
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")


def run_wrk(data: dict, *, batch: bool, seconds: float) -> dict:
    """wrk's WRK line (bench/dropoffs.lua) after `seconds` of CLIENTS connections POSTing."""
    stations = [f"{station['station']}:{station['token']}" for station in data["staff"]]
    command = ["wrk", "-t", str(CLIENTS), "-c", str(CLIENTS), "-d", f"{seconds:.0f}s", "--timeout", "10s"]
    command += ["-s", str(ROOT / "bench/dropoffs.lua"), f"http://127.0.0.1:{PORT}", "--"]
    command += ["batch" if batch else "single", str(BATCH_SIZE), str(MEMBERS), MEMBER_CODE_PREFIX, *stations]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(next(line for line in output.splitlines() if line.startswith("WRK "))[4:])


def measure(data: dict, *, batch: bool, server_pid: int) -> tuple[dict, dict]:
    """A warm-up run, then the measured one; its WRK figures and the CPU per drop-off by group."""
    import environ

    run_wrk(data, batch=batch, seconds=WARMUP)
    backends = BackendCpu(environ.Env.db_url_config(os.environ["DATABASE_URL"])["NAME"]).start()
    before = cpu_seconds(server_pid=server_pid)
    result = run_wrk(data, batch=batch, seconds=DURATION)
    after = cpu_seconds(server_pid=server_pid)
    after["postgres", 0] = backends.stop()
    if not result["recorded"]:
        print(f"wrk recorded no drop-off in {DURATION:g} s ({'batches' if batch else 'single POSTs'}): run longer")
    return result, cpu_per_request(before, after, result["recorded"])


def cpu_seconds(*, server_pid: int) -> dict[tuple[str, int], float]:
    """CPU seconds (user + system) used so far by each process of gunicorn (its master and
    workers) and by wrk, by (group, pid); wrk's own figure is counted from its exit (see
    cpu_per_request). PostgreSQL's backends are BackendCpu's."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {("wrk", 0): os.times().children_user + os.times().children_system}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat") as stat:
                text = stat.read()
        except OSError:
            continue  # exited meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        if pid == server_pid or int(fields[1]) == server_pid:
            used["gunicorn", pid] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def cpu_per_request(before: dict, after: dict, drop_offs: int) -> dict[str, float]:
    """Milliseconds of CPU per drop-off by group, between two cpu_seconds() snapshots: where the
    machine's time went. wrk's is this process's children's time (wrk is the only child that
    runs in between)."""
    spent = {"gunicorn": 0.0, "postgres": 0.0, "wrk": 0.0}
    for (group, pid), seconds in after.items():
        spent[group] += seconds - before.get((group, pid), 0.0)
    return {group: total * 1000 / max(drop_offs, 1) for group, total in spent.items()}


def paced_latencies(data: dict, *, rate: float) -> tuple[list[float], int]:
    """Latencies of single POSTs sent at `rate` per second by the CLIENTS devices (bench/paced.py)."""
    rng = random.Random(42)
    devices = [(station["station"], station["token"]) for station in data["staff"]]

    def body_for(station: int) -> dict:
        return {"member_code": f"{MEMBER_CODE_PREFIX}{rng.randrange(MEMBERS):011d}", "cartons": 1}

    return asyncio.run(paced_posts(port=PORT, devices=devices, rate=rate, seconds=DURATION, body_for=body_for))


def latency_ms(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99, in milliseconds (infinite if nothing was answered)."""
    if len(latencies) < 2:
        return (latencies[0] * 1000,) * 2 if latencies else (float("inf"),) * 2
    centiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return centiles[49] * 1000, centiles[98] * 1000


def paced_rows(label: str, latencies: list[float], references: tuple[float, float], *, judged: bool) -> list[tuple]:
    """The table's rows for a paced load: its rate against the references, then its p50 and p99."""
    p50, p99 = latency_ms(latencies)
    rate = len(latencies) / DURATION
    target = (f"< {P99_TARGET_MS:.0f} ms", p99 < P99_TARGET_MS) if judged else ("", None)
    return [
        Row(label, rate, references=references),
        Row("  their p50 latency (ms)", p50),
        Row("  their p99 latency (ms)", p99, before=BEFORE["p99"] if judged else "", target=target[0], ok=target[1]),
    ]


class Row:
    """A line of the table: a figure, the one quoted from before issue 13, its ratios to the two
    references (the minimal drop-off and the endpoint's SQL), and its target."""

    def __init__(self, name, value, *, before="", references=(None, None), times=False, target="", ok=None):
        self.name, self.value, self.before, self.target, self.ok = name, value, before, target, ok
        self.references, self.times = references, times

    def cells(self) -> list[str]:
        cells = [self.name, f"{self.value:,.2f}" if self.value < 10 else f"{self.value:,.1f}", self.before]
        for reference in self.references:
            ratio = self.value / reference if reference else None
            cells.append("" if ratio is None else f"{ratio:.2f}x" if self.times else f"{ratio:.1%}")
        return cells + [self.target, "" if self.ok is None else "yes" if self.ok else "NO"]


def print_table(rows: list[Row]) -> None:
    header = ["figure", "value", "before", "/ minimal", "/ endpoint SQL", "target", "pass"]
    table = [header] + [row.cells() for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(width) if i in (0, 2, 5) else cell.rjust(width)
                        for i, (cell, width) in enumerate(zip(line, widths, strict=True))))  # fmt: skip


def main() -> int:
    global DURATION
    parser = argparse.ArgumentParser(description="The API benchmark (see the module docstring).")
    parser.add_argument(
        "--seconds", type=float, default=DURATION, help="length of each measured run (default %(default)s)"
    )
    parser.add_argument("--scripts", action="store_true", help="print the pgbench scripts made, and stop")
    arguments = parser.parse_args()
    DURATION = arguments.seconds
    missing = [tool for tool in ("pgbench", "wrk") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"bench_api.py needs {' and '.join(missing)}: apt-get install postgresql-client wrk")
    ensure_database(os.environ["DATABASE_URL"])
    data = set_up()
    minimal, endpoint, batch = minimal_script(data), endpoint_script(data), batch_script(data)
    if arguments.scripts:
        for name, lines in (("minimal drop-off", minimal), ("endpoint", endpoint), ("batch", batch)):
            print(f"--- {name}\n" + "\n".join(lines))
        return 0
    create_bare_tables()
    from django.db import connection

    with connection.cursor() as cursor:
        unread = describe_write_path(cursor)
    connection.close()
    load_before = os.getloadavg()[0]
    server = start_gunicorn()
    try:
        pg_minimal, minimal_cpu = run_pgbench(minimal)
        pg_bare, bare_cpu = run_pgbench(minimal, search_path=f"{BARE_SCHEMA},public")
        pg_single, endpoint_cpu = run_pgbench(endpoint)
        single, single_cpu = measure(data, batch=False, server_pid=server.pid)
        rps = single["recorded"] / single["seconds"]
        busy = {share: paced_latencies(data, rate=share * rps) for share in BUSY_SHARES}
        pg_batch_tps, batch_sql_cpu = run_pgbench(batch)
        batched, batch_cpu = measure(data, batch=True, server_pid=server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    pg_batch = pg_batch_tps * BATCH_SIZE
    batch_rate = batched["recorded"] / batched["seconds"]
    p99_paced = latency_ms(busy[P99_SHARE][0])[1]
    single_ratio, batch_ratio = rps / pg_minimal, batch_rate / pg_minimal
    cpu_ratio = single_cpu["postgres"] / minimal_cpu
    failed = {
        "single": single["bad"] + single["socket_errors"],
        "paced": sum(failures for _latencies, failures in busy.values()),
        "batch": batched["bad"] + batched["socket_errors"],
    }
    refs = (pg_minimal, pg_single)
    rows = [
        Row("minimal drop-off, pgbench (tx/s)", pg_minimal, before=BEFORE["minimal"], references=refs),
        Row("  PostgreSQL CPU per transaction (ms)", minimal_cpu, before=BEFORE["minimal_cpu"],
            references=(minimal_cpu, endpoint_cpu), times=True),
        Row("minimal drop-off, bare tables (tx/s)", pg_bare, references=refs),
        Row("  PostgreSQL CPU per transaction (ms)", bare_cpu, references=(minimal_cpu, endpoint_cpu), times=True),
        Row("endpoint's SQL, pgbench (tx/s)", pg_single, references=refs),
        Row("  PostgreSQL CPU per transaction (ms)", endpoint_cpu, references=(minimal_cpu, endpoint_cpu), times=True),
        Row(f"single POSTs, {CLIENTS} clients flat out (req/s)", rps, before=BEFORE["single"], references=refs,
            target=f">= {SINGLE_RATIO_TARGET:.0%}", ok=single_ratio >= SINGLE_RATIO_TARGET),
        Row("  their p50 latency (ms)", single["p50_us"] / 1000),
        Row("  their p99 latency (ms)", single["p99_us"] / 1000),
        Row("  PostgreSQL CPU per POST (ms)", single_cpu["postgres"], before=BEFORE["post_cpu"],
            references=(minimal_cpu, endpoint_cpu), times=True, target=f"<= {PG_CPU_RATIO_TARGET:.0f}x",
            ok=cpu_ratio <= PG_CPU_RATIO_TARGET),
        *[row for share, (latencies, _failed) in busy.items()
          for row in paced_rows(f"single POSTs at {share:.0%} of flat out (req/s)", latencies, refs,
                                judged=share == P99_SHARE)],
        Row(f"endpoint's batch SQL, pgbench (drop-offs/s, {BATCH_SIZE}/batch)", pg_batch, references=refs),
        Row(f"batched drop-offs ({BATCH_SIZE}/request, /s)", batch_rate, before=BEFORE["batch"],
            references=(pg_minimal, pg_batch), target=f">= {BATCH_RATIO_TARGET:.0%}",
            ok=batch_ratio >= BATCH_RATIO_TARGET),
        Row("  PostgreSQL CPU per batched drop-off (ms)", batch_cpu["postgres"],
            references=(minimal_cpu, batch_sql_cpu / BATCH_SIZE), times=True),
    ]  # fmt: skip
    print(f"\n{CLIENTS} clients, {DURATION:g} s each; gunicorn {GUNICORN_WORKERS} sync workers")
    print(
        f"load average (1 min) before the run: {load_before:.2f}, after: {os.getloadavg()[0]:.2f}"
        f" on {os.cpu_count()} cores (the figures are only comparable on a quiet machine)"
    )
    print("failed requests: " + ", ".join(f"{name} {count}" for name, count in failed.items()))
    for label, spent in (("single POST", single_cpu), ("batched drop-off", batch_cpu)):
        print(f"CPU per {label} (ms): " + ", ".join(f"{name} {ms:.2f}" for name, ms in spent.items()))
    print("(the batch row's second ratio is to the endpoint's batch SQL; the CPU rows' to each reference's CPU)")
    print_table(rows)
    if unread:
        print("indexes and foreign keys on the write path that nothing reads: " + ", ".join(unread))
    print(
        f"RESULT api_single_ratio={single_ratio:.3f} api_p99_ms={p99_paced:.1f} api_batch_ratio={batch_ratio:.3f}"
        f" api_pg_cpu_ratio={cpu_ratio:.2f} minimal_tps={pg_minimal:.0f} bare_tps={pg_bare:.0f}"
    )
    single_row = rows[6]
    p99_row = next(row for row in rows if row.target.startswith("<") and "ms" in row.target)
    figure("single drop-off POSTs", rps, "req/s", reference=pg_minimal, target=single_row.target, passed=single_row.ok)
    figure(f"single POSTs at {P99_SHARE:.0%} of flat out: p99", p99_paced, "ms", reference=None,
           target=p99_row.target, passed=p99_row.ok)  # fmt: skip
    figure("batched drop-offs", batch_rate, "/s", reference=pg_minimal, target=rows[-2].target, passed=rows[-2].ok)
    figure("PostgreSQL CPU per drop-off POST", single_cpu["postgres"], "ms", reference=minimal_cpu,
           target=rows[9].target, passed=rows[9].ok)  # fmt: skip
    judged = [row.ok for row in rows if row.ok is not None]
    return 0 if all(judged) and not any(failed.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
