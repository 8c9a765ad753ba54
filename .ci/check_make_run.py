#!/usr/bin/env python3
"""CI: `make run` on a fresh clone with its defaults (the embedded PostgreSQL, no Redis), end to end.

Clones this repository's HEAD into a temporary folder, installs its runtime requirements, then
twice: starts `make run` in its own process group, waits until / answers, checks the site over
HTTP, runs `manage.py check_ledger` against the embedded database, sends SIGINT to the group
(as Ctrl-C would) and checks that nothing of the clone is left running (runserver, the Celery
worker and beat, the PostgreSQL of var/postgres). The first round signs in as the demo staff
user and logs a drop-off through the API; the second finds it again (the data outlived the stop).

Needs only Python 3.11, make, git and the network to PyPI; standard library only.
Run it alone: python3 .ci/check_make_run.py [--port 8765] [--keep]
"""

import argparse
import http.cookiejar
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 180  # migrate and the demo data on an empty database included
SHUTDOWN_SECONDS = 60
DEMO_PASSWORD = "greenbox-demo"  # recycling/demo.py
STAFF, STAFF_STATION = "staff-hz-00001", "HZ-00001"
MEMBER_MOBILE = "13812345678"
# What `make run` must not inherit: it is to run on its defaults, as on a fresh machine.
NOT_INHERITED = {"DATABASE_URL", "REDIS_URL", "GREENBOX_REQUIRE_SERVICES", "DJANGO_SETTINGS_MODULE", "DEBUG",
                 "SECRET_KEY", "VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"}  # fmt: skip


class CheckFailed(Exception):
    pass


class Browser:
    """One signed-in session: cookies, and Django's CSRF token sent back on writes."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def request(self, path: str, *, form: dict | None = None, json_body: dict | None = None, headers=None):
        headers = {"Accept-Language": "en", **(headers or {})}
        data = None
        if form is not None:
            data = urllib.parse.urlencode({**form, "csrfmiddlewaretoken": self.csrf_token()}).encode()
        elif json_body is not None:
            data = json.dumps(json_body).encode()
            headers |= {"Content-Type": "application/json", "X-CSRFToken": self.csrf_token()}
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.geturl(), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.geturl(), error.read().decode()

    def csrf_token(self) -> str:
        return next(cookie.value for cookie in self.cookies if cookie.name == "csrftoken")

    def sign_in(self, login_path: str, username: str, *, then: str = "/") -> None:
        self.request(login_path)  # sets the CSRF cookie
        form = {"username": username, "password": DEMO_PASSWORD, "next": then}
        status, final_url, body = self.request(login_path, form=form)
        if status != 200 or final_url.rstrip("/").endswith(login_path.rstrip("/")):
            raise CheckFailed(f"signing in as {username} at {login_path} failed: {status} {final_url}\n{body[:500]}")

    def get_json(self, path: str) -> dict:
        status, _, body = self.request(path, headers={"Accept": "application/json"})
        if status != 200:
            raise CheckFailed(f"GET {path}: {status} {body[:500]}")
        return json.loads(body)


def wait_until_answering(base_url: str, make_run: subprocess.Popen) -> float:
    started = time.monotonic()
    while time.monotonic() - started < STARTUP_SECONDS:
        if make_run.poll() is not None:
            raise CheckFailed(f"make run exited with {make_run.returncode} before / answered")
        try:
            urllib.request.urlopen(base_url + "/", timeout=5)
            return time.monotonic() - started
        except urllib.error.HTTPError:
            return time.monotonic() - started  # an answer all the same
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    raise CheckFailed(f"/ did not answer within {STARTUP_SECONDS} s")


def log_dropoff(base_url: str) -> int:
    """As the demo staff user, log 4 cartons for the demo member through the API; their balance
    must grow by the drop-off's points. Returns the balance after."""
    member = Browser(base_url)
    member.sign_in("/signin/", MEMBER_MOBILE)
    me = member.get_json("/api/v1/me/")

    staff = Browser(base_url)
    staff.sign_in("/admin/login/", STAFF, then="/admin/")
    stations = staff.get_json("/api/v1/stations/?city=HZ")["results"]
    station = next(station["id"] for station in stations if station["code"] == STAFF_STATION)
    status, _, body = staff.request(
        "/api/v1/dropoffs/",
        json_body={"station": station, "member_code": me["member_code"], "cartons": 4},
        headers={"Idempotency-Key": str(uuid.uuid4()), "Accept": "application/json"},
    )
    if status != 201:
        raise CheckFailed(f"POST /api/v1/dropoffs/: {status} {body[:500]}")
    dropoff = json.loads(body)
    balance = member.get_json("/api/v1/me/")["balance"]
    if dropoff["points"] <= 0 or balance != me["balance"] + dropoff["points"]:
        raise CheckFailed(f"drop-off {dropoff} did not credit the member: balance {me['balance']} -> {balance}")
    print(f"  logged drop-off {dropoff['id']} ({dropoff['points']} points); member balance {balance}")
    return balance


