"""One table for every idempotency key of every write (idempotency/services.py says how it is used).

A row is the first outcome of one keyed write: the key, claimed in its scope ("station:42",
"member:17") for one operation and one request fingerprint, and either the write's result (JSON)
or its refusal (code and message). The row is inserted in the write's own transaction, so it
exists exactly when the write's outcome committed: there is never a row "in progress" (a write
that is still running holds a transaction-level advisory lock instead, which dies with it).

The only index is the unique (scope, key) one, which every write reads and inserts through.
There is deliberately no index on created_at: only the daily purge reads it, and a sequential
scan once a day costs less than an index maintained on every write. No completed_at either: a
row is written once, complete, at created_at.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MAX_KEY_LENGTH = 100
MAX_SCOPE_LENGTH = 50
MAX_OPERATION_LENGTH = 40
MAX_REFUSAL_MESSAGE_LENGTH = 500


class IdempotencyKey(models.Model):
    scope = models.CharField(_("scope"), max_length=MAX_SCOPE_LENGTH)
    key = models.CharField(_("idempotency key"), max_length=MAX_KEY_LENGTH)
    operation = models.CharField(_("operation"), max_length=MAX_OPERATION_LENGTH)
    fingerprint = models.CharField(
        _("request fingerprint"), max_length=64, help_text=_("SHA-256 of the operation's parameters as canonical JSON.")
    )
    # Exactly one of the two outcomes: the result (JSON) or the refusal (its code, and its message).
    result = models.JSONField(_("result"), null=True, blank=True)
    refusal_code = models.CharField(_("refusal code"), max_length=60, blank=True)
    refusal_message = models.CharField(_("refusal message"), max_length=MAX_REFUSAL_MESSAGE_LENGTH, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_unique_scope_key"),
            models.CheckConstraint(
                condition=Q(result__isnull=False, refusal_code="", refusal_message="")
                | (Q(result__isnull=True) & ~Q(refusal_code="")),
                name="idempotency_key_one_outcome",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} ({self.operation})"

    @property
    def refused(self) -> bool:
        return bool(self.refusal_code)
