"""The chaos run's processes and faults: gunicorn, the Celery worker and beat (each the leader of
its own process group, so that stopping one stops all its children), PostgreSQL and Redis, and
the faults injected into them."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
GUNICORN_WORKERS = 3
GUNICORN_THREADS = 4
CELERY_CONCURRENCY = 2
REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
    "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def busy_child(pid: int, *, rng, seconds: float = 10.0) -> tuple[int | None, bool]:
    """A child of `pid` that is using the CPU now (a pool process running a task), or else any
    child; and whether it was seen busy. Samples the children's CPU time every 30 ms, for up to
    `seconds` (a worker just restarted has no pool yet)."""
    deadline = time.monotonic() + seconds
    before: dict[int, int] = {}
    while time.monotonic() < deadline:
        pool = children(pid)
        busy = [child for child in pool if child in before and cpu_ticks(child) > before[child]]
        if busy:
            return rng.choice(busy), True
        before = {child: cpu_ticks(child) for child in pool}
        time.sleep(0.03)
    pool = children(pid)
    return (rng.choice(pool), False) if pool else (None, False)


def wait_until(check, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {seconds:.0f} s")


class Service:
    """A long-running process of ours, restarted by ensure() whenever it has died."""

    def __init__(self, name: str, command: list[str], *, env: dict, log: Path, ready=None):
        self.name, self.command, self.env, self.log_path, self.ready = name, command, env, log, ready
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.starts += 1
        if self.ready:
            wait_until(self.ready, seconds=30, what=self.name)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure(self) -> bool:
        """Start it again if it has died; True if it had to."""
        if self.alive():
            return False
        self.start()
        return True

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 10) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.kill_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        self.kill_group(signal.SIGKILL)  # whatever of the group is left (a pool child, a thread)
        self.process.wait()


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def make_services(*, env: dict, port: int, logs: Path) -> dict[str, Service]:
    celery = str(BIN / "celery")
    return {
        "gunicorn": Service(
            "gunicorn",
            [
                str(BIN / "gunicorn"),
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--worker-class",
                "gthread",
                "--workers",
                str(GUNICORN_WORKERS),
                "--threads",
                str(GUNICORN_THREADS),
                "--timeout",
                "30",
                "--graceful-timeout",
                "5",
                "--log-level",
                "warning",
            ],  # fmt: skip
            env=env,
            log=logs / "gunicorn.log",
            ready=lambda: port_open(port),
        ),
        "worker": Service(
            "celery worker",
            [
                celery,
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(CELERY_CONCURRENCY),
                "--pool",
                "prefork",
                "--without-gossip",
                "--without-mingle",
                "-n",
                "chaos@%h",
            ],  # fmt: skip
            env=env,
            log=logs / "celery-worker.log",
        ),
        "beat": Service(
            "celery beat",
            [celery, "-A", "config", "beat", "--loglevel", "INFO", "--schedule", str(logs / "beat-schedule")],
            env=env,
            log=logs / "celery-beat.log",
        ),
    }


# --- PostgreSQL and Redis ------------------------------------------------------------------


def postgres_version() -> str:
    return sorted(os.listdir("/etc/postgresql"))[-1]


def postgres_up() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0


def redis_up() -> bool:
    return (
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True, check=False).stdout == b"PONG\n"
    )


def restart_postgres() -> None:
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", postgres_version(), "main", "restart", "-m", "fast"]
    subprocess.run(command, check=True, capture_output=True)
    wait_until(postgres_up, seconds=30, what="PostgreSQL")


def start_postgres() -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", postgres_version(), "main", "start"],
        check=False,
        capture_output=True,
    )
    wait_until(postgres_up, seconds=30, what="PostgreSQL")


def start_redis() -> None:
    os.makedirs("/var/lib/redis", exist_ok=True)
    os.makedirs("/var/log/redis", exist_ok=True)
    subprocess.run(REDIS_START, check=True, capture_output=True)
    wait_until(redis_up, seconds=30, what="Redis")


def restart_redis() -> None:
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"], capture_output=True)
    wait_until(lambda: not redis_up(), seconds=10, what="Redis shutdown")
    start_redis()


def ensure_infrastructure() -> list[str]:
    """Start PostgreSQL and Redis if they are down; returns what had to be started."""
    started = []
    if not postgres_up():
        start_postgres()
        started.append("postgres")
    if not redis_up():
        start_redis()
        started.append("redis")
    return started
