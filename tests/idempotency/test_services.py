"""run_idempotent(): one claim per key and scope, its outcome stored with the write, replayed after.

The write in these tests is a throwaway one on an existing table: it records an audit event
(audit/ is the ground floor, like idempotency/), so "did the write run, and did it commit?" is
a count of events.
"""

import contextlib
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record_event
from core.errors import DomainError
from idempotency.errors import InvalidKey, KeyReused
from idempotency.models import IdempotencyKey
from idempotency.services import (
    member_scope,
    purge_expired_keys,
    request_fingerprint,
    run_idempotent,
    run_idempotent_if_keyed,
    station_scope,
    was_replayed,
)
from idempotency.tasks import purge_expired_keys_task

pytestmark = pytest.mark.django_db

SCOPE = station_scope(42)
FINGERPRINT = request_fingerprint(member_code="ABC", cartons=3)


class Refused(DomainError):
    code = "test_refused"


class Writes:
    """A throwaway write that records an audit event and counts its runs."""

    def __init__(self, *, then: Exception | None = None):
        self.runs = 0
        self.then = then

    def __call__(self) -> AuditEvent:
        self.runs += 1
        event = record_event(action=AuditEvent.Action.RULE_CHANGED, user=None, details={"run": self.runs})
        if self.then is not None:
            raise self.then
        return event


def event_result(event: AuditEvent) -> dict:
    return {"event": event.pk, "at": event.at}


def run(write, *, key="key-1", scope=SCOPE, operation="dropoff", fingerprint=FINGERPRINT, to_result=event_result):
    return run_idempotent(
        scope=scope, key=key, operation=operation, fingerprint=fingerprint, write=write, to_result=to_result
    )


def test_a_success_is_stored_with_its_write_and_replayed_without_running_again():
    write = Writes()

    first = run(write)

    event = AuditEvent.objects.get()
    assert (first.replayed, first.value) == (False, event)
    # The result is the stored JSON (the time as Django's JSON text) on the first call as on a replay.
    assert first.result == {"event": event.pk, "at": DjangoJSONEncoder().default(event.at)}
    stored = IdempotencyKey.objects.get()
    assert (stored.scope, stored.key, stored.operation, stored.fingerprint) == (SCOPE, "key-1", "dropoff", FINGERPRINT)
    assert (stored.result, stored.refusal_code, stored.refusal_message) == (first.result, "", "")

    again = run(write)

    assert (again.replayed, again.result, again.value) == (True, first.result, None)
    assert write.runs == 1 and AuditEvent.objects.count() == 1 and IdempotencyKey.objects.count() == 1


def test_a_refusal_rolls_the_write_back_is_stored_and_is_raised_again_on_replay():
    write = Writes(then=Refused("Not today."))

    with pytest.raises(Refused) as first:
        run(write)

    assert not was_replayed(first.value)
    assert not AuditEvent.objects.exists()  # rolled back to the savepoint
    stored = IdempotencyKey.objects.get()
    assert (stored.result, stored.refusal_code, stored.refusal_message) == (None, "test_refused", "Not today.")

    with pytest.raises(Refused) as again:
        run(write)

    assert was_replayed(again.value)
    assert (again.value.code, str(again.value.message)) == ("test_refused", "Not today.")
    assert write.runs == 1 and not AuditEvent.objects.exists()


def test_a_stored_refusal_whose_class_is_gone_is_replayed_with_its_code():
    IdempotencyKey.objects.create(
        scope=SCOPE, key="key-1", operation="dropoff", fingerprint=FINGERPRINT, refusal_code="renamed_since",
        refusal_message="Refused back then.",
    )  # fmt: skip

    with pytest.raises(DomainError) as replay:
        run(Writes())

    assert type(replay.value) is DomainError
    assert (replay.value.code, replay.value.message, was_replayed(replay.value)) == (
        "renamed_since",
        "Refused back then.",
        True,
    )


def record_cartons(*, key: str, cartons: object) -> dict:
    """A service the way the mechanism expects one: the request's own shape is checked before
    the claim, so its refusal stores nothing; then the keyed write."""
    if not isinstance(cartons, int) or cartons < 1:
        raise Refused("Give a positive number of cartons.")
    return run(Writes(), key=key, fingerprint=request_fingerprint(cartons=cartons)).result


def test_a_request_refused_for_its_shape_stores_nothing_so_the_corrected_retry_goes_through():
    with pytest.raises(Refused):
        record_cartons(key="key-1", cartons=0)
    assert not IdempotencyKey.objects.exists()

    result = record_cartons(key="key-1", cartons=3)

    assert result["event"] == AuditEvent.objects.get().pk
    assert IdempotencyKey.objects.get().fingerprint == request_fingerprint(cartons=3)


@pytest.mark.parametrize("key", ["", "k" * 101, None, 7])
def test_a_key_that_is_not_1_to_100_characters_is_refused_before_anything_runs(key):
    write = Writes()

    with pytest.raises(InvalidKey):
        run(write, key=key)

    assert write.runs == 0 and not IdempotencyKey.objects.exists()


