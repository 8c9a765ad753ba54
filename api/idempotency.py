"""Idempotency keys for the API's writes, the way Stripe documents them.

Every POST that writes accepts an `Idempotency-Key` header (1 to 64 printable ASCII
characters, e.g. a UUID), scoped to the user who sends it:

- same key, same request (method, path and JSON body): the first response, status and body,
  is replayed (with `Idempotent-Replayed: true`) and nothing is written again;
- same key, different request: 422 `idempotency_key_mismatch`;
- same key while the first request is still running: 409 `idempotency_request_in_progress`.

How (`idempotent()` wraps a view's post()):

1. Claim. The IdempotencyRecord (user, key, fingerprint = SHA-256 of method, path and the
   canonical JSON body, status `in_progress`) is INSERTed in a transaction of its own (one
   autocommit statement) and so committed at once. The unique (user, key) stops a concurrent
   duplicate at its INSERT (on PostgreSQL it waits for the first INSERT's commit, which is
   immediate); it then reads the record and answers 422, a replay, or 409. The claim cannot
   join the write's transaction: uncommitted, it would be invisible to a duplicate, which would
   then wait on the unique index for the whole request and get a replay instead of the 409.
2. Run the view. `atomic=True`: the view (its service opens its own atomic block, which nests
   as a savepoint) and the UPDATE that stores the response on the record run in one
   transaction, so the write and its remembered response commit together or not at all.
   `atomic=False` is for views whose services must run outside any transaction
   (rewards.services.reserve_reward and donate, which remember their refusals in a transaction
   of their own) and for the batch endpoint (one transaction per item); the response is stored
   right after. A crash in between leaves the record `in_progress`; the retry after the lock
   timeout runs the view again, and the services' own idempotency keys (derived from this key
   by `service_key()`) make the second run return the first outcome instead of writing twice.
3. A refusal by the domain (DomainError) is stored and replayed like a success: nothing was
   written, and the same request gets the same answer. A request that fails validation, is
   not found or crashes releases its claim (the record is deleted): nothing ran, and the
   client may fix the request and send it again with the same key.
4. A request that died without releasing its claim (a killed worker) leaves it `in_progress`;
   after GREENBOX_API_IDEMPOTENCY_LOCK_TIMEOUT_SECONDS a duplicate takes the claim over (a
   compare-and-set on `lock_token`) and runs the request.

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
from django.db import DatabaseError, IntegrityError, transaction
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
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyMismatch()
    if record.status == IdempotencyRecord.Status.COMPLETED:
        return replay(record)
    stale_before = timezone.now() - timedelta(seconds=settings.GREENBOX_API_IDEMPOTENCY_LOCK_TIMEOUT_SECONDS)
    if record.locked_at < stale_before:
        # The request holding the key has died (or runs far too long): take the claim over.
        taken = IdempotencyRecord.objects.filter(
            pk=record.pk,
            status=IdempotencyRecord.Status.IN_PROGRESS,
            lock_token=record.lock_token,
            locked_at__lt=stale_before,
        ).update(lock_token=token, locked_at=timezone.now())
        if taken:
            return Claim(record_id=record.pk, token=token)
    raise IdempotencyRequestInProgress()


def replay(record: IdempotencyRecord) -> Response:
    # json.loads keeps the stored key order, so the body renders to the same bytes.
    return Response(json.loads(record.response_body), status=record.response_status, headers={REPLAYED_HEADER: "true"})


def idempotent(*, atomic: bool = True):
    """Decorate a view's post(): honour the Idempotency-Key header (see the module docstring).

    The view finds the key it should pass to its service in `request.service_idempotency_key`.
    """

    def decorator(method):
        @functools.wraps(method)
        def wrapper(view, request: Request, *args, **kwargs):
            key = request.headers.get(HEADER)
            request.service_idempotency_key = service_key(user_id=request.user.pk, key=key)
            if key is None:
                return _run(method, view, request, args, kwargs, atomic=atomic, claim=None)
            if not is_valid_key(key):
                raise IdempotencyKeyInvalid()
            claimed = claim(user=request.user, key=key, request=request)
            if isinstance(claimed, Response):
                return claimed
            return _run(method, view, request, args, kwargs, atomic=atomic, claim=claimed)

        return wrapper

    return decorator


def _run(method, view, request, args, kwargs, *, atomic: bool, claim: Claim | None) -> Response:
    try:
        if atomic:
            with transaction.atomic():
                response = method(view, request, *args, **kwargs)
                if claim:
                    claim.complete(response)  # committed with the write, or rolled back with it
        else:
            response = method(view, request, *args, **kwargs)
            if claim:
                with transaction.atomic():
                    claim.complete(response)
        return response
    except DomainError as refusal:
        # The refused transaction rolled back; remember the refusal in a transaction of its own.
        response = domain_error_response(refusal)
        if claim:
            with transaction.atomic():
                claim.complete(response)
        return response
    except BaseException:
        if claim:
            claim.release()
        raise


def purge_expired_records(*, now=None) -> int:
    """Delete the records older than the retention period; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.GREENBOX_API_IDEMPOTENCY_RETENTION_HOURS)
    deleted, _per_model = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
