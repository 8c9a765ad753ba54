"""API tokens: create one (its secret shown once), revoke one, and authenticate a request's.

A token is `PREFIX_LENGTH` characters of lookup prefix followed by the rest of a random secret
(secrets.token_urlsafe, 256 bits); the database keeps the prefix and the SHA-256 digest of the
whole token (api.models). Tokens converted from DRF's authtoken (migration 0004) are 40 hex
characters and are looked up the same way.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.services import record_event
from stations.models import Station
from stations.selectors import works_at

from .models import PREFIX_LENGTH, ApiToken

TOKEN_BYTES = 32
# last_used_at is written at most this often per token: once a minute is precise enough to
# tell a device that stopped, and a device posting several times a second writes it rarely.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    secret: str  # the token itself: shown once, never stored


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(
    *,
    user: AbstractBaseUser,
    name: str,
    station: Station | None = None,
    expires_at: datetime | None = None,
) -> CreatedToken:
    """A new token for `user` (a station's device: give its station; a partner: none), valid until
    `expires_at` (default GREENBOX_API_TOKEN_DAYS from now), and its audit event. Returns the
    row and the secret, which exists nowhere else afterwards. A station's token must be for a
    user who works there (ValidationError on "station" otherwise): it could do nothing else."""
    if station is not None and not works_at(user=user, station=station):
        raise ValidationError({"station": _("%(user)s does not work at this station.") % {"user": user}})
    now = timezone.now()
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction.atomic():
        token = ApiToken(
            prefix=secret[:PREFIX_LENGTH],
            digest=token_digest(secret),
            name=name,
            user=user,
            station=station,
            created_at=now,
            expires_at=expires_at or now + timedelta(days=settings.GREENBOX_API_TOKEN_DAYS),
        )
        token.full_clean()
        token.save()
        record_event(
            action=AuditEvent.Action.API_TOKEN_CREATED,
            target=token,
            details={"user": user.pk, "station": station.pk if station else None, "expires_at": token.expires_at},
        )
    return CreatedToken(token=token, secret=secret)


def revoke_api_token(*, token: ApiToken) -> ApiToken:
    """Revoke one token (the user's others keep working) and record it; revoking a revoked token
    changes nothing and records nothing."""
    with transaction.atomic():
        locked = ApiToken.objects.select_for_update().get(pk=token.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            record_event(action=AuditEvent.Action.API_TOKEN_REVOKED, target=locked, details={"user": locked.user_id})
    token.revoked_at = locked.revoked_at
    return token


def _columns(model, alias: str) -> list[str]:
    return [f'{alias}."{field.column}"' for field in model._meta.concrete_fields]


def _authentication_sql() -> str:
    User = get_user_model()
    tokens, users = ApiToken._meta.db_table, User._meta.db_table
    user_pk = User._meta.pk.column
    columns = ", ".join(_columns(ApiToken, "t") + _columns(User, "u"))
    # One statement: the token with its user, and last_used_at set when it is a minute old (the
    # data-modifying CTE runs whether or not the SELECT reads it; it reads the snapshot from
    # before, which is all the request needs). The UPDATE matches only the token whose digest
    # was presented, active, so a wrong secret with a known prefix changes nothing.
    return (
        f"WITH used AS (UPDATE {tokens} SET last_used_at = statement_timestamp() "
        f"WHERE prefix = %s AND digest = %s AND revoked_at IS NULL AND expires_at > statement_timestamp() "
        f"AND (last_used_at IS NULL OR last_used_at < statement_timestamp() - %s) RETURNING 1) "
        f'SELECT {columns} FROM {tokens} t JOIN {users} u ON u."{user_pk}" = t.user_id WHERE t.prefix = %s'
    )


def authenticated_token(*, secret: str) -> ApiToken | None:
    """The token whose secret this is, with its user, in one query, or None (unknown secret).

    The caller checks whether it is revoked or expired (ApiToken.is_active) and its user active;
    last_used_at is set (at most once a minute) only for an active token presented in full.
    """
    if len(secret) < PREFIX_LENGTH or len(secret) > 100:
        return None
    prefix, digest = secret[:PREFIX_LENGTH], token_digest(secret)
    User = get_user_model()
    token_fields = [f.attname for f in ApiToken._meta.concrete_fields]
    user_fields = [f.attname for f in User._meta.concrete_fields]
    with connection.cursor() as cursor:
        cursor.execute(_authentication_sql(), [prefix, digest, LAST_USED_RESOLUTION, prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    token = ApiToken.from_db(connection.alias, token_fields, row[: len(token_fields)])
    if not hmac.compare_digest(token.digest, digest):
        return None
    token.user = User.from_db(connection.alias, user_fields, row[len(token_fields) :])
    return token
