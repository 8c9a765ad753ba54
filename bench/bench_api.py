"""Benchmark: drop-off POSTs through the REST API under gunicorn, against pgbench running the
same SQL transaction, on PostgreSQL.

    python bench/bench_api.py          (or `make bench`)

Needs PostgreSQL and pgbench (Debian's postgresql-client). DATABASE_URL defaults to
postgres://postgres@127.0.0.1:5432/greenbox_bench_api, which is created and migrated if
missing; the first run adds a bench city (BA), 12 stations with a staff user and token each,
and 20,000 members. Then, for DURATION seconds each, with CLIENTS concurrent clients:

1. pgbench runs the drop-off transaction the service commits (lock the member's and the
   station's accounts, insert the drop-off, insert the transfer, move both balances, add to
   the carton inventory): the reference in transactions per second;
2. CLIENTS threads, each a station device on a keep-alive connection, POST single drop-offs
   (with an Idempotency-Key) to gunicorn: requests per second, p50 and p99 latency;
3. pgbench again, then the same threads POST batches of BATCH_SIZE drop-offs: drop-offs per second.

It prints a table (figure, reference, ratio, target, pass) and the load average before and
after; the last line is machine-readable:
    RESULT api_single_ratio=0.15 api_p99_ms=41.2 api_batch_ratio=0.52
The exit status is 1 if a target is missed. BENCH_SECONDS, BENCH_PORT, BENCH_SERVER_SETTINGS
(the settings module gunicorn runs with, default config.settings.base), BENCH_WORKERS and
BENCH_THREADS (gunicorn's processes and threads per process) adjust a run.

The server runs as production would: DEBUG off, persistent database connections with a health
check at the start of each request (conn_max_age, conn_health_checks in DATABASE_URL), throttles
lifted (API_THROTTLE_*: the bench's few users would otherwise be throttled, which is the point
of throttles but not what this measures).
"""

import http.client
import json
import os
import random
import re
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
from report import figure  # bench/report.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/greenbox_bench_api")

CLIENTS = 12
DURATION = float(os.environ.get("BENCH_SECONDS", "15"))
WARMUP = 2.0
BATCH_SIZE = 50
STATIONS = 12
MEMBERS = 20_000
PORT = int(os.environ.get("BENCH_PORT", "8765"))
# 2 cores shared by gunicorn, PostgreSQL, pgbench and the load generator; a drop-off request is
# mostly Python, so the cores are the limit, not the database. 2 processes (one per core) with
# 6 threads each serve the 12 keep-alive connections at once, a thread running while another
# waits on PostgreSQL. Measured on this machine (single POSTs): 2 x 6 used 12.2 ms of gunicorn
# CPU per request, 4 x 3 13.9 ms and 12 x 1 17.2 ms (more processes: more context switches and
# cold caches for the same work), at the same throughput within noise.
GUNICORN_WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
GUNICORN_THREADS = int(os.environ.get("BENCH_THREADS", "6"))
SINGLE_RATIO_TARGET = 0.12
P99_TARGET_MS = 50.0
BATCH_RATIO_TARGET = 0.40
PREFIX = "BA"


def set_up() -> dict:
    """Migrate, create the bench data once, and return what the clients and pgbench need."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from recycling.ledger import issuance_account
    from recycling.models import Account, CartonInventory, EarningRule, EmissionFactor, Member
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
    for station in stations:
        issuance_account(station=station)
        CartonInventory.objects.get_or_create(station=station)
    tokens = []
    for n, station in enumerate(stations):
        user, _created = User.objects.get_or_create(username=f"bench-staff-{n}")
        StationStaff.objects.get_or_create(user=user, station=station)
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    if not Member.objects.filter(mobile__startswith="1990").exists():
        users = User.objects.bulk_create(User(username=f"bench-member-{n}", password="!") for n in range(MEMBERS))
        members = Member.objects.bulk_create(
            Member(user=user, mobile=f"1990{n:07d}", code=f"BENCH{n:011d}") for n, user in enumerate(users)
        )
        Account.objects.bulk_create(Account(kind=Account.Kind.MEMBER, member=member) for member in members)
    members = list(
        Member.objects.filter(mobile__startswith="1990").order_by("pk").values_list("pk", "code", "account__pk")
    )
    issuers = [issuance_account(station=station).pk for station in stations]
    return {
        "stations": [station.pk for station in stations],
        "tokens": tokens,
        "members": members,
        "issuers": issuers,
        "rule": EarningRule.objects.get(city=city).pk,
        "factor": EmissionFactor.objects.order_by("-valid_from").first().pk,
        "staff_user": User.objects.get(username="bench-staff-0").pk,
    }


PGBENCH_SCRIPT = """
\\set i random(0, :nmembers - 1)
\\set s random(0, :nstations - 1)
BEGIN;
SELECT id, balance FROM recycling_account WHERE id IN (:acct0 + :i, :issuer0 + :s) ORDER BY id FOR UPDATE;
INSERT INTO recycling_dropoff (station_id, member_id, cartons, earning_cartons, points, rule_id, emission_factor_id,
    logged_by_id, occurred_at, recorded_at, idempotency_key, status, void_reason)
    VALUES (:station0 + :s, :member0 + :i, 1, 1, 10, :rule, :factor, :staff, now(), now(),
            'pgbench:' || gen_random_uuid(), 'accepted', '');
