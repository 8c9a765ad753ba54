"""Recording audit events. Other apps call record_event(); nothing else writes the log."""

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from . import context
from .models import AuditEvent, HourlyCount

logger = logging.getLogger("greenbox.audit")

MAX_DESCRIPTION_LENGTH = 200
MAX_USERNAME_LENGTH = 150


class _RequestUser:
    def __repr__(self) -> str:
        return "REQUEST_USER"


# record_event()'s default user: whoever is signed in on the current request (none outside one).
REQUEST_USER: Any = _RequestUser()


def record_event(
    *,
    action: str,
    user: AbstractBaseUser | None = REQUEST_USER,
    target: models.Model | None = None,
    details: dict | None = None,
    username: str | None = None,
) -> AuditEvent:
    """Write one audit event in the caller's transaction, so that an action rolled back leaves
    no event behind, and emit it as one line on the "greenbox.audit" logger.

    `user` defaults to the current request's signed-in user; pass None for "nobody" (a failed
    sign-in). `username` defaults to the user's; `details` must be JSON-serializable (dates
    and decimals are fine). The address comes from the request (AuditContextMiddleware).
    """
    request = context.current.get()
    if user is REQUEST_USER:
        user = request.user if request is not None else None
    if username is None:
        username = user.get_username() if user is not None else ""
    event = AuditEvent.objects.create(
        action=action,
        # An unsaved user (a script acting as a superuser, as the demo loader does) is named only.
        user=user if user is not None and user.pk is not None else None,
        username=username[:MAX_USERNAME_LENGTH],
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
        target_description=str(target)[:MAX_DESCRIPTION_LENGTH] if target is not None else "",
        details=details or {},
        address=request.address if request is not None else None,
    )
    logger.info(log_line(event))
    return event


def count_per_hour(kind: HourlyCount.Kind, *, at: datetime | None = None) -> None:
    """Add one to the current hour's count of this kind: one statement (an upsert), so
    concurrent requests each count and a flood costs no more than one row an hour."""
    hour = (at or timezone.now()).replace(minute=0, second=0, microsecond=0)
    table = HourlyCount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (kind, hour, count) VALUES (%s, %s, 1) "
            f"ON CONFLICT (kind, hour) DO UPDATE SET count = {table}.count + 1",
            [kind, hour],
        )


def log_line(event: AuditEvent) -> str:
    """The event as one line: "audit " and a JSON object. JSON with ensure_ascii escapes CR, LF,
    every other control character, quotes and all non-ASCII (U+2028 included), so nothing a
    user typed (a void reason, a username) can end the line or pass for another field."""
    fields = {
        "action": event.action,
        "user": event.username,
        "user_id": event.user_id,
        "target": f"{event.target_type.app_label}.{event.target_type.model}:{event.target_id}"
        if event.target_type_id
        else None,
        "address": event.address,
        "details": event.details,
    }
    return "audit " + json.dumps(fields, cls=DjangoJSONEncoder, ensure_ascii=True, sort_keys=False)


def audit_values(changes: dict) -> dict:
    """The new values of a change, for an event's details: a related object by its primary key."""
    return {field: value.pk if isinstance(value, models.Model) else value for field, value in changes.items()}


def save_changes(
    instance: models.Model,
    changes: dict,
    *,
    allowed: tuple[str, ...] | list[str],
    action: str,
    refuse: Callable[[models.Model, dict], None] | None = None,
) -> models.Model:
    """Change some fields of a row and record the change, in one transaction: the row is locked
    and read fresh, `refuse(locked, changes)` may raise to refuse the change, the row is
    validated (full_clean) and saved, and an event of `action` records the new values. Returns
    `instance` with the changes applied. The services that edit rules and the catalog use it.

    Raises TypeError for a field not in `allowed`; changes nothing when `changes` is empty.
    """
    unknown = set(changes) - set(allowed)
    if unknown:
        raise TypeError(f"cannot change {sorted(unknown)}")
    if not changes:
        return instance
    with transaction.atomic():
        # The lock serializes edits of the row, and waits for any writer still holding a key-share
        # lock on it (a drop-off recorded with this rule), so refuse() sees what it committed.
        locked = type(instance).objects.select_for_update().get(pk=instance.pk)
        if refuse is not None:
            refuse(locked, changes)
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.full_clean()
        locked.save(update_fields=list(changes))
        record_event(action=action, target=locked, details={"created": False, "changed": audit_values(changes)})
    for field, value in changes.items():
        setattr(instance, field, value)
    return instance
