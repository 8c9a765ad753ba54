"""A station points at its ledger issuance account (the ledger knows no station).

Filled from the account's old station_id column, which recycling/migrations/0008 then drops.
The account takes the station's code as its name, so the ledger's own admin can tell them apart.
"""

import django.db.models.deletion
from django.db import migrations, models

FILL = [
    """
    UPDATE stations_station s SET issuance_account_id = a.id
    FROM recycling_account a WHERE a.kind = 'issuance' AND a.station_id = s.id
    """,
    """
    UPDATE recycling_account a SET name = s.code
    FROM stations_station s WHERE s.issuance_account_id = a.id AND a.name = ''
    """,
    "SET CONSTRAINTS ALL IMMEDIATE",  # no pending trigger events for later ALTER TABLEs
]
UNFILL = [
    "UPDATE recycling_account a SET station_id = s.id FROM stations_station s WHERE s.issuance_account_id = a.id",
    "SET CONSTRAINTS ALL IMMEDIATE",  # the deferred checks the UPDATE queued, before the ALTER TABLE
    """
    ALTER TABLE recycling_account ADD CONSTRAINT account_station_iff_issuance_kind
        CHECK ((kind = 'issuance' AND station_id IS NOT NULL) OR (NOT kind = 'issuance' AND station_id IS NULL))
    """,
    "SET CONSTRAINTS ALL IMMEDIATE",
]


class Migration(migrations.Migration):
    dependencies = [
        ("stations", "0002_city_coordinates_population"),
        ("ledger", "0002_flag_and_idempotency_constraint"),
    ]

    operations = [
        migrations.AddField(
            model_name="station",
            name="issuance_account",
            field=models.OneToOneField(
                blank=True,
                editable=False,
                help_text="The ledger account the points its cartons earn come from; created at its first drop-off.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="station",
                to="ledger.account",
                verbose_name="issuance account",
            ),
        ),
        migrations.RunSQL(FILL, UNFILL),
    ]
