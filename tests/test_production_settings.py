"""The production settings pass Django's deployment checklist (`manage.py check --deploy`)
without a single warning, and refuse to start without a secret key, host names or a database."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
# `check` does not connect: any PostgreSQL URL will do, as in production it comes from the environment.
DATABASE_URL = "postgres://greenbox@db.example.cn:5432/greenbox"


def manage(*args: str, **env: str | None) -> subprocess.CompletedProcess:
    """manage.py with the production settings and `env` over this environment (None: unset)."""
    environment = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "SECRET_KEY"}}
    environment |= {"DJANGO_SETTINGS_MODULE": "config.settings.production", "DATABASE_URL": DATABASE_URL, **env}
    environment = {key: value for key, value in environment.items() if value is not None}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=secrets.token_urlsafe(50),  # 67 characters
        ALLOWED_HOSTS="greenbox.example.cn",
        CSRF_TRUSTED_ORIGINS="https://greenbox.example.cn",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_debug_from_the_environment_cannot_turn_debug_on():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DEBUG, settings.SECURE_HSTS_SECONDS)",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="greenbox.example.cn",
        DEBUG="1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["False", "31536000"]  # after django-axes's start-up log


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"])
def test_production_refuses_to_start_without_a_secret_key_hosts_or_a_database(missing):
    """Production has no defaults for these; without DATABASE_URL it never starts the embedded server."""
    env = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "greenbox.example.cn",
        "DATABASE_URL": DATABASE_URL,
        "DEBUG": "1",
    }
    env[missing] = None
    result = manage("check", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and missing in result.stderr
