"""pgbench scripts made from captured requests, for bench_api.py: the reference sends what the
endpoint sends because it is made from what the endpoint sent.

capture() records one request through Django's test client in this process: every statement
with its parameters (and the rows of each RETURNING and each nextval() SELECT), and where each transaction began and
ended. Three captures of the same request from three pgbench clients' points of view (another
station, member and key each) tell the parameters that vary from those that do not; a varying
parameter is written as the pgbench expression of the "role" whose three values it has (the
client's station or token, a random member, a fresh key, the id an earlier INSERT returned),
also inside strings ('api:12:<key>', 'dropoff:345:earning'); a constant one as its literal. A
varying parameter that matches no role keeps the first capture's literal (a timestamp: the same
work, with a value that repeats), unless it is a random token (hex text, a UUID: a lock token,
a fingerprint, a key the service made up), which is drawn afresh, as a unique one must not repeat.

    events, answer = capture(lambda: client.post(...))          # three times, as clients 0, 1, 2
    lines = PgScript(roles).render([events_0, events_1, events_2], literal=...)
"""

import json
import re
import uuid
from dataclasses import dataclass

ROLE_VALUE_TYPES = (int, str)
_HEX = re.compile(r"[0-9a-f]{8,64}")


@dataclass
class Statement:
    sql: str
    params: tuple
    returned: tuple | None = None  # a RETURNING statement's row; of many rows, each column's list
    columns: tuple[str, ...] = ()
    many_rows: bool = False  # it returned several rows (a bulk INSERT)

    @property
    def shape(self) -> str:
        return shape(self.sql)


def shape(sql: str) -> str:
    """A statement's verb and the table or function it acts on: "insert idempotency_idempotencykey";
    for a data-modifying CTE, what it writes: "with insert recycling_transfer, update recycling_account"."""
    words = re.findall(r"[a-z_][a-z_0-9]*", sql.replace('"', "").lower())
    if not words:
        return sql
    verb = words[0]
    if verb == "with":  # a data-modifying CTE: what it writes, in order
        writes = re.findall(r"\b(insert into|update|delete from) ([a-z_][a-z_0-9]*)", " ".join(words))
        return "with " + ", ".join(f"{v.split()[0]} {table}" for v, table in writes) if writes else "with"
    anchor = {"insert": "into", "update": "update", "select": "from", "delete": "from"}.get(verb)
    if anchor is None:
        return verb
    rest = words[words.index(anchor) + 1 :] if anchor in words else []
    return f"{verb} {rest[0]}" if rest else verb


BEGIN, COMMIT, ROLLBACK = "BEGIN;", "COMMIT;", "ROLLBACK;"


def capture(send) -> tuple[list, object]:
    """The statements and transaction boundaries of `send()` (one request through the test
    client, in this process), and what send() returned. Transactions are seen from Django's side:
    BEGIN before the first statement run outside autocommit, COMMIT or ROLLBACK when Django ends
    the transaction (psycopg sends those without a statement Django could wrap)."""
    from django.db import connection

    events: list = []
    in_transaction = False

    def wrapper(execute, sql, params, many, context):
        nonlocal in_transaction
        if many:
            raise SystemExit(f"pgscript.capture(): executemany is not supported ({sql[:80]})")
        if not connection.get_autocommit() and not in_transaction:
            events.append(BEGIN)
            in_transaction = True
        result = execute(sql, params, many, context)
        statement = Statement(sql=sql, params=tuple(params or ()))
        cursor = context["cursor"]
        # What a RETURNING gave, or ids drawn from a sequence: later statements use them.
        if re.search(r"\bRETURNING\b|\bnextval\(", sql, re.IGNORECASE) and cursor.description:
            rows = cursor.fetchall()
            cursor.scroll(0, mode="absolute")  # Django reads them next
            statement.many_rows = len(rows) > 1
            if statement.many_rows:
                statement.returned = tuple(list(column) for column in zip(*rows, strict=True))
            else:
                statement.returned = tuple(rows[0]) if rows else None
            statement.columns = tuple(column.name for column in cursor.description)
        events.append(statement)
        return result

    def ending(original, marker):
        def end():
            nonlocal in_transaction
            if in_transaction:
                events.append(marker)
                in_transaction = False
            return original()

        return end

    connection.ensure_connection()
    connection._commit = ending(connection._commit, COMMIT)
    connection._rollback = ending(connection._rollback, ROLLBACK)
    try:
        with connection.execute_wrapper(wrapper):
            result = send()
    finally:
        del connection._commit, connection._rollback  # the class's methods again
    if in_transaction:
        raise SystemExit("pgscript.capture(): the request left a transaction open")
    return events, result


