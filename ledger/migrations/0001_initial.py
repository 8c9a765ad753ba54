"""The ledger takes over recycling's Account and Transfer: their state moves here, their tables
stay (recycling_account, recycling_transfer), with their rows, constraints and the append-only
trigger of recycling/migrations/0002.

State only: the tables were created by recycling's first migrations, which is why this ground-
floor app's first migration depends on recycling's. The columns that still point at business
models (account.member_id and station_id, transfer.dropoff_id and station_id) are not part of
the ledger's state; recycling/migrations/0008 drops them once the business rows point at their
accounts and transfers instead (recycling 0007, rewards 0002, stations 0003).
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [("recycling", "0006_record_dropoff_function")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Account",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("member", "member"),
                                    ("issuance", "issuance"),
                                    ("reward", "reward"),
                                    ("campaign", "donation campaign"),
                                ],
                                max_length=10,
                                verbose_name="kind",
                            ),
                        ),
                        ("name", models.CharField(blank=True, max_length=200, verbose_name="name")),
                        ("balance", models.BigIntegerField(default=0, verbose_name="balance")),
                        (
                            "created_at",
                            models.DateTimeField(default=django.utils.timezone.now, verbose_name="created at"),
                        ),
                    ],
                    options={
                        "verbose_name": "account",
                        "verbose_name_plural": "accounts",
                        "db_table": "recycling_account",
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("kind", "member"), _negated=True) | models.Q(("balance__gte", 0)),
                                name="account_member_balance_not_negative",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("kind__in", ["member", "issuance", "reward", "campaign"])),
                                name="account_kind_valid",
                            ),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="Transfer",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("amount", models.PositiveBigIntegerField(verbose_name="points")),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("earning", "cartons recycled"),
                                    ("reversal", "reversal"),
                                    ("redemption", "reward reserved"),
                                    ("donation", "donation"),
                                ],
                                max_length=12,
                                verbose_name="kind",
                            ),
                        ),
                        ("idempotency_key", models.CharField(max_length=120, unique=True, verbose_name="idempotency key")),
                        (
                            "created_at",
                            models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name="time"),
                        ),
                        (
                            "credit_account",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="credits",
                                to="ledger.account",
                                verbose_name="credit account",
                            ),
                        ),
                        (
                            "debit_account",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="debits",
                                to="ledger.account",
                                verbose_name="debit account",
                            ),
                        ),
                        (
                            "reverses",
                            models.OneToOneField(
                                blank=True,
                                help_text="The transfer this one undoes; a transfer can be reversed at most once.",
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="reversal",
                                to="ledger.transfer",
                                verbose_name="reverses",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "transfer",
                        "verbose_name_plural": "transfers",
                        "db_table": "recycling_transfer",
                        "constraints": [
                            models.CheckConstraint(condition=models.Q(("amount__gt", 0)), name="transfer_amount_positive"),
                            models.CheckConstraint(
                                condition=models.Q(("debit_account", models.F("credit_account")), _negated=True),
                                name="transfer_accounts_differ",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("kind", "reversal"), ("reverses__isnull", False))
                                | models.Q(models.Q(("kind", "reversal"), _negated=True), ("reverses__isnull", True)),
                                name="transfer_reversal_iff_reverses",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("kind__in", ["earning", "reversal", "redemption", "donation"])),
                                name="transfer_kind_valid",
                            ),
                        ],
                    },
                ),
            ],
        ),
    ]
