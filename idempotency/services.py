"""One idempotency mechanism for every write that takes a key, the way Stripe documents it.

    outcome = run_idempotent(
        scope=station_scope(station.pk), key=key, operation="dropoff",
        fingerprint=request_fingerprint(member_code=code, cartons=cartons, occurred_at=occurred_at),
        write=lambda: _write_dropoff(...), to_result=lambda result: {"dropoff": result.dropoff.pk, ...},
    )

- A key is claimed once, in its scope, for one operation and one request fingerprint. The scope
  is who may reuse it: the station for station-side writes (so a queue re-sent by an offline
  device under another staff login at the same station records nothing twice), the member for
  member-side writes. The caller checks that its user may act in that scope BEFORE calling.
- The outcome is stored in the write's own transaction. run_idempotent() opens it, durable
  (the outermost transaction: its commit is the write's commit, so it must not be called inside
  another one), takes the key, runs `write` in a savepoint and inserts the key's row:
  the write and its row commit together or not at all.
  - `write` returns: the row holds to_result(value), a JSON object; run_idempotent returns it.
  - `write` raises a DomainError: that is a refusal of the request. The savepoint rolls back
    the write's changes, the row holds the refusal's code and message and commits, and the
    refusal is raised again.
  - `write` raises anything else (a bug, a lost connection, a killed worker): everything rolls
    back, nothing is stored, and the key may be used again.
- Refusals stored versus nothing stored: every DomainError raised BY `write` is stored and
  replayed. Whatever is raised BEFORE run_idempotent() is called stores nothing, so a request
  refused for its own shape (a missing or bad field, a time in the future, a key that is not
  1 to 100 characters, a user who may not act in the scope) is checked by the caller first,
  and the corrected retry with the same key goes through. There is no marker class: the rule
  is where the check runs, not what it raises.
- A second use of the key while the first runs: KeyInProgress at once (the API's 409), whatever
  the operation; it never executes. The key is a transaction-level advisory lock on a hash of
  scope and key (pg_try_advisory_xact_lock, which does not wait), taken in the write's
  transaction before the table is read, and released by its commit, rollback or crash. So there
  are no rows "in progress" and no lock timeout to take them over.
- Afterwards: another operation or fingerprint under the key raises KeyReused (422); the same
  request gets its first outcome again (Outcome.replayed, or the same refusal raised again, see
  was_replayed()), and nothing is executed.

Why the lock is read in its own statement before the row: in READ COMMITTED each statement
sees what was committed when it started, and a key's holder releases the lock only after its
commit is visible, so the SELECT that follows a granted lock always sees the holder's row. (A
single statement taking the lock and reading the row would read with a snapshot taken before
the lock was granted, and could miss it.) Two different keys whose 64-bit hashes collide make
one wait for the other as if it were a duplicate (a 409, retried): about one chance in 10^19.

Records are kept GREENBOX_IDEMPOTENCY_RETENTION_HOURS (30 days; config/settings/base.py says
why); purge_expired_keys() deletes older ones (the Celery task idempotency.purge_expired_keys,
scheduled daily by api/reference_data.py, or `manage.py purge_old_idempotency_keys`). A retry
after that runs as a new request.
"""

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from core.errors import DomainError, error_class_for_code

from .errors import InvalidKey, KeyInProgress, KeyReused
from .models import MAX_KEY_LENGTH, MAX_REFUSAL_MESSAGE_LENGTH, IdempotencyKey

T = TypeVar("T")

# One statement, so that the locks are granted before the next statement's snapshot is taken.
# Parameters: the scope, and the keys as an array.
TRY_LOCKS = """
SELECT key, pg_try_advisory_xact_lock(hashtextextended(%s || chr(10) || key, 0))
FROM unnest(%s::text[]) AS key
"""

# The keys' rows, read and written in raw SQL: on every keyed write, the ORM's filter and
# bulk_create cost 1 ms of CPU per drop-off POST against 0.3 ms for these two statements, and
# single drop-off POSTs missed their target (bench/bench_api.py; recycling/selectors.py).
READ_KEYS = "SELECT * FROM idempotency_idempotencykey WHERE scope = %s AND key = ANY(%s)"
# Parameters: the scope, the time, then the keys' columns as arrays (a refusal's result NULL).
STORE_OUTCOMES = """
INSERT INTO idempotency_idempotencykey
    (scope, created_at, key, operation, fingerprint, result, refusal_code, refusal_message)
SELECT %s, %s, key, operation, fingerprint, result::jsonb, refusal_code, refusal_message
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
    AS k(key, operation, fingerprint, result, refusal_code, refusal_message)
"""


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """A keyed write's successful outcome: the stored result, and whether this call replayed it."""

    result: dict[str, Any]  # to_result(value) as stored: the same JSON on the first call and on every replay
    replayed: bool
    value: T | None = None  # what `write` returned; None on a replay (nothing ran)