@dataclass(frozen=True)
class Role:
    """A value that differs from one pgbench client or transaction to the next: its value in each
    capture, and the SQL expression that gives it in the script. `per_client` (one value per
    pgbench client) lets two roles whose captured values coincide be told apart, or found to be
    the same."""

    name: str
    values: tuple
    expression: str
    per_client: tuple | None = None


@dataclass
class PgScript:
    roles: list[Role]

    def render(self, captures: list[list], *, literal) -> list[str]:
        """The script's lines for the captures (the same statements in each, from different
        clients): statements, BEGIN/COMMIT, then \\gset after each RETURNING. `literal(value)` is
        the SQL literal of a parameter (psycopg's)."""
        first = captures[0]
        for other in captures[1:]:
            if [_kind(e) for e in other] != [_kind(e) for e in first]:
                raise SystemExit(
                    "pgscript: the captures differ in their statements:\n  "
                    + "\n  ".join(f"{_kind(a)} | {_kind(b)}" for a, b in zip(first, other, strict=False))
                )
        roles = list(self.roles)
        lines = []
        for events in zip(*captures, strict=True):
            event = events[0]
            if isinstance(event, str):
                lines.append(event)
                continue
            sql = self._statement(events, roles, literal)
            if event.returned is not None:
                # One name per table (pgbench 15 crashes as its variables grow into the
                # hundreds): a statement's id variables hold the last row the table returned.
                # Several rows (a bulk INSERT) come back as one row of arrays (\gset takes one).
                prefix = f"{event.shape.split()[-1]}_"
                sql = sql.rstrip().rstrip(";")
                if event.many_rows:
                    aggregates = ", ".join(f"array_agg({column}) AS {column}" for column in event.columns)
                    sql = f"WITH returned AS ({sql}) SELECT {aggregates} FROM returned"
                sql += f" \\gset {prefix}"
                for column, *values in zip(event.columns, *(e.returned for e in events), strict=True):
                    # A value given back again (an INSERT returning the id it was given) keeps its role.
                    known = {role.values for role in roles}
                    roles += [r for r in _returned_roles(f"{prefix}{column}", values) if r.values not in known]
            else:
                sql = sql.rstrip().rstrip(";") + ";"
            lines.append(sql)
        return lines

    def _statement(self, events: tuple[Statement, ...], roles: list[Role], literal) -> str:
        sql = " ".join(events[0].sql.split())
        if not events[0].params:
            return sql
        rendered = iter(
            self._parameter(tuple(e.params[n] for e in events), roles, literal) for n in range(len(events[0].params))
        )
        return re.sub(r"%%|%s", lambda match: "%" if match.group() == "%%" else next(rendered), sql)

    def _parameter(self, values: tuple, roles: list[Role], literal) -> str:
        first = values[0]
        if hasattr(first, "obj") and hasattr(first, "dumps"):  # psycopg's Json/Jsonb
            texts = tuple((v.dumps or json.dumps)(v.obj) for v in values)
            return f"({self._text(texts, roles, literal)})::jsonb"
        if isinstance(first, list) and all(isinstance(v, list) and len(v) == len(first) for v in values):
            # An array parameter (a set-based statement's column): each element as a parameter.
            elements = (self._parameter(tuple(v[n] for v in values), roles, literal) for n in range(len(first)))
            return f"ARRAY[{', '.join(elements)}]"
        if all(v == first for v in values):
            return literal(first)
        if isinstance(first, int) and not isinstance(first, bool):
            role = _one_role([r for r in roles if r.values == values], values)
            return role.expression if role else literal(first)
        if isinstance(first, str):
            return self._text(values, roles, literal)
        if isinstance(first, uuid.UUID):
            return "gen_random_uuid()"  # a fresh token (a unique one must not repeat)
        return literal(first)

    def _text(self, texts: tuple[str, ...], roles: list[Role], literal) -> str:
        """A string parameter: the roles' values found in it become concatenated expressions."""
        pieces = [_pieces(text, [r.values[n] for r in roles]) for n, text in enumerate(texts)]
        found = [[value for kind, value in side if kind == "value"] for side in pieces]
        if not found[0] and all(_HEX.fullmatch(text) and len(text) == len(texts[0]) for text in texts):
            # A random token of the request's own (a lock token, a key the service made up): a
            # fresh one each time, as a unique one must not repeat.
            return f"left(md5(random()::text) || md5(random()::text), {len(texts[0])})"
        if len({len(side) for side in found}) != 1 or not found[0]:
            return _string_literal(texts[0], literal)
        expressions = []
        for column in zip(*found, strict=True):
            role = _one_role([r for r in roles if tuple(str(v) for v in r.values) == column], column)
            if role is None:
                return _string_literal(texts[0], literal)
            expressions.append(f"({role.expression})::text")
        filled = iter(expressions)
        return " || ".join(
            _string_literal(value, literal) if kind == "text" else next(filled) for kind, value in pieces[0]
        )


