"""run_idempotent() under concurrent requests, on PostgreSQL, with real threads.

Each test commits its setup (transactional_db); the threads are released together by a
threading.Barrier (tests/concurrency.py) and each uses its own connection. The write records
an audit event, so the events committed say which writes ran.
"""

import threading
import time

import pytest
from django.db import connection

from audit.models import AuditEvent
from audit.services import record_event
from idempotency.errors import KeyInProgress, KeyReused
from idempotency.models import IdempotencyKey
from idempotency.services import Outcome, member_scope, request_fingerprint, run_idempotent, station_scope
from tests.concurrency import JOIN_TIMEOUT, run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

SCOPE = station_scope(42)
KEY = "queued-7f3a"
# Two different writes, as two endpoints would send them: a drop-off and a void.
OPERATIONS = [
    ("dropoff", request_fingerprint(member_code="ABC", cartons=3, occurred_at=None)),
    ("void", request_fingerprint(dropoff=12, reason="Logged twice")),
]
HOLD = 0.5  # seconds a write keeps its transaction open, so that the other request meets it


def recording(label: str, *, hold: float = 0.0, meet: threading.Barrier | None = None):
    def write() -> AuditEvent:
        event = record_event(action=AuditEvent.Action.RULE_CHANGED, user=None, details={"write": label})
        if meet is not None:
            meet.wait(timeout=JOIN_TIMEOUT / 2)  # both writes inside their transactions at once
        time.sleep(hold)
        return event

    return write


def run(*, operation: str, fingerprint: str, write, scope: str = SCOPE) -> Outcome:
    return run_idempotent(
        scope=scope,
        key=KEY,
        operation=operation,
        fingerprint=fingerprint,
        write=write,
        to_result=lambda event: {"event": event.pk, "write": event.details["write"]},
    )


def test_one_key_sent_at_once_for_two_operations_runs_exactly_one_write():
    """The other request gets KeyInProgress (it came while the first ran) or KeyReused (it came
    after the commit), never a write; the stored outcome is the one that ran."""

    def send(index: int) -> Outcome:
        operation, fingerprint = OPERATIONS[index]
        return run(operation=operation, fingerprint=fingerprint, write=recording(operation, hold=HOLD))

    outcomes = run_concurrently(2, send)

    ran = [index for index, outcome in enumerate(outcomes) if isinstance(outcome, Outcome)]
    assert len(ran) == 1, outcomes
    (winner,) = ran
    loser = outcomes[1 - winner]
    assert isinstance(loser, KeyInProgress | KeyReused), loser
    operation, fingerprint = OPERATIONS[winner]
    event = AuditEvent.objects.get()
    assert event.details == {"write": operation}
    assert outcomes[winner].result == {"event": event.pk, "write": operation}
    assert not outcomes[winner].replayed
    stored = IdempotencyKey.objects.get()
    assert (stored.scope, stored.key, stored.operation, stored.fingerprint) == (SCOPE, KEY, operation, fingerprint)
    assert stored.result == outcomes[winner].result


def test_a_second_request_while_the_first_runs_is_refused_at_once_then_reused_or_replayed():
    """While the drop-off's transaction is open, the void with its key is refused without waiting;
    after the commit, the void is a reused key and the drop-off a replay."""
    inside, finish = threading.Event(), threading.Event()
    first: list[object] = []

    def slow_write() -> AuditEvent:
        event = record_event(action=AuditEvent.Action.RULE_CHANGED, user=None, details={"write": "dropoff"})
        inside.set()
        finish.wait(JOIN_TIMEOUT)
        return event

    def first_request() -> None:
        try:
            first.append(run(operation=OPERATIONS[0][0], fingerprint=OPERATIONS[0][1], write=slow_write))
        except Exception as error:  # asserted below
            first.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=first_request)
    thread.start()
    try:
        assert inside.wait(JOIN_TIMEOUT)
        for operation, fingerprint in OPERATIONS:  # the other operation, and the same request
            started = time.monotonic()
            with pytest.raises(KeyInProgress):
                run(operation=operation, fingerprint=fingerprint, write=recording("never"))
            assert time.monotonic() - started < 2, "the duplicate waited for the lock"
    finally:
        finish.set()
        thread.join(JOIN_TIMEOUT)

    assert isinstance(first[0], Outcome) and not first[0].replayed
    with pytest.raises(KeyReused):
        run(operation=OPERATIONS[1][0], fingerprint=OPERATIONS[1][1], write=recording("never"))
    replay = run(operation=OPERATIONS[0][0], fingerprint=OPERATIONS[0][1], write=recording("never"))
    assert replay.replayed and replay.result == first[0].result
    assert list(AuditEvent.objects.values_list("details", flat=True)) == [{"write": "dropoff"}]


