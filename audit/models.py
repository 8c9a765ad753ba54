"""The audit log: who did what, when, to what, and from which address.

Events are append-only: nobody can add, change or delete one in the admin, and the database
rejects UPDATE and DELETE of a row (a trigger, see migrations/0002_append_only.py). Every
field is structured (action code, user, target, JSON details), never a concatenated log line,
so text a user typed (a void reason, a username) stays inside its own field.

audit/ is the bottom of the dependency chain (audit <- stations <- recycling <- rewards <- ...):
it imports none of the other apps; they call audit.services.record_event().
"""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        SIGN_IN = "sign_in", _("signed in")
        SIGN_IN_FAILED = "sign_in_failed", _("sign-in failed")
        PERMISSION_DENIED = "permission_denied", _("refused (403)")
        DROPOFF_VOIDED = "dropoff_voided", _("drop-off voided")
        STOCK_CHANGED = "stock_changed", _("stock changed")
        CATALOG_CHANGED = "catalog_changed", _("catalog changed")
        RULE_CHANGED = "rule_changed", _("rule changed")
        MEMBER_SEARCHED = "member_searched", _("member searched")
        MOBILE_REVEALED = "mobile_revealed", _("mobile number revealed")
        ACCOUNT_DELETED = "account_deleted", _("member account deleted")
        FLAG_REVIEWED = "flag_reviewed", _("anomaly flag reviewed")
        FLAG_ACTED_ON = "flag_acted_on", _("anomaly flag acted on")
        STATION_CHANGED = "station_changed", _("station changed")
        STAFF_ASSIGNMENT_CHANGED = "staff_assignment_changed", _("staff assignment changed")
        API_TOKEN_CREATED = "api_token_created", _("API token created")
        API_TOKEN_REVOKED = "api_token_revoked", _("API token revoked")
        USER_CHANGED = "user_changed", _("user changed")
        GROUP_CHANGED = "group_changed", _("group changed")
        CSV_EXPORTED = "csv_exported", _("CSV exported")
        PERSONAL_DATA_VIEWED = "personal_data_viewed", _("personal data viewed")

    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    action = models.CharField(_("action"), max_length=30, choices=Action.choices)
    # PROTECT: deleting a user who appears in the log would have to rewrite (SET NULL) audit
    # rows, which the append-only trigger refuses anyway; say so plainly instead.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
        verbose_name=_("user"),
    )
    username = models.CharField(
        _("username"),
        max_length=150,
        blank=True,
        help_text=_("As it was at the time; for a failed sign-in, the name tried (a mobile number masked)."),
    )
    target_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("target type")
    )
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    target_description = models.CharField(_("target"), max_length=200, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    address = models.GenericIPAddressField(_("address"), null=True, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["action", "at"], name="audit_event_action_time"),
            models.Index(fields=["user", "at"], name="audit_event_user_time"),
            models.Index(fields=["address", "at"], name="audit_event_address_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    action__in=[
                        "sign_in",
                        "sign_in_failed",
                        "permission_denied",
                        "dropoff_voided",
                        "stock_changed",
                        "catalog_changed",
                        "rule_changed",
                        "member_searched",
                        "mobile_revealed",
                        "account_deleted",
                        "flag_reviewed",
                        "flag_acted_on",
                        "station_changed",
                        "staff_assignment_changed",
                        "api_token_created",
                        "api_token_revoked",
                        "user_changed",
                        "group_changed",
                        "csv_exported",
                        "personal_data_viewed",
                    ]
                ),
                name="audit_event_action_valid",
            ),
        ]

    def __str__(self) -> str:
        who = self.username or _("anonymous")
        return f"{self.get_action_display()} · {who}"


class HourlyCount(models.Model):
    """Events too frequent to log one row each, counted per kind and hour: anonymous visitors'
    refusals (HTTP 403; a flood of them, from a scanner or a broken device, would otherwise fill
    the log and bury the events that matter) and API requests let through unthrottled because
    Redis was down. audit.services.count_per_hour() adds one with an upsert; ops read them on
    /ops/health/. A signed-in user's refusal is still an AuditEvent of its own."""

    class Kind(models.TextChoices):
        ANONYMOUS_REFUSAL = "anonymous_refusal", _("anonymous refusals (HTTP 403)")
        THROTTLE_FAILED_OPEN = "throttle_failed_open", _("API requests not throttled (Redis unavailable)")

    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    hour = models.DateTimeField(_("hour"), help_text=_("The start of the hour counted."))
    count = models.PositiveIntegerField(_("count"), default=0)

    class Meta:
        verbose_name = _("hourly count")
        verbose_name_plural = _("hourly counts")
        ordering = ["-hour", "kind"]
        constraints = [models.UniqueConstraint(fields=["kind", "hour"], name="hourly_count_one_row_per_kind_and_hour")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.hour:%Y-%m-%d %H:00} · {self.count}"
