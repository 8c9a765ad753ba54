"""Idempotency keys for the API's writes, the way Stripe documents them.

Every POST that writes accepts an `Idempotency-Key` header (1 to 64 printable ASCII
characters, e.g. a UUID), scoped to the user who sends it:

- same key, same request (method, path and JSON body): the first response, status and body,
  is replayed (with `Idempotent-Replayed: true`) and nothing is written again;
- same key, different request: 422 `idempotency_key_mismatch`;
- same key while the first request is still running: 409 `idempotency_request_in_progress`.

How (`idempotent()` wraps a view's post()); the fingerprint is the SHA-256 of the method, the
path and the canonical JSON body:

1. Views whose write is one transaction (`atomic=True`: drop-offs, voids, cancellations,
   collections). One transaction holds everything: lock_key() takes the key for it and reads
   its record; then the view runs, and store() INSERTs the record with the response. The write
   and its remembered response commit together or not at all, in one commit. On PostgreSQL the
   lock is a transaction-level advisory lock on the user's key, taken without waiting: a
   duplicate that finds it held gets the 409 at once, and a request that dies (a killed worker,
   a lost connection) releases it with its transaction, leaving no record. Elsewhere (SQLite,
   the embedded default) write transactions run one at a time, so a duplicate simply waits and
   then finds the record.
2. Views whose services must run outside any transaction (`atomic=False`: rewards.services.
   reserve_reward and donate, which remember their refusals in a transaction of their own, and
   the batch endpoint, one transaction per item). The key is claimed first by an INSERT of the
   record (`in_progress`) in a transaction of its own, committed at once so that a duplicate
   sees it (the unique (user, key) stops the duplicate's INSERT; it then reads the record and
   answers 422, a replay, or 409); the response is stored after the view. A crash in between
   leaves the record `in_progress`; the retry after the lock timeout runs the view again, and
   the services' own idempotency keys (derived from this key by `service_key()`) make the
   second run return the first outcome instead of writing twice.
3. A refusal by the domain (DomainError) is stored and replayed like a success: nothing was
   written, and the same request gets the same answer. A request that fails validation, is
   not found or crashes stores nothing (its claim, if any, is released): nothing ran, and the
   client may fix the request and send it again with the same key.
4. A record left `in_progress` (a claim whose request died) is taken over by a duplicate after
   GREENBOX_API_IDEMPOTENCY_LOCK_TIMEOUT_SECONDS (a compare-and-set on `lock_token`), which runs
   the request.

Records are kept GREENBOX_API_IDEMPOTENCY_RETENTION_HOURS (24 h); purge_expired_records() deletes
older ones, run daily by the Celery beat task api.purge_idempotency_records (scheduled by
api/reference_data.py) or by `manage.py purge_idempotency_keys`. After that the services'
own keys still stop a double write; only the exact replay of the response is gone.
"""

import functools
import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from recycling.errors import DomainError

from .errors import IdempotencyKeyInvalid, IdempotencyKeyMismatch, IdempotencyRequestInProgress, domain_error_response
from .models import MAX_IDEMPOTENCY_KEY_LENGTH, IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
logger = logging.getLogger(__name__)
KEY_PATTERN = re.compile(rf"^[\x21-\x7e]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}$")


def is_valid_key(key: object) -> bool:
    return isinstance(key, str) and KEY_PATTERN.match(key) is not None


def service_key(*, user_id: int, key: str | None) -> str:
    """The idempotency key handed to a service, namespaced by user so that two users' keys never
    meet in the services' (global) unique keys; a fresh one when the client sent none."""
    return f"api:{user_id}:{key if key is not None else 'auto-' + uuid.uuid4().hex}"


