"""The points ledger's two tables: accounts and the transfers between them.

The design is described at the top of ledger/services.py, which holds the only code that
posts transfers. The ledger knows no business model: a member, a station, a reward or a
campaign points at its Account, and a drop-off, a redemption or a donation points at the
Transfers it caused, never the reverse. Every invariant a database can state is a
constraint here (append-only is a trigger, recycling/migrations/0002).

The tables keep the names they had when the ledger lived in recycling/ (recycling_account,
recycling_transfer), so existing data and raw SQL carry over.
"""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Account(models.Model):
    class Kind(models.TextChoices):
        MEMBER = "member", _("member")
        ISSUANCE = "issuance", _("issuance")
        REWARD = "reward", _("reward")
        CAMPAIGN = "campaign", _("donation campaign")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=200, blank=True)
    balance = models.BigIntegerField(_("balance"), default=0)
    balance_must_not_go_negative = models.BooleanField(
        _("balance must not go negative"),
        default=False,
        help_text=_("Set for accounts that hold someone's points; issuance accounts go negative as they issue."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        db_table = "recycling_account"
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        constraints = [
            models.CheckConstraint(
                condition=Q(balance_must_not_go_negative=False) | Q(balance__gte=0),
                name="account_flagged_balance_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["member", "issuance", "reward", "campaign"]), name="account_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} #{self.pk}"


class Transfer(models.Model):
    class Kind(models.TextChoices):
        EARNING = "earning", _("cartons recycled")
        REVERSAL = "reversal", _("reversal")
        REDEMPTION = "redemption", _("reward reserved")
        DONATION = "donation", _("donation")

    debit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="debits", verbose_name=_("debit account")
    )
    credit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="credits", verbose_name=_("credit account")
    )
    amount = models.PositiveBigIntegerField(_("points"))
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    idempotency_key = models.CharField(_("idempotency key"), max_length=120)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    reverses = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversal",
        verbose_name=_("reverses"),
        help_text=_("The transfer this one undoes; a transfer can be reversed at most once."),
    )

    class Meta:
        db_table = "recycling_transfer"
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        constraints = [
            # A constraint, not unique=True: Django would add a varchar_pattern_ops twin of the
            # unique index for LIKE queries, which nothing runs and every posting pays for.
            models.UniqueConstraint(fields=["idempotency_key"], name="transfer_idempotency_key_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive"),
            models.CheckConstraint(condition=~Q(debit_account=F("credit_account")), name="transfer_accounts_differ"),
            models.CheckConstraint(
                condition=Q(kind="reversal", reverses__isnull=False) | (~Q(kind="reversal") & Q(reverses__isnull=True)),
                name="transfer_reversal_iff_reverses",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["earning", "reversal", "redemption", "donation"]), name="transfer_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} {self.amount}"