def station_scope(station_id: int) -> str:
    """The scope of a station-side write's key: every staff login at the station shares it."""
    return f"station:{station_id}"


def member_scope(member_id: int) -> str:
    """The scope of a member-side write's key (API and member pages alike)."""
    return f"member:{member_id}"


class _CanonicalEncoder(DjangoJSONEncoder):
    def default(self, o):
        if isinstance(o, datetime) and timezone.is_aware(o):
            o = o.astimezone(UTC)  # one instant, one text, whatever zone the client wrote it in
        return super().default(o)


def request_fingerprint(**parameters: Any) -> str:
    """SHA-256 of the operation's parameters as canonical JSON (sorted keys, no spaces, aware
    datetimes in UTC). Pass what the client sent, not what the service derives from it (an
    omitted time as None, not "now"), and nothing about who sent it (no staff user: another
    login at the same station re-sending a queue is the same request)."""
    canonical = json.dumps(parameters, sort_keys=True, separators=(",", ":"), ensure_ascii=True, cls=_CanonicalEncoder)
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_valid_key(key: object) -> bool:
    return isinstance(key, str) and 0 < len(key) <= MAX_KEY_LENGTH


def was_replayed(refusal: DomainError) -> bool:
    """True for a refusal that run_idempotent() raised from a stored outcome (nothing ran)."""
    return getattr(refusal, "idempotent_replay", False)


@dataclass(frozen=True)
class KeyedRequest:
    """One request of run_idempotent_batch(): its key, its operation and its fingerprint."""

    key: str
    operation: str
    fingerprint: str


def run_idempotent(
    *,
    scope: str,
    key: str,
    operation: str,
    fingerprint: str,
    write: Callable[[], T],
    to_result: Callable[[T], dict[str, Any]],
) -> Outcome[T]:
    """Run `write` once for this key in this scope, store its outcome in its transaction, and
    replay that outcome to every later identical request (see the module docstring).

    Raises InvalidKey, KeyInProgress or KeyReused (nothing stored, nothing run); a refusal
    (DomainError) from `write`, stored; or its stored replay. Must be called outside any
    transaction (durable). run_idempotent_batch() with one request, `write` in a savepoint.
    """

    def write_in_savepoint(_fresh: list[int]) -> list[T | DomainError]:
        try:
            with transaction.atomic():  # the savepoint a refusal rolls back to
                return [write()]
        except DomainError as refusal:
            return [refusal]

    (outcome,) = run_idempotent_batch(
        scope=scope,
        requests=[KeyedRequest(key=key, operation=operation, fingerprint=fingerprint)],
        write=write_in_savepoint,
        to_result=to_result,
    )
    if isinstance(outcome, DomainError):
        raise outcome  # after the commit: the refusal is stored
    return outcome


