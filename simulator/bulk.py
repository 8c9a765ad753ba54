"""Bulk writing for the simulator: rows spooled to disk, then loaded in one pass per table.

Rows are formatted once, as the text lines of PostgreSQL's COPY format (tab-separated, \\N for
NULL, datetimes as naive UTC, booleans as 1/0), and appended to a temporary file, so memory
stays flat however many rows a campaign has, and loaded with COPY (psycopg's cursor.copy) into
the product's own tables, under their constraints and foreign keys.

Primary keys are given explicitly, from the table's largest id on: rows can refer to each
other before they are loaded, and the same seed gives the same ids on an emptied database.
The simulator holds its tables locked while it writes, and afterwards moves each identity
sequence past the ids it used.
"""

import tempfile
from collections.abc import Iterable
from contextlib import contextmanager

from django.db import connection

CHUNK_BYTES = 1 << 20  # COPY payload per write


class Spool:
    """Rows for one table, in COPY text format, in a temporary file."""

    def __init__(self, table: str, columns: Iterable[str]):
        self.table = table
        self.columns = tuple(columns)
        self.rows = 0
        # Closed by close() (the spool outlives any one block), and removed by the OS in any case.
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8", prefix=f"greenbox-{table}-")  # noqa: SIM115
        self.write = self._file.write  # callers write whole lines, then count() them

    def add(self, *values) -> None:
        """Append one row of values (None for NULL). The hot paths write formatted lines instead."""
        self._file.write("\t".join(r"\N" if value is None else str(value) for value in values) + "\n")
        self.rows += 1

    def count(self, rows: int) -> None:
        self.rows += rows

    def load(self) -> int:
        """Insert the spooled rows into the table and empty the spool; returns the rows loaded."""
        self._file.flush()
        self._file.seek(0)
        loaded = self.rows
        if loaded:
            self._copy()
        self._file.seek(0)
        self._file.truncate()
        self.rows = 0
        advance_sequences([self.table])  # rows the ORM inserts later take the ids after these
        return loaded

    def close(self) -> None:
        self._file.close()

    def _copy(self) -> None:
        columns = ", ".join(self.columns)
        connection.ensure_connection()
        with connection.connection.cursor() as raw, raw.copy(f"COPY {self.table} ({columns}) FROM STDIN") as copy:
            while chunk := self._file.read(CHUNK_BYTES):
                copy.write(chunk)


def next_id(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
        return cursor.fetchone()[0]


def lock_tables(tables: Iterable[str]) -> None:
    """Keep other writers out of the tables whose ids the simulator hands out. Readers are not blocked."""
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")


def advance_sequences(tables: Iterable[str]) -> None:
    """Move each table's id sequence past the explicit ids written."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), MAX(id)) FROM {table} HAVING MAX(id) IS NOT NULL",
                [table],
            )


def apply_deltas(*, table: str, column: str, deltas: dict[int, int], extra: str = "") -> None:
    """Add deltas[id] to `column` of existing rows, in one set-based statement. `extra` is an
    additional SET clause, e.g. a timestamp."""
    deltas = {pk: delta for pk, delta in deltas.items() if delta}
    if not deltas:
        return
    set_extra = f", {extra}" if extra else ""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE simulator_delta (id bigint PRIMARY KEY, delta bigint) ON COMMIT DROP")
        with connection.connection.cursor() as raw, raw.copy("COPY simulator_delta (id, delta) FROM STDIN") as copy:
            for pk, delta in deltas.items():
                copy.write_row((pk, delta))
        cursor.execute(
            f"UPDATE {table} t SET {column} = t.{column} + d.delta{set_extra} FROM simulator_delta d WHERE t.id = d.id"
        )
        cursor.execute("DROP TABLE simulator_delta")


def analyze(tables: Iterable[str]) -> None:
    """Refresh the planner's statistics after a bulk load, so that the daily totals' queries plan
    for millions of rows, not for the empty tables the load started from."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(tables)}")


@contextmanager
def foreign_keys_validated_once(tables: Iterable[str]):
    """While loading, check the tables' foreign keys once per constraint instead of once per row.

    PostgreSQL checks a foreign key with one index probe (and row lock) per inserted row, which
    is most of the cost of a bulk load. Following its manual ("Populating a Database: remove
    foreign key constraints"), the constraints on these tables are dropped for the load and
    added back with their own names and definitions afterwards; adding one back checks every
    row in one set-based query and fails (rolling the whole simulation back) if any row has no
    parent. It is all one transaction, so other sessions never see the tables without their
    constraints, but they wait for these tables until the simulation commits. Needs to own the
    tables (as the user who ran the migrations does); otherwise the rows are checked one by one
    as usual.
    """
    tables = list(tables)
    if not _owns(tables):
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY conrelid::regclass::text, conname",
            [tables],
        )
        constraints = cursor.fetchall()
        for table, name, _definition in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    yield
    with connection.cursor() as cursor:
        for table, name, definition in constraints:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def _owns(tables: list[str]) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bool_and(pg_has_role(current_user, relowner, 'USAGE'))"
            " FROM pg_class WHERE oid = ANY(%s::regclass[])",
            [tables],
        )
        return bool(cursor.fetchone()[0])
