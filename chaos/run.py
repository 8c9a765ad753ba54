"""Run the chaos run (see chaos/__init__.py): `python chaos/run.py [--duration 120] [--seed 1]`."""

import argparse
import json
import math
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chaos import processes  # noqa: E402
from chaos.client import run_client  # noqa: E402

FAULT_KINDS = ["gunicorn_worker", "celery_child", "celery_worker", "redis_restart", "postgres_restart"]
TASK_BURST = 24  # aggregate tasks queued right before a pool child is killed, so it dies mid-task
GRACE_SECONDS = 45  # after the load stops, how long a client may still retry an operation


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=120, help="seconds of load and faults (default 120)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the faults and the clients (default 1)")
    parser.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    parser.add_argument("--fault-interval", type=float, default=3.5, help="mean seconds between faults (default 3.5)")
    parser.add_argument(
        "--min-faults", type=int, help="fail below this many faults (default: duration / 6, at least one per kind)"
    )
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--database", default="greenbox_chaos", help="dropped and recreated; must start greenbox_chaos")
    parser.add_argument("--redis-db", type=int, default=14, help="Redis database number for the broker and cache")
    args = parser.parse_args()
    if args.min_faults is None:
        args.min_faults = max(len(FAULT_KINDS), math.floor(args.duration / 6))
    return args


class Faults:
    """The fault loop's state: a seeded order (rounds that hold each kind once), the log, the counts."""

    def __init__(self, *, rng: random.Random, services: dict, log: Path):
        self.rng, self.services, self.log_path = rng, services, log
        self.queue: list[str] = []
        self.count = Counter()
        self.recoveries = Counter()

    def record(self, event: dict) -> None:
        with open(self.log_path, "a") as log:
            log.write(json.dumps({"t": round(time.time(), 3), **event}) + "\n")

    def next_kind(self) -> str:
        if not self.queue:
            self.queue = self.rng.sample(FAULT_KINDS, len(FAULT_KINDS))
        return self.queue.pop(0)

    def inject(self) -> None:
        kind = self.next_kind()
        started = time.monotonic()
        detail = getattr(self, kind)()
        self.count[kind] += 1
        self.record(
            {"fault": kind, "n": sum(self.count.values()), **detail, "took": round(time.monotonic() - started, 2)}
        )
        print(f"  fault {sum(self.count.values()):>2} {kind:<17} {detail}", flush=True)

    def gunicorn_worker(self) -> dict:
        workers = processes.children(self.services["gunicorn"].pid)
        victim = self.rng.choice(workers)
        os.kill(victim, signal.SIGKILL)
        return {"pid": victim}

    def celery_child(self) -> dict:
        from config.celery import app

        today = datetime.now().date()  # noqa: DTZ005 (any nearby days will do)
        for n in range(TASK_BURST):
            app.send_task("recycling.aggregate_day_totals", args=[(today - timedelta(days=n % 3)).isoformat()])
        victim, busy = processes.busy_child(self.services["worker"].pid, rng=self.rng)
        if victim is None:
            return {"pid": None, "note": "no pool child yet"}
        os.kill(victim, signal.SIGKILL)
        return {"pid": victim, "busy": busy, "queued": TASK_BURST}

    def celery_worker(self) -> dict:
        worker = self.services["worker"]
        pid = worker.pid
        worker.kill_group()
        worker.process.wait()
        time.sleep(self.rng.uniform(0.5, 2))
        worker.start()
        return {"pid": pid, "restarted_as": worker.pid}

    def redis_restart(self) -> dict:
        processes.restart_redis()
        return {}

    def postgres_restart(self) -> dict:
        processes.restart_postgres()
        return {}

    def recover(self) -> None:
        """Bring back whatever is down: PostgreSQL, Redis, or a service process that died."""
        for what in processes.ensure_infrastructure():
            self.recoveries[what] += 1
            self.record({"recovered": what})
        for name, service in self.services.items():
            if service.ensure():
                self.recoveries[name] += 1
                self.record({"recovered": name})
                print(f"  recovered {name} (it had exited)", flush=True)