def test_a_request_that_dies_mid_write_leaves_the_key_free():
    """The lock dies with the transaction: no row is left "in progress", the next request runs."""
    inside, crash = threading.Event(), threading.Event()

    def dying_write() -> AuditEvent:
        record_event(action=AuditEvent.Action.RULE_CHANGED, user=None, details={"write": "dies"})
        inside.set()
        crash.wait(JOIN_TIMEOUT)
        raise RuntimeError("the worker died")

    def first_request() -> None:
        try:
            run(operation=OPERATIONS[0][0], fingerprint=OPERATIONS[0][1], write=dying_write)
        except RuntimeError:
            pass
        finally:
            connection.close()

    thread = threading.Thread(target=first_request)
    thread.start()
    try:
        assert inside.wait(JOIN_TIMEOUT)
        with pytest.raises(KeyInProgress):
            run(operation=OPERATIONS[1][0], fingerprint=OPERATIONS[1][1], write=recording("never"))
    finally:
        crash.set()
        thread.join(JOIN_TIMEOUT)

    assert not IdempotencyKey.objects.exists() and not AuditEvent.objects.exists()
    retry = run(operation=OPERATIONS[1][0], fingerprint=OPERATIONS[1][1], write=recording("void"))
    assert not retry.replayed
    assert IdempotencyKey.objects.get().operation == "void"
    assert list(AuditEvent.objects.values_list("details", flat=True)) == [{"write": "void"}]


def test_one_key_in_two_scopes_at_once_runs_both_writes_side_by_side():
    """Different scopes never wait for each other: both writes are inside their transactions at
    the same moment (the barrier inside the write would break otherwise)."""
    meet = threading.Barrier(2)
    scopes = [station_scope(42), member_scope(42)]

    def send(index: int) -> Outcome:
        operation, fingerprint = OPERATIONS[index]
        return run(
            operation=operation, fingerprint=fingerprint, write=recording(operation, meet=meet), scope=scopes[index]
        )

    outcomes = run_concurrently(2, send)

    assert all(isinstance(outcome, Outcome) and not outcome.replayed for outcome in outcomes), outcomes
    assert sorted(AuditEvent.objects.values_list("details__write", flat=True)) == ["dropoff", "void"]
    assert dict(IdempotencyKey.objects.values_list("scope", "operation")) == {
        "station:42": "dropoff",
        "member:42": "void",
    }


def test_the_same_request_sent_by_many_at_once_is_written_once_and_replayed_to_the_others():
    operation, fingerprint = OPERATIONS[0]

    outcomes = run_concurrently(
        8, lambda index: run(operation=operation, fingerprint=fingerprint, write=recording(operation, hold=0.1))
    )

    results = [outcome for outcome in outcomes if isinstance(outcome, Outcome)]
    assert all(isinstance(outcome, Outcome | KeyInProgress) for outcome in outcomes), outcomes
    assert len([outcome for outcome in results if not outcome.replayed]) == 1
    assert len({str(outcome.result) for outcome in results}) == 1
    assert AuditEvent.objects.count() == 1 and IdempotencyKey.objects.count() == 1
