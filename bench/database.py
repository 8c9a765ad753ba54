"""The benchmarks' own PostgreSQL databases: each script creates (or recreates) the database its
DATABASE_URL names, migrates it, and times its set-based data generation step by step."""

import os
import sys
import time


def _server(url: str):
    """An autocommit connection to the server's maintenance database; exits unless it is PostgreSQL."""
    import environ
    import psycopg

    config = environ.Env.db_url_config(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        sys.exit(f"{os.path.basename(sys.argv[0])} needs PostgreSQL; DATABASE_URL is {config['ENGINE']}")
    server = {
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
    }
    connection = psycopg.connect(
        dbname="postgres", autocommit=True, **{k: v for k, v in server.items() if v is not None}
    )
    return connection, config["NAME"]


def ensure_database(url: str | None = None, *, recreate: bool = False) -> None:
    """Create the database named by `url` (default DATABASE_URL) if missing; drop it first if `recreate`."""
    connection, name = _server(url or os.environ["DATABASE_URL"])
    with connection:
        if recreate:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            print(f"Creating database {name}")
            connection.execute(f'CREATE DATABASE "{name}"')


def setup_django() -> None:
    """Start Django in this process and migrate the benchmark's database."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def step(label: str, cursor, sql: str, params=None) -> None:
    """Run one generation statement and print its row count and time."""
    started = time.perf_counter()
    cursor.execute(sql, params)
    print(f"  {label}: {cursor.rowcount:,} rows in {time.perf_counter() - started:.1f} s")
