"""A per-account flag replaces the member-kind balance check; the idempotency key's unique index
loses its LIKE twin.

- balance_must_not_go_negative: set for the accounts that hold points someone owns or was
  given (member, reward, campaign); issuance accounts go negative by design. The CHECK that
  member balances stay >= 0 becomes "flagged balances stay >= 0", so the ledger no longer
  needs to know what a member is.
- Transfer.idempotency_key: unique=True made Django add a varchar_pattern_ops index beside the
  unique one (recycling_transfer_idempotency_key_..._like) for LIKE queries; nothing runs one,
  and every posting paid for it. A UniqueConstraint keeps only the unique index.
"""

from django.db import migrations, models

# SET CONSTRAINTS ALL IMMEDIATE runs the deferred foreign-key checks the UPDATE queued, so that the
# ALTER TABLEs after it do not find pending trigger events (PostgreSQL refuses them then).
FLAG_ACCOUNTS = [
    "UPDATE recycling_account SET balance_must_not_go_negative = kind IN ('member', 'reward', 'campaign')",
    "SET CONSTRAINTS ALL IMMEDIATE",
]


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="account",
            name="balance_must_not_go_negative",
            field=models.BooleanField(
                default=False,
                help_text="Set for accounts that hold someone's points; issuance accounts go negative as they issue.",
                verbose_name="balance must not go negative",
            ),
        ),
        migrations.RunSQL(FLAG_ACCOUNTS, migrations.RunSQL.noop),
        migrations.RemoveConstraint(model_name="account", name="account_member_balance_not_negative"),
        migrations.AddConstraint(
            model_name="account",
            constraint=models.CheckConstraint(
                condition=models.Q(("balance_must_not_go_negative", False), ("balance__gte", 0), _connector="OR"),
                name="account_flagged_balance_not_negative",
            ),
        ),
        migrations.AlterField(
            model_name="transfer",
            name="idempotency_key",
            field=models.CharField(max_length=120, verbose_name="idempotency key"),
        ),
        migrations.AddConstraint(
            model_name="transfer",
            constraint=models.UniqueConstraint(fields=("idempotency_key",), name="transfer_idempotency_key_unique"),
        ),
    ]
