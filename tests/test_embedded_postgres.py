"""The embedded default database's start-up logic (config/embedded_postgres.py), on a scratch data
folder: how it recognises a running server, and the one line it says where there is no build.
The server itself is tried end to end by .ci/check_make_run.py and by `make test` without DATABASE_URL."""

import os
import sys

import pytest

from config import embedded_postgres


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The module pointed at an empty var/ of its own, so no test touches the real server."""
    monkeypatch.setattr(embedded_postgres, "VAR_DIR", tmp_path)
    monkeypatch.setattr(embedded_postgres, "PGDATA", tmp_path / "postgres")
    monkeypatch.setattr(embedded_postgres, "LOCK_FILE", tmp_path / "postgres.lock")
    (tmp_path / "postgres").mkdir()
    return tmp_path / "postgres"


def write_postmaster_pid(pgdata, *, pid: int, status: str = "ready", socket_dir: str = "/run/greenbox") -> None:
    lines = [str(pid), str(pgdata), "1764660000", "5432", socket_dir, "", "  8826964     65536", status]
    (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")


def test_the_url_reaches_the_server_through_its_socket_folder():
    assert embedded_postgres.url("/srv/greenbox/var/postgres") == (
        "postgres://postgres@/greenbox?host=/srv/greenbox/var/postgres"
    )


def test_a_ready_server_is_found_by_its_postmaster_pid(scratch):
    write_postmaster_pid(scratch, pid=os.getpid())  # a live process stands in for the postmaster
    assert str(embedded_postgres._running_socket_dir()) == "/run/greenbox"
    assert embedded_postgres.start() == ("postgres://postgres@/greenbox?host=/run/greenbox", False)


@pytest.mark.parametrize("status", ["starting", "stopping"])
def test_a_server_not_ready_is_not_running(scratch, status):
    write_postmaster_pid(scratch, pid=os.getpid(), status=status)
    assert embedded_postgres._running_socket_dir() is None


def test_a_stale_postmaster_pid_is_not_a_running_server(scratch):
    write_postmaster_pid(scratch, pid=2**22 + 1)  # above Linux's largest pid: no such process
    assert embedded_postgres._running_socket_dir() is None
    assert embedded_postgres.stop() is False  # nothing to stop, and no call into the wheel


def test_without_a_build_for_the_platform_it_says_in_one_line_to_set_database_url(scratch, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)  # makes `import embedded_postgres` fail
    assert embedded_postgres.main(["start"]) == 1
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and "set DATABASE_URL=postgres://" in message
    assert not (scratch / "PG_VERSION").exists()


def test_run_hands_the_command_the_database_url_and_its_exit_status(scratch, tmp_path, monkeypatch):
    """A server already running is used and left running; the command's own settings module is
    not overridden by the default that importing config set."""
    write_postmaster_pid(scratch, pid=os.getpid())
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "config.settings.base")
    seen = tmp_path / "seen"
    script = (
        "import os, sys; "
        "settings = os.environ.get('DJANGO_SETTINGS_MODULE', '-'); "
        f"open({str(seen)!r}, 'w').write(os.environ['DATABASE_URL'] + ' ' + settings); "
        "sys.exit(3)"
    )
    assert embedded_postgres.run([sys.executable, "-c", script]) == 3
    assert seen.read_text() == "postgres://postgres@/greenbox?host=/run/greenbox -"
    assert embedded_postgres._running_socket_dir() is not None  # not stopped: this call did not start it
