"""Account and Transfer leave recycling's state (they are ledger.Account and ledger.Transfer now,
on the same tables), and the ledger's tables lose their columns that named business rows.

Runs after rewards 0002 and stations 0003 (a dependency up the floors, as every model move
between apps needs: their foreign keys must point at the ledger's models before recycling's
copies leave the state, and their data migrations read the old columns dropped here).
Dropping a column drops its foreign key, its index and the CHECKs over it
(account_member_iff_member_kind, account_station_iff_issuance_kind) with it.
"""

import django.db.models.deletion
from django.db import migrations, models

DROP_BUSINESS_COLUMNS = [
    "ALTER TABLE recycling_account DROP COLUMN member_id, DROP COLUMN station_id",
    "ALTER TABLE recycling_transfer DROP COLUMN dropoff_id, DROP COLUMN station_id",
]
# Backwards: the columns come back empty; the data migrations before this one fill them again.
ADD_BUSINESS_COLUMNS = [
    """
    ALTER TABLE recycling_account
        ADD COLUMN member_id bigint NULL UNIQUE REFERENCES recycling_member (id) DEFERRABLE INITIALLY DEFERRED,
        ADD COLUMN station_id bigint NULL UNIQUE REFERENCES stations_station (id) DEFERRABLE INITIALLY DEFERRED
    """,
    """
    ALTER TABLE recycling_transfer
        ADD COLUMN dropoff_id bigint NULL REFERENCES recycling_dropoff (id) DEFERRABLE INITIALLY DEFERRED,
        ADD COLUMN station_id bigint NULL REFERENCES stations_station (id) DEFERRABLE INITIALLY DEFERRED
    """,
    "CREATE INDEX recycling_transfer_dropoff_id ON recycling_transfer (dropoff_id)",
    "CREATE INDEX recycling_transfer_station_id ON recycling_transfer (station_id)",
]


class Migration(migrations.Migration):
    dependencies = [
        ("recycling", "0007_member_account_dropoff_transfers"),
        ("rewards", "0002_ledger_links"),
        ("stations", "0003_station_issuance_account"),
    ]

    operations = [
        migrations.AlterField(
            model_name="member",
            name="account",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="member",
                to="ledger.account",
                verbose_name="points account",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(DROP_BUSINESS_COLUMNS, ADD_BUSINESS_COLUMNS)],
            state_operations=[migrations.DeleteModel(name="Transfer"), migrations.DeleteModel(name="Account")],
        ),
    ]
