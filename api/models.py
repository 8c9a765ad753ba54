"""What the API stores of its own: the outcome of each request sent with an Idempotency-Key.

See api/idempotency.py for how a record is claimed, completed, replayed and purged.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MAX_IDEMPOTENCY_KEY_LENGTH = 64


class IdempotencyRecord(models.Model):
    """One POST sent with an Idempotency-Key: the key is scoped to the user who sent it.

    It holds the answer, status code and body, that every duplicate gets again. A write done in
    one transaction stores its record, `completed`, in that transaction; the others claim the key
    first with a record `in_progress` (a duplicate meanwhile gets 409) and complete it once they
    have answered (api/idempotency.py).
    """

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("in progress")
        COMPLETED = "completed", _("completed")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_records", verbose_name=_("user")
    )
    key = models.CharField(_("idempotency key"), max_length=MAX_IDEMPOTENCY_KEY_LENGTH)
    method = models.CharField(_("method"), max_length=10)
    path = models.CharField(_("path"), max_length=300)
    fingerprint = models.CharField(
        _("request fingerprint"), max_length=64, help_text=_("SHA-256 of the method, path and canonical JSON body.")
    )
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    # Identifies the request currently holding the key, so that a request whose claim was taken
    # over (it ran past the lock timeout) cannot complete the record of its successor.
    lock_token = models.CharField(_("lock token"), max_length=32)
    locked_at = models.DateTimeField(_("locked at"), default=timezone.now)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_body = models.TextField(_("response body"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_record_unique_user_key"),
            models.CheckConstraint(
                condition=Q(status="in_progress", response_status__isnull=True, completed_at__isnull=True)
                | Q(status="completed", response_status__isnull=False, completed_at__isnull=False),
                name="idempotency_record_response_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key} {self.method} {self.path} ({self.get_status_display()})"
