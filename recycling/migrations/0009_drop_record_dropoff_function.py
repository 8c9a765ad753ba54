"""record_dropoff() has one implementation, in Python (recycling/services.py): the PL/pgSQL copy
of it that 0006 created is dropped. Backwards, 0006's function is created again."""

from importlib import import_module

from django.db import migrations

FUNCTION_0006 = import_module("recycling.migrations.0006_record_dropoff_function")

DROP = """
DROP FUNCTION IF EXISTS recycling_record_dropoff(
    bigint, text, integer, bigint, boolean, text, timestamptz, date, timestamptz, timestamptz, timestamptz
)
"""


class Migration(migrations.Migration):
    dependencies = [("recycling", "0008_ledger_moved_out")]

    operations = [migrations.RunSQL([DROP], [FUNCTION_0006.POSTGRES_FORWARD])]
