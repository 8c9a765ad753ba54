"""Rewards point at the ledger app's models; a redemption at its refund, a donation at its station.

Account and Transfer moved from recycling/ to ledger/ with their tables, so the foreign keys
change in the migration state only. A cancelled or expired redemption's refund (the reversal
of its debit) and a donation's station (its transfer's old station_id, dropped by
recycling/migrations/0008: daily totals count donations there) are filled from the transfers.
"""

import django.db.models.deletion
from django.db import migrations, models

FILL = [
    """
    UPDATE rewards_redemption r SET refund_transfer_id = t.id
    FROM recycling_transfer t WHERE t.kind = 'reversal' AND t.reverses_id = r.transfer_id
    """,
    "UPDATE rewards_donation n SET station_id = t.station_id FROM recycling_transfer t WHERE t.id = n.transfer_id",
    "SET CONSTRAINTS ALL IMMEDIATE",  # no pending trigger events for the ALTER TABLE after it
]
UNFILL = [
    # Backwards only: the old columns are filled in again, which the append-only trigger would refuse.
    "ALTER TABLE recycling_transfer DISABLE TRIGGER recycling_transfer_append_only",
    """
    UPDATE recycling_transfer t SET station_id = r.station_id FROM rewards_redemption r
    WHERE t.id IN (r.transfer_id, r.refund_transfer_id)
    """,
    "UPDATE recycling_transfer t SET station_id = n.station_id FROM rewards_donation n WHERE t.id = n.transfer_id",
    "SET CONSTRAINTS ALL IMMEDIATE",
    "ALTER TABLE recycling_transfer ENABLE TRIGGER recycling_transfer_append_only",
]


def to_ledger(model_name, name, **kwargs):
    return migrations.AlterField(
        model_name=model_name, name=name, field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, **kwargs)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0001_initial"),
        ("recycling", "0007_member_account_dropoff_transfers"),
        ("stations", "0003_station_issuance_account"),
        ("ledger", "0002_flag_and_idempotency_constraint"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                to_ledger("donationcampaign", "account", related_name="campaign", to="ledger.account", verbose_name="ledger account"),
                to_ledger("reward", "account", related_name="reward", to="ledger.account", verbose_name="ledger account"),
                to_ledger(
                    "redemption",
                    "transfer",
                    help_text="The points taken from the member; a cancellation or expiry reverses it.",
                    related_name="redemption",
                    to="ledger.transfer",
                    verbose_name="debit transfer",
                ),
                to_ledger("donation", "transfer", related_name="donation", to="ledger.transfer", verbose_name="transfer"),
            ]
        ),
        migrations.AddField(
            model_name="redemption",
            name="refund_transfer",
            field=models.OneToOneField(
                blank=True,
                help_text="The reversal of the debit, once the reservation is cancelled or expires.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="refunded_redemption",
                to="ledger.transfer",
                verbose_name="refund transfer",
            ),
        ),
        migrations.AddField(
            model_name="donation",
            name="station",
            field=models.ForeignKey(
                blank=True,
                help_text="The member's home station when they donated; daily totals count the donation there.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="donations",
                to="stations.station",
                verbose_name="station",
            ),
        ),
        migrations.RunSQL(FILL, UNFILL),
        migrations.AddConstraint(
            model_name="redemption",
            constraint=models.CheckConstraint(
                condition=models.Q(("refund_transfer__isnull", True), ("status__in", ["cancelled", "expired"]), _connector="OR"),
                name="redemption_refund_only_when_ended",
            ),
        ),
    ]