def test_without_a_key_the_write_runs_each_time_and_nothing_is_stored():
    """run_idempotent_if_keyed() without a key: a caller with none (an admin action) whose
    write's own state makes it act once."""
    write = Writes()

    def unkeyed():
        return run_idempotent_if_keyed(
            scope=SCOPE, key=None, operation="void", fingerprint=FINGERPRINT, write=write, to_result=event_result
        )

    first, second = unkeyed(), unkeyed()

    assert write.runs == 2 and not first.replayed and not second.replayed
    assert first.result["event"] != second.result["event"]
    assert not IdempotencyKey.objects.exists()


@pytest.mark.parametrize(
    "other", [{"operation": "movement"}, {"fingerprint": request_fingerprint(member_code="ABC", cartons=4)}]
)
@pytest.mark.parametrize("first_refused", [False, True])
def test_the_key_with_another_operation_or_request_is_refused_as_reused(other, first_refused):
    with contextlib.suppress(Refused):
        run(Writes(then=Refused() if first_refused else None))
    stored_before = IdempotencyKey.objects.values().get()
    write = Writes()

    with pytest.raises(KeyReused):
        run(write, **other)

    assert write.runs == 0
    assert IdempotencyKey.objects.values().get() == stored_before
    assert AuditEvent.objects.count() == (0 if first_refused else 1)


def test_a_crash_in_the_write_stores_nothing_and_the_key_serves_again():
    with pytest.raises(RuntimeError):
        run(Writes(then=RuntimeError("the worker died")))

    assert not AuditEvent.objects.exists() and not IdempotencyKey.objects.exists()

    outcome = run(Writes(), operation="void", fingerprint=request_fingerprint(dropoff=7, reason="twice"))

    assert not outcome.replayed and AuditEvent.objects.count() == 1
    assert IdempotencyKey.objects.get().operation == "void"


def test_a_result_that_is_not_a_json_object_is_a_bug_and_rolls_the_write_back():
    with pytest.raises(TypeError):
        run(Writes(), to_result=lambda event: event.pk)

    assert not AuditEvent.objects.exists() and not IdempotencyKey.objects.exists()


def test_one_key_in_two_scopes_is_two_claims():
    station, member = run(Writes(), scope=station_scope(7)), run(Writes(), scope=member_scope(7))

    assert not station.replayed and not member.replayed
    assert AuditEvent.objects.count() == 2
    assert set(IdempotencyKey.objects.values_list("scope", flat=True)) == {"station:7", "member:7"}


def test_it_must_be_the_outermost_transaction():
    write = Writes()

    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        run(write)

    assert write.runs == 0 and not IdempotencyKey.objects.exists()


def test_the_fingerprint_is_the_sha256_of_the_canonical_parameters():
    shanghai = ZoneInfo("Asia/Shanghai")
    at = datetime(2026, 3, 1, 9, 30, tzinfo=shanghai)

    fingerprint = request_fingerprint(member_code="ABC", cartons=3, occurred_at=at)

    assert len(fingerprint) == 64 and int(fingerprint, 16) >= 0
    # Order of the parameters and the zone a time is written in do not matter ...
    assert fingerprint == request_fingerprint(occurred_at=at.astimezone(UTC), cartons=3, member_code="ABC")
    # ... their values and types do.
    assert fingerprint != request_fingerprint(member_code="ABC", cartons=4, occurred_at=at)
    assert fingerprint != request_fingerprint(member_code="ABC", cartons=3, occurred_at=at + timedelta(seconds=1))
    assert request_fingerprint(cartons=1) != request_fingerprint(cartons=True)
    assert request_fingerprint(cartons=None) != request_fingerprint()


def test_keys_are_kept_30_days_then_purged_by_the_service_the_task_and_the_command():
    """30 days: longer than a station device may plausibly stay offline (config/settings/base.py)."""
    now = timezone.now()
    for key, age in [("old", timedelta(days=30, minutes=1)), ("recent", timedelta(days=29, hours=23))]:
        run(Writes(), key=key)
        IdempotencyKey.objects.filter(key=key).update(created_at=now - age)

    assert purge_expired_keys(now=now) == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent"]
    assert purge_expired_keys(now=now) == 0

    IdempotencyKey.objects.update(created_at=now - timedelta(days=31))
    assert purge_expired_keys_task.apply().get() == 1

    run(Writes(), key="older")
    IdempotencyKey.objects.update(created_at=now - timedelta(days=31))
    output = io.StringIO()
    call_command("purge_old_idempotency_keys", stdout=output)
    assert not IdempotencyKey.objects.exists()
    assert output.getvalue() == "Deleted 1 idempotency keys older than 720 hours.\n"


def test_a_purged_key_runs_as_a_new_request():
    run(Writes())
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(days=31))
    purge_expired_keys()

    again = run(Writes())

    assert not again.replayed and AuditEvent.objects.count() == 2
