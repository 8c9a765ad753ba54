"""The transactional outbox of business events, the webhooks that deliver them, and members' notices.

Every business write (a drop-off recorded or voided, a reservation made, collected, cancelled or
expired, a donation, a review decision) records an Event in its own transaction
(events.services.record_business_event), so an event exists exactly when its write committed. The
dispatcher (events/services.py deliver_due(), run by a Celery task) then, in two steps:

1. fans each new event out to the enabled webhook endpoints whose kinds and station or city filter
   match: one Delivery row per (endpoint, event), created in commit order under one advisory lock;
2. per endpoint, POSTs the due deliveries in that order, signed as the Standard Webhooks
   specification says, never a member's next event while an earlier one of the same member to the
   same endpoint is still pending, and logs every attempt (DeliveryAttempt).

events/ is on the ground floor beside audit/, ledger/ and idempotency/: it imports only core/ and
Django. Members, stations and cities are plain integer columns, not foreign keys, for that reason;
payloads carry ids and figures, never a mobile number.
"""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import date_format
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _


class Event(models.Model):
    class Kind(models.TextChoices):
        DROPOFF_RECORDED = "dropoff.recorded", _("drop-off recorded")
        DROPOFF_VOIDED = "dropoff.voided", _("drop-off voided")
        RESERVATION_MADE = "reservation.made", _("reservation made")
        RESERVATION_COLLECTED = "reservation.collected", _("reservation collected")
        RESERVATION_CANCELLED = "reservation.cancelled", _("reservation cancelled")
        RESERVATION_EXPIRED = "reservation.expired", _("reservation expired")
        DONATION_MADE = "donation.made", _("donation made")
        FLAG_REVIEWED = "flag.reviewed", _("anomaly flag reviewed")
        FLAG_ACTED_ON = "flag.acted_on", _("anomaly flag acted on")

    # The ordering key: a member's events are written under that member's account or row locks,
    # so their ids follow their commit order; deliveries are made in fan-out (commit) order.
    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(_("kind"), max_length=40, choices=Kind.choices)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    member_id = models.BigIntegerField(_("member id"), null=True, blank=True)
    station_id = models.BigIntegerField(_("station id"), null=True, blank=True)
    city_id = models.BigIntegerField(_("city id"), null=True, blank=True)
    payload = models.JSONField(_("payload"), default=dict, encoder=DjangoJSONEncoder)
    fanned_out = models.BooleanField(_("fanned out"), default=False)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-id"]
        indexes = [
            # The fan-out's queue: only the events not yet fanned out, a handful at any time.
            models.Index(fields=["id"], condition=models.Q(fanned_out=False), name="event_not_fanned_out"),
            models.Index(fields=["member_id", "id"], name="event_member_order"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class WebhookEndpoint(models.Model):
    """A partner's URL that receives the events of the kinds it subscribed to, optionally only a
    station's or a city's. The secret signs every delivery; it is shown once, when created."""

    name = models.CharField(_("name"), max_length=100, help_text=_("Which partner system receives it."))
    url = models.URLField(_("endpoint URL"), max_length=500)
    secret = models.CharField(_("secret"), max_length=100, editable=False)
    kinds = models.JSONField(_("event kinds"), default=list, help_text=_("The kinds of event sent to it."))
    station_id = models.BigIntegerField(
        _("station id"), null=True, blank=True, help_text=_("Only this station's events; empty: every station.")
    )
    city_id = models.BigIntegerField(
        _("city id"), null=True, blank=True, help_text=_("Only this city's events; empty: every city.")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    # A dispatcher holds the endpoint while it sends (one at a time per endpoint keeps the order);
    # a lease rather than a lock, so no transaction stays open during the HTTP requests and a
    # dead worker's hold runs out.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    def matches(self, event: Event) -> bool:
        """Whether the event is one this endpoint subscribed to."""
        return (
            event.kind in self.kinds
            and (self.station_id is None or self.station_id == event.station_id)
            and (self.city_id is None or self.city_id == event.city_id)
        )


class Delivery(models.Model):
    """One event to one endpoint: pending until a 2xx answer, failed once its day of retries is over."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed (retries over)")

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("endpoint")
    )
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("event"))
    member_id = models.BigIntegerField(_("member id"), null=True, blank=True)  # the event's, for the order
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    first_attempt_at = models.DateTimeField(_("first attempt at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="delivery_one_per_endpoint_and_event"),
            models.CheckConstraint(
                condition=models.Q(state__in=["pending", "delivered", "failed"]), name="delivery_state_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["endpoint", "member_id", "id"],
                condition=models.Q(state="pending"),
                name="delivery_pending_per_member",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"


class DeliveryAttempt(models.Model):
    """The delivery log: one row per POST, with what the endpoint answered."""

    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    number = models.PositiveIntegerField(_("attempt"))
    at = models.DateTimeField(_("time"))
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    response_excerpt = models.CharField(_("response"), max_length=500, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"{self.delivery} #{self.number}: {self.status_code or self.error}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Notice(models.Model):
    """A message to a member (pickup code ready, reservation expiring, points expiring): written in
    the transaction of what it is about, listed on the member's notices page, and sent after commit
    through the configured channel (recycling/notices.py: the log by default, SMS or WeChat)."""

    class Kind(models.TextChoices):
        PICKUP_CODE_READY = "pickup_code_ready", _("pickup code ready")
        RESERVATION_EXPIRING = "reservation_expiring", _("reservation expiring")
        POINTS_EXPIRING = "points_expiring", _("points expiring")

    member_id = models.BigIntegerField(_("member id"))
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    params = models.JSONField(_("details"), default=dict, encoder=DjangoJSONEncoder)
    # What makes a notice once-only (e.g. "reservation_expiring:42"); empty for the others.
    once_key = models.CharField(max_length=80, blank=True, default="", editable=False)
    created_at = models.DateTimeField(_("time"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["once_key"], condition=~models.Q(once_key=""), name="notice_once")
        ]
        indexes = [
            models.Index(fields=["member_id", "-created_at"], name="notice_member_time"),
            models.Index(fields=["id"], condition=models.Q(sent_at__isnull=True), name="notice_unsent"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.member_id}"

    def message(self) -> str:
        """The notice's text in the current language (what the page shows and a channel sends)."""
        chinese = (get_language() or "").startswith("zh")
        # A name stored in both languages ({"zh": ..., "en": ...}) is shown in the reader's.
        params = {
            key: (value["zh"] if chinese else value["en"]) if isinstance(value, dict) else value
            for key, value in self.params.items()
        }
        if "expires_at" in params:
            params["expires_at"] = date_format(
                timezone.localtime(parse_datetime(params["expires_at"])), "SHORT_DATETIME_FORMAT"
            )
        if "expires_on" in params:
            params["expires_on"] = date_format(parse_date(params["expires_on"]), "SHORT_DATE_FORMAT")
        texts = {
            self.Kind.PICKUP_CODE_READY: gettext(
                "Your pickup code for %(quantity)s × %(reward)s at %(station)s is %(code)s; "
                "collect it by %(expires_at)s"
            ),
            self.Kind.RESERVATION_EXPIRING: gettext(
                "Your reservation of %(quantity)s × %(reward)s at %(station)s expires at %(expires_at)s "
                "(pickup code %(code)s)"
            ),
            self.Kind.POINTS_EXPIRING: gettext("%(points)s of your points expire on %(expires_on)s."),
        }
        return texts[self.kind] % params