def request_fingerprint(request: Request) -> str:
    """SHA-256 of the method, the path and the body as canonical JSON (sorted keys, no spaces)."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, cls=JSONEncoder)
    return hashlib.sha256(f"{request.method}\n{request.path}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    record_id: int
    token: str

    def complete(self, response: Response) -> None:
        """Store the response on the record (inside the caller's transaction, if any)."""
        IdempotencyRecord.objects.filter(pk=self.record_id, lock_token=self.token).update(
            status=IdempotencyRecord.Status.COMPLETED,
            response_status=response.status_code,
            response_body=json.dumps(response.data, cls=JSONEncoder, ensure_ascii=False),
            completed_at=timezone.now(),
        )

    def release(self) -> None:
        """Give the key back: nothing was written, the request may be sent again.

        If even that fails (the database went away), the record stays `in_progress` and
        becomes free after the lock timeout."""
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.filter(
                    pk=self.record_id, lock_token=self.token, status=IdempotencyRecord.Status.IN_PROGRESS
                ).delete()
        except DatabaseError:
            logger.exception("Could not release idempotency record %s", self.record_id)


def claim(*, user, key: str, request: Request) -> Claim | Response:
    """Claim the key for this request, or return the answer a duplicate gets (a replay); raises
    IdempotencyKeyMismatch (422) or IdempotencyRequestInProgress (409)."""
    fingerprint = request_fingerprint(request)
    token = uuid.uuid4().hex
    record = IdempotencyRecord(
        user=user, key=key, method=request.method, path=request.path[:300], fingerprint=fingerprint, lock_token=token
    )
    try:
        if transaction.get_connection().in_atomic_block:
            # Inside a caller's transaction (tests): a savepoint, so that a duplicate's
            # IntegrityError leaves that transaction usable.
            with transaction.atomic():
                record.save(force_insert=True)
        else:
            # In autocommit the INSERT is its own transaction: committed, and visible to a concurrent
            # duplicate, the moment it returns, in one round trip (no BEGIN and COMMIT around it).
            record.save(force_insert=True)
        return Claim(record_id=record.pk, token=token)
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.filter(user=user, key=key).first()
    if record is None:  # released or purged meanwhile: the caller may simply retry
        raise IdempotencyRequestInProgress()
    answer = answer_duplicate(record, fingerprint=fingerprint)
    if answer is not None:
        return answer
    # The request holding the key has died (or runs far too long): take the claim over.
    taken = IdempotencyRecord.objects.filter(
        pk=record.pk, status=IdempotencyRecord.Status.IN_PROGRESS, lock_token=record.lock_token
    ).update(lock_token=token, locked_at=timezone.now())
    if taken:
        return Claim(record_id=record.pk, token=token)
    raise IdempotencyRequestInProgress()


def answer_duplicate(record: IdempotencyRecord, *, fingerprint: str) -> Response | None:
    """What a request gets whose key has a record: the replay of the first response, or a 422 or
    409 (raised); None when the record was left in progress by a request that has died (or
    runs far too long), which the caller may take over."""
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyMismatch()
    if record.status == IdempotencyRecord.Status.COMPLETED:
        # json.loads keeps the stored key order, so the body renders to the same bytes.
        body = json.loads(record.response_body)
        return Response(body, status=record.response_status, headers={REPLAYED_HEADER: "true"})
    stale_before = timezone.now() - timedelta(seconds=settings.GREENBOX_API_IDEMPOTENCY_LOCK_TIMEOUT_SECONDS)
    if record.locked_at < stale_before:
        return None
    raise IdempotencyRequestInProgress()


def lock_key(*, user_id: int, key: str) -> IdempotencyRecord | None:
    """Take the key for the current transaction and return its record, if any (only the fields
    answer_duplicate() reads). Raises IdempotencyRequestInProgress when a request holding the key
    is running (PostgreSQL: its advisory lock is held, see the module docstring)."""
    if connection.vendor != "postgresql":
        return IdempotencyRecord.objects.filter(user_id=user_id, key=key).first()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM api_lock_idempotency_key(%s, %s)", [user_id, key])
        locked, record_id, fingerprint, status, response_status, response_body, locked_at = cursor.fetchone()
    if not locked:
        raise IdempotencyRequestInProgress()
    if record_id is None:
        return None
    return IdempotencyRecord(
        pk=record_id,
        fingerprint=fingerprint,
        status=status,
        response_status=response_status,
        response_body=response_body,
        locked_at=locked_at,
    )


STORE = """
INSERT INTO api_idempotencyrecord (user_id, key, method, path, fingerprint, status, lock_token, locked_at,
    response_status, response_body, created_at, completed_at)
VALUES (%s, %s, %s, %s, %s, 'completed', '', %s, %s, %s, %s, %s)
ON CONFLICT (user_id, key) DO UPDATE SET
    status = excluded.status, lock_token = excluded.lock_token, response_status = excluded.response_status,
    response_body = excluded.response_body, completed_at = excluded.completed_at
WHERE api_idempotencyrecord.status = 'in_progress'
"""


def store(*, request: Request, key: str, fingerprint: str, response: Response) -> None:
    """Record the request's response under its key, in the caller's transaction; a record left
    in progress by a request that died is completed. One statement, without the ORM: it runs
    on every write with a key."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    body = json.dumps(response.data, cls=JSONEncoder, ensure_ascii=False)
    with connection.cursor() as cursor:
        cursor.execute(
            STORE,
            [request.user.pk, key, request.method, request.path[:300], fingerprint, now, response.status_code, body,
             now, now],
        )  # fmt: skip


def idempotent(*, atomic: bool = True):
    """Decorate a view's post(): honour the Idempotency-Key header (see the module docstring).

    The view finds the key it should pass to its service in `request.service_idempotency_key`.
    """

    def decorator(method):
        @functools.wraps(method)
        def wrapper(view, request: Request, *args, **kwargs):
            key = request.headers.get(HEADER)
            request.service_idempotency_key = service_key(user_id=request.user.pk, key=key)
            if key is not None and not is_valid_key(key):
                raise IdempotencyKeyInvalid()
            run = functools.partial(method, view, request, *args, **kwargs)
            if atomic:
                return _run_in_one_transaction(run, request=request, key=key)
            if key is None:
                return _answer(run)
            claimed = claim(user=request.user, key=key, request=request)
            if isinstance(claimed, Response):
                return claimed
            try:
                response = _answer(run)
            except BaseException:
                claimed.release()
                raise
            with transaction.atomic():
                claimed.complete(response)
            return response

        return wrapper

    return decorator


def _answer(run) -> Response:
    """The view's response, or the one for the domain's refusal (its transaction rolled back)."""
    try:
        return run()
    except DomainError as refusal:
        return domain_error_response(refusal)


def _run_in_one_transaction(run, *, request: Request, key: str | None) -> Response:
    fingerprint = request_fingerprint(request) if key is not None else None
    try:
        with transaction.atomic():
            if key is not None:
                earlier = lock_key(user_id=request.user.pk, key=key)
                answer = answer_duplicate(earlier, fingerprint=fingerprint) if earlier is not None else None
                if answer is not None:
                    return answer
            response = run()
            if key is not None:
                store(request=request, key=key, fingerprint=fingerprint, response=response)
            return response
    except DomainError as refusal:
        # The refused transaction rolled back; remember the refusal in a transaction of its own.
        response = domain_error_response(refusal)
        if key is not None:
            with transaction.atomic():
                store(request=request, key=key, fingerprint=fingerprint, response=response)
        return response


def purge_expired_records(*, now=None) -> int:
    """Delete the records older than the retention period; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.GREENBOX_API_IDEMPOTENCY_RETENTION_HOURS)
    deleted, _per_model = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