def main() -> int:
    args = parse_args()
    # A SIGTERM (a CI timeout) unwinds like Ctrl-C, through the finally that stops every process.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    logs = ROOT / "var" / "chaos" / datetime.now().strftime("%Y%m%d-%H%M%S")  # noqa: DTZ005
    logs.mkdir(parents=True)
    database_url = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="chaos.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CHAOS_ERROR_LOG=str(logs / "server-errors.jsonl"),
    )
    print(f"Chaos run: {args.duration:.0f} s, seed {args.seed}, {args.clients} clients; logs in {logs}", flush=True)
    processes.ensure_infrastructure()
    from chaos import seed

    seed.create_database(url=database_url)
    import django

    django.setup()
    data = seed.seed(clients=args.clients, schedule_seconds=5)
    subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-n", str(args.redis_db), "flushdb"], check=True, capture_output=True
    )
    from django.db import connections

    connections.close_all()  # the restarts would break it; the audit opens a fresh one

    services = processes.make_services(env=dict(os.environ), port=args.port, logs=logs)
    faults = Faults(rng=random.Random(args.seed), services=services, log=logs / "faults.jsonl")
    context = multiprocessing.get_context("spawn")  # the clients share nothing with this process
    stop, stop_deadline = context.Event(), context.Value("d", math.inf)
    clients = []
    try:
        for service in services.values():
            service.start()
        for n in range(args.clients):
            client = context.Process(
                target=run_client,
                args=(n, args.port, data, args.seed, str(logs / f"ops-{n}.jsonl"), stop, stop_deadline),
                daemon=True,
            )
            client.start()
            clients.append(client)
        print("Load and faults:", flush=True)
        started = time.monotonic()
        end = started + args.duration
        next_fault = started + faults.rng.uniform(1.0, 2.0)
        while (now := time.monotonic()) < end:
            if now >= next_fault:
                faults.inject()
                next_fault = max(next_fault, time.monotonic() - 1) + args.fault_interval * faults.rng.uniform(0.6, 1.4)
            faults.recover()
            time.sleep(min(0.5, max(0.0, min(next_fault, end) - time.monotonic())))
        faults.recover()
        stop_deadline.value = time.time() + GRACE_SECONDS
        stop.set()
        print("Stopping the clients (their last operations may still retry).", flush=True)
        for client in clients:
            client.join(timeout=GRACE_SECONDS + 30)
        time.sleep(2)  # the worker finishes what it holds
    finally:
        stop.set()
        for client in clients:
            if client.is_alive():
                client.terminate()
                client.join(5)
        for service in services.values():
            service.stop()
        processes.ensure_infrastructure()

    from chaos.checks import audit

    report = audit(logs=logs, data=data)
    print_summary(args, report, faults, services, logs)
    return 1 if report.violations or sum(faults.count.values()) < args.min_faults else 0


def print_summary(args, report, faults: Faults, services: dict, logs: Path) -> None:
    total = Counter()
    for outcomes in report.operations.values():
        total.update(outcomes)
    print("\nOperations (sent = acknowledged + refused + unacknowledged):")
    print(f"  {'':<10}{'sent':>7}{'acked':>7}{'refused':>9}{'unacked':>9}")
    for kind, outcomes in sorted(report.operations.items()) + [("total", total)]:
        sent = sum(outcomes.values())
        print(f"  {kind:<10}{sent:>7}{outcomes['acked']:>7}{outcomes['refused']:>9}{outcomes['unacked']:>9}")
    items = report.items
    print(
        f"  batch items: {sum(items.values())} sent, {items['acked']} acknowledged, "
        f"{items['refused']} refused, {items['unacked']} unacknowledged"
    )
    retried = ", ".join(f"{why} {n}" for why, n in report.retries.most_common()) or "none"
    print(f"  answers that were retried with the same key: {retried}")
    worker_log = (logs / "celery-worker.log").read_text(errors="replace")
    print(
        f"Faults injected: {sum(faults.count.values())} (minimum {args.min_faults}): "
        + ", ".join(f"{kind} {faults.count[kind]}" for kind in FAULT_KINDS)
    )
    print(
        f"  tasks interrupted mid-run (WorkerLostError): {worker_log.count('WorkerLostError')}; "
        f"tasks succeeded: {worker_log.count('succeeded in')}; "
        f"processes that exited and were restarted: {dict(faults.recoveries) or 'none'}"
    )
    for note in report.notes:
        print(f"  {note}")
    print(f"Violations: {len(report.violations)}")
    for violation in report.violations[:50]:
        print(f"  {violation}")
    if len(report.violations) > 50:
        print(f"  ... and {len(report.violations) - 50} more")
    if sum(faults.count.values()) < args.min_faults:
        print(f"Too few faults: {sum(faults.count.values())} < {args.min_faults}")
    print(f"Logs: {logs}")


if __name__ == "__main__":
    sys.exit(main())