INSERT INTO recycling_transfer (debit_account_id, credit_account_id, amount, kind, idempotency_key, created_at,
    dropoff_id, station_id)
    VALUES (:issuer0 + :s, :acct0 + :i, 10, 'earning', 'pgbench:' || gen_random_uuid(), now(),
            currval('recycling_dropoff_id_seq'), :station0 + :s);
UPDATE recycling_account SET balance = balance - 10 WHERE id = :issuer0 + :s;
UPDATE recycling_account SET balance = balance + 10 WHERE id = :acct0 + :i;
UPDATE recycling_cartoninventory SET on_hand = on_hand + 1 WHERE station_id = :station0 + :s;
COMMIT;
"""


def run_pgbench(data: dict) -> float:
    """Transactions per second of the drop-off transaction, CLIENTS clients, DURATION seconds."""
    import environ

    config = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    members = data["members"]
    # The bench's ids are contiguous (bulk-created in order); check before relying on it.
    assert [m[0] - members[0][0] for m in members] == list(range(len(members)))
    assert [m[2] - members[0][2] for m in members] == list(range(len(members)))
    assert data["stations"] == list(range(data["stations"][0], data["stations"][0] + STATIONS))
    assert data["issuers"] == list(range(data["issuers"][0], data["issuers"][0] + STATIONS))
    variables = {
        "nmembers": len(members),
        "nstations": STATIONS,
        "member0": members[0][0],
        "acct0": members[0][2],
        "station0": data["stations"][0],
        "issuer0": data["issuers"][0],
        "rule": data["rule"],
        "factor": data["factor"],
        "staff": data["staff_user"],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT)
    command = ["pgbench", "-n", "-c", str(CLIENTS), "-j", "2", "-T", str(int(DURATION)), "-f", script.name]
    command += ["-h", config["HOST"], "-p", str(config["PORT"] or 5432), "-U", config["USER"]]
    for name, value in variables.items():
        command += ["-D", f"{name}={value}"]
    command.append(config["NAME"])
    env = {**os.environ, "PGPASSWORD": config["PASSWORD"] or ""}
    output = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    os.unlink(script.name)
    return float(re.search(r"tps = ([0-9.]+)", output).group(1))


def start_gunicorn() -> subprocess.Popen:
    url = os.environ["DATABASE_URL"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_SERVER_SETTINGS", "config.settings.base"),
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-not-a-secret",
        "ALLOWED_HOSTS": "127.0.0.1",
        # Persistent database connections: one per gunicorn thread, as a production setting would,
        # checked at the start of each request that uses them (a PostgreSQL restart costs no 500).
        "DATABASE_URL": url + ("&" if "?" in url else "?") + "conn_max_age=600&conn_health_checks=True",
        "API_THROTTLE_USER": "1000000/s",
        "API_THROTTLE_STATION": "1000000/s",
    }
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--worker-class",
            "gthread",
            "--workers",
            str(GUNICORN_WORKERS),
            "--threads",
            str(GUNICORN_THREADS),
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")


def load(data: dict, *, batch: bool) -> tuple[int, list[float], float, int, int]:
    """CLIENTS threads POST for DURATION seconds (after a warm-up). Returns the drop-offs
    recorded, the request latencies (s), the measured seconds, the failed requests and every
    request answered, warm-up included (for the CPU per request).

    Requests started during the warm-up are not counted; those started in the window are,
    and the window ends when the last of them has answered (a batch may take seconds)."""
    start_at = time.monotonic() + WARMUP
    stop_at = start_at + DURATION
    recorded, latencies, failures = [0] * CLIENTS, [[] for _ in range(CLIENTS)], [0] * CLIENTS
    answered = [0] * CLIENTS
    finished = [stop_at] * CLIENTS

    def client(n: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        headers = {"Authorization": f"Token {data['tokens'][n]}", "Content-Type": "application/json"}
        station, members, rng = data["stations"][n], data["members"], random.Random(n)
        while (now := time.monotonic()) < stop_at:
            if batch:
                items = [
                    {"idempotency_key": uuid.uuid4().hex, "member_code": rng.choice(members)[1], "cartons": 1}
                    for _ in range(BATCH_SIZE)
                ]
                body, url = {"station": station, "items": items}, "/api/v1/dropoffs/batch/"
            else:
                body, url = (
                    {"station": station, "member_code": rng.choice(members)[1], "cartons": 1},
                    "/api/v1/dropoffs/",
                )
            started = time.perf_counter()
            connection.request("POST", url, json.dumps(body), {**headers, "Idempotency-Key": uuid.uuid4().hex})
            response = connection.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - started
            finished[n] = time.monotonic()
            answered[n] += 1
            if now < start_at:
                continue  # warm-up
            if response.status == (200 if batch else 201):
                recorded[n] += json.loads(payload)["created"] if batch else 1
                latencies[n].append(elapsed)
            else:
                failures[n] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = max(finished) - start_at
    return sum(recorded), [x for per in latencies for x in per], seconds, sum(failures), sum(answered)


def cpu_seconds(*, server_pid: int) -> dict[tuple[str, int], float]:
    """CPU seconds (user + system) used so far by each process of gunicorn (its master and
    workers) and of PostgreSQL, and by this process (the load generator), by (group, pid);
    {} where /proc is missing. See cpu_per_request()."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {("load generator", os.getpid()): time.process_time()}
    try:
        pids = [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                text = stat.read()
        except OSError:
            continue  # exited meanwhile
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / ticks
        if pid == server_pid or int(fields[1]) == server_pid:
            used["gunicorn", pid] = seconds
        elif name == "postgres":
            used["postgres", pid] = seconds
    return used


def cpu_per_request(before: dict, after: dict, requests: int) -> dict[str, float]:
    """Milliseconds of CPU per request by group, between two cpu_seconds() snapshots: where the
    machine's time went, Python in gunicorn or PostgreSQL. PostgreSQL's figure counts every
    database's work meanwhile, and misses a backend that exited before the second snapshot."""
    spent = {"gunicorn": 0.0, "postgres": 0.0, "load generator": 0.0}
    for (group, pid), seconds in after.items():
        spent[group] += seconds - before.get((group, pid), 0.0)
    return {group: total * 1000 / requests for group, total in spent.items()}


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    ensure_database(os.environ["DATABASE_URL"])
    data = set_up()
    load_before = os.getloadavg()[0]
    server = start_gunicorn()
    try:
        pg_single = run_pgbench(data)
        cpu_before = cpu_seconds(server_pid=server.pid)
        single, single_latencies, seconds, single_failed, single_answered = load(data, batch=False)
        cpu_after = cpu_seconds(server_pid=server.pid)
        pg_batch = run_pgbench(data)
        cpu_batch_before = cpu_seconds(server_pid=server.pid)
        batched, _batch_latencies, batch_seconds, batch_failed, batch_answered = load(data, batch=True)
        cpu_batch_after = cpu_seconds(server_pid=server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    rps = single / seconds
    p50 = percentile(single_latencies, 50) * 1000
    p99 = percentile(single_latencies, 99) * 1000
    batch_rate = batched / batch_seconds
    single_ratio, batch_ratio = rps / pg_single, batch_rate / pg_batch
    rows = [
        ("single POST /dropoffs/ (req/s)", rps, pg_single, single_ratio, f">= {SINGLE_RATIO_TARGET:.0%}",
         single_ratio >= SINGLE_RATIO_TARGET),
        ("  p50 latency (ms)", p50, None, None, "", True),
        ("  p99 latency (ms)", p99, None, None, f"< {P99_TARGET_MS:.0f} ms", p99 < P99_TARGET_MS),
        (f"batched drop-offs ({BATCH_SIZE}/request, /s)", batch_rate, pg_batch, batch_ratio,
         f">= {BATCH_RATIO_TARGET:.0%}", batch_ratio >= BATCH_RATIO_TARGET),
    ]  # fmt: skip
    print(
        f"\n{CLIENTS} clients, {seconds:.0f} s each; gunicorn {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads"
    )
    print(
        f"load average (1 min) before the run: {load_before:.2f}, after: {os.getloadavg()[0]:.2f}"
        f" on {os.cpu_count()} cores"
    )
    print(f"failed requests: single {single_failed}, batch {batch_failed}")
    if cpu_before and single_answered:
        spent = cpu_per_request(cpu_before, cpu_after, single_answered)
        print("CPU per single POST (ms): " + ", ".join(f"{name} {ms:.2f}" for name, ms in spent.items()))
    if cpu_batch_before and batch_answered:
        spent = cpu_per_request(cpu_batch_before, cpu_batch_after, batch_answered * BATCH_SIZE)
        print("CPU per batched drop-off (ms): " + ", ".join(f"{name} {ms:.2f}" for name, ms in spent.items()))
    print(f"{'figure':<42}{'value':>10}{'pgbench tps':>13}{'ratio':>8}  {'target':<10}pass")
    for name, value, reference, ratio, target, ok in rows:
        ref = f"{reference:13.1f}" if reference is not None else " " * 13
        rat = f"{ratio:8.1%}" if ratio is not None else " " * 8
        print(f"{name:<42}{value:10.1f}{ref}{rat}  {target:<10}{'yes' if ok else 'NO'}")
    print(f"RESULT api_single_ratio={single_ratio:.3f} api_p99_ms={p99:.1f} api_batch_ratio={batch_ratio:.3f}")
    figure("single drop-off POSTs", rps, "req/s", reference=pg_single, target=rows[0][4], passed=rows[0][5])
    figure("single drop-off POSTs: p99 latency", p99, "ms", reference=None, target=rows[2][4], passed=rows[2][5])
    figure("batched drop-offs", batch_rate, "/s", reference=pg_batch, target=rows[3][4], passed=rows[3][5])
    return 0 if all(row[-1] for row in rows) and not single_failed and not batch_failed else 1


if __name__ == "__main__":
    sys.exit(main())
