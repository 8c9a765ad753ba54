"""The API's own idempotency records go, with api_lock_idempotency_key(): every write that takes a
key claims it through its service in the idempotency app's one table (idempotency/services.py).
The daily purge's schedule now runs that app's task.

The records are not carried over. They held the API's answers for 24 hours, per user; the keys
of drop-offs, reservations and donations are carried into the new table from the business rows
(recycling 0011, rewards 0003), and voids, cancellations and collections act once by their row's
state: a retry across the upgrade is refused (already voided, cancelled or collected), never
written twice.
"""

from importlib import import_module

from django.db import migrations

lock_function = import_module("api.migrations.0002_lock_idempotency_key_function")

OLD_TASK, NEW_TASK = "api.purge_idempotency_records", "idempotency.purge_expired_keys"


def schedule_the_idempotency_apps_purge(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task=OLD_TASK).update(task=NEW_TASK)


def schedule_the_apis_purge(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task=NEW_TASK).update(task=OLD_TASK)


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0002_lock_idempotency_key_function"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunSQL(lock_function.POSTGRES_BACKWARD, reverse_sql=lock_function.POSTGRES_FORWARD),
        migrations.DeleteModel(name="IdempotencyRecord"),
        migrations.RunPython(schedule_the_idempotency_apps_purge, schedule_the_apis_purge),
    ]
