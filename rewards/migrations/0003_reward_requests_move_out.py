"""RewardRequest goes: reservations, cancellations and donations claim their idempotency key in
the idempotency app's one table, in the member's scope (idempotency/services.py).

The requests recorded within the retention period are carried into that table first, so that a
retry across the upgrade gets its first answer:
- the key as the client sent it (the API had stored "api:<user id>:<key>", the member pages the
  form's key itself), in the member's scope;
- the fingerprint as the services now compute it, from the old one's parts
  ("reward=..;station=..;quantity=.." or "campaign=..;notebooks=..");
- the outcome: the redemption or the donation (with the member's balance as it is now, the figure
  no row keeps), or the refusal's code and message. Refusals of the request's own shape (a
  quantity out of range) are not carried: the services no longer store those.
A request whose old fingerprint cannot be read is left out (a retry of it runs as a new request).
"""

import re
from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone

API_PREFIX = re.compile(r"^api:\d+:")
PARTS = {"reserve": ("reward", "station", "quantity"), "donate": ("campaign", "notebooks")}
SHAPE_REFUSALS = {"invalid_quantity"}


def _parameters(operation: str, fingerprint: str) -> dict | None:
    try:
        parts = dict(part.split("=", 1) for part in fingerprint.split(";"))
        return {name: int(parts[name]) for name in PARTS[operation]}
    except (KeyError, ValueError):
        return None


def carry_requests_forward(apps, schema_editor):
    from idempotency.services import member_scope, request_fingerprint

    RewardRequest = apps.get_model("rewards", "RewardRequest")
    Member = apps.get_model("recycling", "Member")
    IdempotencyKey = apps.get_model("idempotency", "IdempotencyKey")
    cutoff = timezone.now() - timedelta(hours=settings.GREENBOX_IDEMPOTENCY_RETENTION_HOURS)
    requests = list(
        RewardRequest.objects.filter(created_at__gte=cutoff).exclude(error_code__in=SHAPE_REFUSALS).order_by("pk")
    )
    balances = dict(Member.objects.filter(pk__in={r.member_id for r in requests}).values_list("pk", "account__balance"))
    keys = []
    for request in requests:
        parameters = _parameters(request.operation, request.fingerprint)
        if parameters is None:
            continue
        key = IdempotencyKey(
            scope=member_scope(request.member_id),
            key=API_PREFIX.sub("", request.key),
            operation=request.operation,
            fingerprint=request_fingerprint(**parameters),
            created_at=request.created_at,
        )
        if request.error_code:
            key.refusal_code, key.refusal_message = request.error_code, request.error_message
        elif request.redemption_id is not None:
            key.result = {"redemption": request.redemption_id, "balance": balances[request.member_id]}
        else:
            key.result = {"donation": request.donation_id, "balance": balances[request.member_id]}
        keys.append(key)
    IdempotencyKey.objects.bulk_create(keys, batch_size=2000, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0002_ledger_links"),
        ("idempotency", "0001_initial"),
        ("recycling", "0011_idempotency_keys_move_out"),
    ]

    operations = [
        # Backwards the table comes back empty: the keys stay where they are, and the old
        # services remember new requests again.
        migrations.RunPython(carry_requests_forward, migrations.RunPython.noop, elidable=True),
        migrations.DeleteModel(name="RewardRequest"),
    ]
