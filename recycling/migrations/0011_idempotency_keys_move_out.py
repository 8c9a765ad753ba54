"""The drop-off's and the carton movement's own idempotency keys go: every keyed write claims its
key in the idempotency app's one table, in the station's scope (idempotency/services.py). The
ledger's own guard, Transfer.idempotency_key, stays.

The keys of the rows recorded within the retention period are carried into that table first, so
that a device re-sending its queue across the upgrade records nothing twice:
- the key as the client sent it: the API had stored "api:<user id>:<key>", the desk the key itself;
- the request's fingerprint as the services now compute it (idempotency.services.
  request_fingerprint): the member code, the cartons, and the time as sent: none when the client
  sent none, which the old write shows as occurred_at equal to recorded_at (both were its `now`);
  a carton movement's desk form sends no time;
- the stored result: the row, and the figure the first answer gave that no row keeps (the balance
  after a drop-off, the cartons on hand after a movement) as it is now.
Two keys that collide in the new scope (the same key sent by two logins at one station, which the
old per-user scope allowed) keep the first. A request that does not match its carried key exactly
is refused as a reused key (422), never written twice.
"""

import re
from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

API_PREFIX = re.compile(r"^api:\d+:")
BATCH = 2000


def _client_key(stored: str) -> str:
    return API_PREFIX.sub("", stored)


def carry_keys_forward(apps, schema_editor):
    from idempotency.services import request_fingerprint, station_scope

    DropOff = apps.get_model("recycling", "DropOff")
    CartonMovement = apps.get_model("recycling", "CartonMovement")
    CartonInventory = apps.get_model("recycling", "CartonInventory")
    IdempotencyKey = apps.get_model("idempotency", "IdempotencyKey")
    cutoff = timezone.now() - timedelta(hours=settings.GREENBOX_IDEMPOTENCY_RETENTION_HOURS)

    def save(keys: list) -> None:
        IdempotencyKey.objects.bulk_create(keys, ignore_conflicts=True)
        keys.clear()

    keys = []
    dropoffs = DropOff.objects.filter(recorded_at__gte=cutoff).order_by("pk")
    for row in dropoffs.values(
        "pk", "station_id", "member__code", "cartons", "occurred_at", "recorded_at", "idempotency_key",
        "member__account__balance",
    ).iterator(chunk_size=BATCH):  # fmt: skip
        sent_time = None if row["occurred_at"] == row["recorded_at"] else row["occurred_at"]
        keys.append(
            IdempotencyKey(
                scope=station_scope(row["station_id"]),
                key=_client_key(row["idempotency_key"]),
                operation="dropoff",
                fingerprint=request_fingerprint(
                    member_code=row["member__code"], cartons=row["cartons"], occurred_at=sent_time
                ),
                result={"dropoff": row["pk"], "balance": row["member__account__balance"]},
                created_at=row["recorded_at"],
            )
        )
        if len(keys) >= BATCH:
            save(keys)
    on_hand = dict(CartonInventory.objects.values_list("station_id", "on_hand"))
    movements = CartonMovement.objects.filter(occurred_at__gte=cutoff).order_by("pk")
    for row in movements.values("pk", "station_id", "kind", "cartons", "occurred_at", "idempotency_key").iterator(
        chunk_size=BATCH
    ):
        keys.append(
            IdempotencyKey(
                scope=station_scope(row["station_id"]),
                key=_client_key(row["idempotency_key"]),
                operation="movement",
                fingerprint=request_fingerprint(kind=row["kind"], cartons=row["cartons"], occurred_at=None),
                result={"movement": row["pk"], "on_hand": on_hand.get(row["station_id"], 0)},
                created_at=row["occurred_at"],
            )
        )
        if len(keys) >= BATCH:
            save(keys)
    save(keys)


def give_keys_back(apps, schema_editor):
    """Backwards: every row gets a key again, its carried key where there is one (the API's prefix
    is not restored: the old API recomputes it only for the keys it is sent again)."""
    IdempotencyKey = apps.get_model("idempotency", "IdempotencyKey")
    for model_name, operation, result_field in (
        ("DropOff", "dropoff", "dropoff"),
        ("CartonMovement", "movement", "movement"),
    ):
        model = apps.get_model("recycling", model_name)
        carried = {
            result[result_field]: key
            for key, result in IdempotencyKey.objects.filter(operation=operation, result__isnull=False).values_list(
                "key", "result"
            )
            if result_field in result
        }
        for pk in model.objects.filter(idempotency_key__isnull=True).values_list("pk", flat=True).iterator():
            model.objects.filter(pk=pk).update(idempotency_key=carried.get(pk) or f"{operation}:{pk}")


class Migration(migrations.Migration):
    dependencies = [
        ("recycling", "0010_dropoff_no_prefix_indexes"),
        ("idempotency", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(carry_keys_forward, migrations.RunPython.noop, elidable=True),
        # Nullable first, so that backwards the column comes back empty (unique, many NULLs) and
        # give_keys_back() fills it before it is NOT NULL again.
        migrations.AlterField(
            model_name="dropoff",
            name="idempotency_key",
            field=models.CharField(max_length=100, null=True, unique=True, verbose_name="idempotency key"),
        ),
        migrations.AlterField(
            model_name="cartonmovement",
            name="idempotency_key",
            field=models.CharField(max_length=100, null=True, unique=True, verbose_name="idempotency key"),
        ),
        migrations.RunPython(migrations.RunPython.noop, give_keys_back),
        migrations.RemoveField(model_name="cartonmovement", name="idempotency_key"),
        migrations.RemoveField(model_name="dropoff", name="idempotency_key"),
    ]