def run_idempotent_batch(
    *,
    scope: str,
    requests: Sequence[KeyedRequest],
    write: Callable[[list[int]], list[T | DomainError]],
    to_result: Callable[[T], dict[str, Any]],
) -> list[Outcome[T] | DomainError]:
    """run_idempotent() for many requests in one transaction: one statement takes every key's
    lock, one reads the keys' rows, `write` runs once for all the fresh ones, one statement stores
    their outcomes. A batch of drop-offs costs a few statements, not a few per drop-off.

    `write(fresh)` gets the indexes of the requests to execute and returns, for each of them in
    that order, its value or its refusal (a DomainError, returned, not raised: whatever it
    raises rolls the whole batch back and stores nothing).

    Returns one entry per request, in order: its Outcome, or the DomainError it was refused with
    (InvalidKey, KeyInProgress or KeyReused, stored nothing; a refusal from `write`, stored; a
    stored refusal replayed). A key that comes twice in the batch is the second time a replay of
    the first (or KeyReused for another request). Must be called outside any transaction.
    """
    answers: list[Outcome[T] | DomainError | None] = [None] * len(requests)
    first_of: dict[str, int] = {}
    for index, request in enumerate(requests):
        if not is_valid_key(request.key):
            answers[index] = InvalidKey()
        elif request.key not in first_of:
            first_of[request.key] = index
    with transaction.atomic(durable=True):
        locked = set()
        if first_of:
            with connection.cursor() as cursor:
                cursor.execute(TRY_LOCKS, [scope, list(first_of)])
                locked = {key for key, granted in cursor.fetchall() if granted}
        earlier = {}
        if locked:  # sorted: the same parameters for the same keys (bench/pgscript.py compares them)
            earlier = {row.key: row for row in IdempotencyKey.objects.raw(READ_KEYS, [scope, sorted(locked)])}
        fresh = []
        for key, index in first_of.items():
            if key not in locked:
                answers[index] = KeyInProgress()
            elif key in earlier:
                answers[index] = _replay(earlier[key], request=requests[index])
            else:
                fresh.append(index)
        if fresh:
            values = write(fresh)
            claims: list[tuple[str, str, str, str | None, str, str]] = []
            for index, value in zip(fresh, values, strict=True):
                request = requests[index]
                if isinstance(value, DomainError):
                    outcome = (None, value.code, str(value.message)[:MAX_REFUSAL_MESSAGE_LENGTH])
                    answers[index] = value
                else:
                    result, text = _as_json(to_result(value))
                    outcome = (text, "", "")
                    answers[index] = Outcome(result=result, replayed=False, value=value)
                claims.append((request.key, request.operation, request.fingerprint, *outcome))
            columns = [list(column) for column in zip(*claims, strict=True)]
            with connection.cursor() as cursor:
                cursor.execute(STORE_OUTCOMES, [scope, timezone.now(), *columns])
    for index, request in enumerate(requests):
        if answers[index] is None:  # a key that came earlier in the batch
            first = answers[first_of[request.key]]
            answers[index] = _repeat(first, earlier=requests[first_of[request.key]], request=request)
    return answers


def run_idempotent_if_keyed(
    *,
    scope: str,
    key: str | None,
    operation: str,
    fingerprint: str,
    write: Callable[[], T],
    to_result: Callable[[T], dict[str, Any]],
) -> Outcome[T]:
    """run_idempotent() when the caller has a key; without one (an admin action, a member page's
    bare button), for a write whose own state makes a retry act once (voiding a drop-off already
    voided is refused), `write` runs in a durable transaction of its own and nothing is stored."""
    if key is not None:
        return run_idempotent(
            scope=scope, key=key, operation=operation, fingerprint=fingerprint, write=write, to_result=to_result
        )
    with transaction.atomic(durable=True):
        value = write()
        result, _text = _as_json(to_result(value))
    return Outcome(result=result, replayed=False, value=value)


def _replay(earlier: IdempotencyKey, *, request: KeyedRequest) -> Outcome | DomainError:
    if (earlier.operation, earlier.fingerprint) != (request.operation, request.fingerprint):
        return KeyReused()
    if earlier.refused:
        return _stored_refusal(earlier)
    return Outcome(result=earlier.result, replayed=True)


def _repeat(first: Outcome | DomainError, *, earlier: KeyedRequest, request: KeyedRequest) -> Outcome | DomainError:
    """The answer to a key's second use in one batch: the first use's, replayed."""
    if (earlier.operation, earlier.fingerprint) != (request.operation, request.fingerprint):
        return KeyReused()
    if isinstance(first, Outcome):
        return Outcome(result=first.result, replayed=True)
    if isinstance(first, KeyInProgress | KeyReused):
        return first
    refusal = type(first)(first.message)
    refusal.code = first.code
    refusal.idempotent_replay = True
    return refusal


def _stored_refusal(earlier: IdempotencyKey) -> DomainError:
    """The first refusal again: an instance of the DomainError subclass with its code (so that
    callers catching that class catch the replay too), with its message as it was."""
    refusal = error_class_for_code(earlier.refusal_code)(earlier.refusal_message)
    refusal.code = earlier.refusal_code  # kept even if no class has this code any more
    refusal.idempotent_replay = True
    return refusal


def _as_json(result: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The result as it will be replayed (dates as ISO text, and so on), and as the JSON text
    stored: encoded once, for both."""
    if not isinstance(result, dict):
        raise TypeError(f"to_result must return a dict, not {type(result).__name__}")
    text = json.dumps(result, cls=DjangoJSONEncoder)
    return json.loads(text), text


def purge_expired_keys(*, now: datetime | None = None) -> int:
    """Delete the keys older than the retention period; returns how many. Safe to run twice."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.GREENBOX_IDEMPOTENCY_RETENTION_HOURS)
    deleted, _per_model = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