def member_balance(base_url: str) -> int:
    member = Browser(base_url)
    member.sign_in("/signin/", MEMBER_MOBILE)
    return member.get_json("/api/v1/me/")["balance"]


def processes_of(clone: Path) -> list[str]:
    """Processes whose command line names the clone or whose working folder is in it."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            cwd = os.readlink(entry / "cwd")
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        if str(clone) in command or cwd == str(clone) or cwd.startswith(f"{clone}/"):
            found.append(f"{entry.name}: {command}")
    return found


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_with_ctrl_c(make_run: subprocess.Popen, clone: Path) -> float:
    started = time.monotonic()
    os.killpg(make_run.pid, signal.SIGINT)
    while time.monotonic() - started < SHUTDOWN_SECONDS:
        if make_run.poll() is not None and not group_alive(make_run.pid) and not processes_of(clone):
            return time.monotonic() - started
        time.sleep(0.5)
    left = "\n  ".join(processes_of(clone)) or "(only processes of the group)"
    raise CheckFailed(f"still running {SHUTDOWN_SECONDS} s after SIGINT:\n  {left}")


def one_round(clone: Path, port: int, log: Path, environment: dict, check) -> None:
    base_url = f"http://127.0.0.1:{port}"
    with open(log, "w") as output:
        # start_new_session: its own process group, as a terminal's foreground job has, with
        # SIGINT not ignored (a plain background job of a script would ignore it).
        make_run = subprocess.Popen(
            ["make", "run", f"PORT={port}"], cwd=clone, env=environment, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        print(f"  / answered after {wait_until_answering(base_url, make_run):.1f} s")
        check(base_url)
        ledger = subprocess.run(
            [".venv/bin/python", "manage.py", "check_ledger"], cwd=clone, env={**environment, "DEBUG": "1"},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if ledger.returncode != 0:
            raise CheckFailed(f"check_ledger exited with {ledger.returncode}:\n{ledger.stdout}{ledger.stderr}")
        print(f"  check_ledger: {ledger.stdout.strip().splitlines()[-1] if ledger.stdout.strip() else 'clean'}")
        print(f"  stopped, nothing left running, {stop_with_ctrl_c(make_run, clone):.1f} s after SIGINT")
    except BaseException:
        if group_alive(make_run.pid):
            os.killpg(make_run.pid, signal.SIGKILL)
        subprocess.run([".venv/bin/python", "-m", "config.embedded_postgres", "stop"], cwd=clone, env=environment)
        print(f"--- make run's output ({log}):\n{log.read_text()[-6000:]}", file=sys.stderr)
        raise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765, help="where make run serves (default 8765)")
    parser.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    arguments = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="greenbox-make-run-"))
    clone = workdir / "greenbox"
    environment = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
    try:
        subprocess.run(["git", "clone", "--quiet", str(REPOSITORY), str(clone)], check=True)
        print(f"make run on a fresh clone of {REPOSITORY} at {clone}")
        started = time.monotonic()
        subprocess.run(["make", "--no-print-directory", ".venv/.runtime-installed"], cwd=clone, env=environment,
                       check=True)  # fmt: skip
        print(f"  installed the runtime requirements in {time.monotonic() - started:.0f} s")

        print("first make run (initialises var/postgres, loads the demo data):")
        balances = []
        one_round(clone, arguments.port, workdir / "make-run-1.log", environment,
                  lambda base_url: balances.append(log_dropoff(base_url)))  # fmt: skip
        print("second make run (reuses var/postgres):")

        def finds_the_dropoff(base_url: str) -> None:
            if (balance := member_balance(base_url)) != balances[0]:
                raise CheckFailed(f"the member's balance is {balance} after the restart, {balances[0]} before")
            print(f"  the member's balance is still {balance}")

        one_round(clone, arguments.port, workdir / "make-run-2.log", environment, finds_the_dropoff)
    except CheckFailed as failure:
        print(f"check_make_run: FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        if arguments.keep:
            print(f"kept {clone}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("check_make_run: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