def _returned_roles(name: str, values: list) -> list[Role]:
    """The roles of one returned column: its value, or each element of an array of integers
    (pgbench substitutes the variable inside the quotes: '{1,2}'::bigint[])."""
    first = values[0]
    if isinstance(first, list):
        if not first or not all(isinstance(v, int) and not isinstance(v, bool) for v in first):
            return []
        return [
            Role(f"{name}[{n}]", tuple(v[n] for v in values), f"(':{name}'::bigint[])[{n + 1}]")
            for n in range(len(first))
        ]
    if isinstance(first, ROLE_VALUE_TYPES) and not isinstance(first, bool):
        return [Role(name, tuple(values), f":{name}")]
    return []


def _kind(event) -> str:
    return event if isinstance(event, str) else f"{event.shape} ({len(event.params)} params)"


def _one_role(candidates: list[Role], values: tuple) -> Role | None:
    """The role these values belong to; several with the same values must be the same per client."""
    if not candidates:
        return None
    first = candidates[0]
    for other in candidates[1:]:
        if other.expression != first.expression and (other.per_client is None or other.per_client != first.per_client):
            raise SystemExit(
                f"pgscript: the values {values} could be {first.name} or {other.name}; capture other clients"
            )
    return first


def _pieces(text: str, values: list) -> list[tuple[str, str]]:
    """The text split into ("text", ...) and ("value", ...) pieces at each role value found in
    it: strings anywhere, integers only between non-alphanumeric characters; longest first."""
    patterns = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, ROLE_VALUE_TYPES):
            continue
        if isinstance(value, int):
            patterns.append(rf"(?<![0-9A-Za-z]){value}(?![0-9A-Za-z])")
        elif len(value) >= 4:  # a short string would match by chance
            patterns.append(re.escape(value))
    if not patterns:
        return [("text", text)]
    patterns.sort(key=len, reverse=True)
    pieces, end = [], 0
    for match in re.finditer("|".join(patterns), text):
        if match.start() > end:
            pieces.append(("text", text[end : match.start()]))
        pieces.append(("value", match.group()))
        end = match.end()
    if end < len(text):
        pieces.append(("text", text[end:]))
    return pieces


def _string_literal(text: str, literal) -> str:
    """A string literal on one line: pgbench reads a statement per line, so newlines go as chr(10)."""
    return " || chr(10) || ".join(literal(part) for part in text.split("\n")) if "\n" in text else literal(text)
