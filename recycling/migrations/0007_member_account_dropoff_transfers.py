"""Business rows point at the ledger: a member at its account, a drop-off at its earning
transfer and its reversal. Filled from the ledger's old columns (account.member_id,
transfer.dropoff_id), which 0008 drops."""

import django.db.models.deletion
from django.db import migrations, models

FILL = [
    "UPDATE recycling_member m SET account_id = a.id FROM recycling_account a WHERE a.member_id = m.id",
    """
    UPDATE recycling_dropoff d SET earning_transfer_id = t.id
    FROM recycling_transfer t WHERE t.dropoff_id = d.id AND t.kind = 'earning'
    """,
    """
    UPDATE recycling_dropoff d SET reversal_transfer_id = t.id
    FROM recycling_transfer t WHERE t.dropoff_id = d.id AND t.kind = 'reversal'
    """,
    "SET CONSTRAINTS ALL IMMEDIATE",  # no pending trigger events for the ALTER TABLEs after it
]
UNFILL = [
    # Backwards only: the old columns are filled in again, which the append-only trigger would refuse.
    "ALTER TABLE recycling_transfer DISABLE TRIGGER recycling_transfer_append_only",
    "UPDATE recycling_account a SET member_id = m.id FROM recycling_member m WHERE m.account_id = a.id",
    "SET CONSTRAINTS ALL IMMEDIATE",  # the deferred checks the UPDATE queued, before the ALTER TABLE
    """
    ALTER TABLE recycling_account ADD CONSTRAINT account_member_iff_member_kind
        CHECK ((kind = 'member' AND member_id IS NOT NULL) OR (NOT kind = 'member' AND member_id IS NULL))
    """,
    """
    UPDATE recycling_transfer t SET dropoff_id = d.id FROM recycling_dropoff d
    WHERE t.id IN (d.earning_transfer_id, d.reversal_transfer_id)
    """,
    "SET CONSTRAINTS ALL IMMEDIATE",
    "ALTER TABLE recycling_transfer ENABLE TRIGGER recycling_transfer_append_only",
]


class Migration(migrations.Migration):
    dependencies = [
        ("recycling", "0006_record_dropoff_function"),
        ("ledger", "0002_flag_and_idempotency_constraint"),
    ]

    operations = [
        migrations.AddField(
            model_name="member",
            name="account",
            field=models.OneToOneField(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="member",
                to="ledger.account",
                verbose_name="points account",
            ),
        ),
        migrations.AddField(
            model_name="dropoff",
            name="earning_transfer",
            field=models.OneToOneField(
                blank=True,
                help_text="The points credited; none for a drop-off whose cartons were all beyond the daily cap.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="earning_dropoff",
                to="ledger.transfer",
                verbose_name="earning transfer",
            ),
        ),
        migrations.AddField(
            model_name="dropoff",
            name="reversal_transfer",
            field=models.OneToOneField(
                blank=True,
                help_text="The reversal of the earning transfer, once the drop-off is voided.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="reversed_dropoff",
                to="ledger.transfer",
                verbose_name="reversal transfer",
            ),
        ),
        migrations.RunSQL(FILL, UNFILL),
        migrations.AddConstraint(
            model_name="dropoff",
            constraint=models.CheckConstraint(
                condition=models.Q(("reversal_transfer__isnull", True))
                | models.Q(("earning_transfer__isnull", False), ("status", "voided")),
                name="dropoff_reversal_only_when_voided",
            ),
        ),
    ]
