"""Recording business events (the outbox) and delivering them to webhook endpoints.

Recording: record_business_event() / record_business_events() insert Event rows inside the
caller's transaction (a batch of drop-offs: one INSERT for all), and enqueue the dispatcher once
the transaction commits; a rolled-back write leaves no event, so nothing is ever sent for it.

Delivering (deliver_due(), run every minute by the "Deliver webhooks" schedule and after each
commit that recorded events):

- fan_out(): the events not yet fanned out, oldest first, become one Delivery per matching
  enabled endpoint, under one transaction-level advisory lock, so deliveries are created in
  commit order even with several workers.
- dispatch_endpoint(): one dispatcher at a time per endpoint (a lease on its row) POSTs its due
  deliveries oldest first, skipping any delivery whose member has an earlier delivery to the
  same endpoint still pending: a member's events arrive in order, at least once (a receiver that
  answered 2xx but whose answer was lost gets the event again, with the same webhook-id).
- A failed attempt (no answer within TIMEOUT_SECONDS, or any status but 2xx; redirects are not
  followed) is logged and retried with exponential back-off (RETRY_BASE x 4^(n-1), at most
  RETRY_MAX apart) until RETRY_FOR after its first attempt; then the delivery is failed and the
  member's next event goes. An endpoint whose attempts have all failed for DISABLE_AFTER, with at
  least DISABLE_MIN_FAILURES failures in a row, is disabled (enabled off, disabled_at set); its
  pending deliveries wait, and re-enabling it resumes them in order. replay_deliveries() sends
  chosen deliveries again, whatever their state.

Signing, as the Standard Webhooks specification says: headers webhook-id (the event's "evt_<id>",
the same on every retry and replay, for receivers to deduplicate), webhook-timestamp (Unix
seconds of the attempt) and webhook-signature "v1," + base64(HMAC-SHA256(key, id.timestamp.body)),
where the key is the base64 text after the secret's "whsec_" prefix, decoded.
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Delivery, DeliveryAttempt, Event, Notice, WebhookEndpoint

logger = logging.getLogger("greenbox.events")

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
TIMEOUT_SECONDS = 5
RETRY_BASE = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=6)
RETRY_FOR = timedelta(hours=24)
DISABLE_AFTER = timedelta(hours=24)
DISABLE_MIN_FAILURES = 5
LEASE = timedelta(minutes=4)  # under the tasks' soft time limit, so a lease outlives no run
FAN_OUT_BATCH = 500
DISPATCH_BATCH = 100
MAX_PER_RUN = 500
EXCERPT_LENGTH = 500
_FAN_OUT_LOCK = 0x6576_656E_7473  # "events": the advisory lock that serializes the fan-out
FORBIDDEN_PAYLOAD_KEYS = {"mobile", "phone", "mobile_number"}  # PIPL: members by id or code only


# --- Recording ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewEvent:
    kind: str
    payload: dict
    member_id: int | None = None
    station_id: int | None = None
    city_id: int | None = None
    occurred_at: datetime | None = None


def record_business_event(
    kind: str,
    *,
    member_id: int | None = None,
    station_id: int | None = None,
    city_id: int | None = None,
    payload: dict,
    occurred_at: datetime | None = None,
) -> Event:
    """Record one business event in the caller's transaction (which must be open: an event is
    part of a write) and deliver it after commit."""
    (event,) = record_business_events(
        [
            NewEvent(
                kind=kind,
                payload=payload,
                member_id=member_id,
                station_id=station_id,
                city_id=city_id,
                occurred_at=occurred_at,
            )
        ]
    )
    return event


def record_business_events(new: Iterable[NewEvent]) -> list[Event]:
    """Record events in the caller's transaction with one INSERT, whatever their number (a batch
    of drop-offs keeps its fixed number of statements), and enqueue their delivery after commit."""
    if not connection.in_atomic_block:
        raise RuntimeError("record business events inside the write's transaction")
    now = timezone.now()
    events = []
    for item in new:
        if item.kind not in Event.Kind.values:
            raise ValueError(f"unknown event kind {item.kind!r}")
        if FORBIDDEN_PAYLOAD_KEYS & set(item.payload):
            raise ValueError("an event's payload names members by id or code, never by mobile number")
        events.append(
            Event(
                kind=item.kind,
                payload=item.payload,
                member_id=item.member_id,
                station_id=item.station_id,
                city_id=item.city_id,
                occurred_at=item.occurred_at or now,
            )
        )
    if not events:
        return []
    Event.objects.bulk_create(events)
    transaction.on_commit(queue_delivery_soon, robust=True)
    return events


QUEUE_INTERVAL_SECONDS = 1.0
_next_queue_at = 0.0  # this process's: when the dispatcher it queued last will have run


def queue_delivery_soon() -> None:
    """After an event's commit: the dispatcher in about a second, queued at most once a second by
    this process. One run sends every event due, so a busy station's drop-offs cost one broker
    message a second per process, not one each; an event committed while a queued run is
    already scanning waits for the next commit's run or the minute's schedule."""
    global _next_queue_at
    now = time.monotonic()
    if now < _next_queue_at:
        return
    _next_queue_at = now + QUEUE_INTERVAL_SECONDS
    queue_delivery(countdown=QUEUE_INTERVAL_SECONDS)


def queue_delivery(*, countdown: float = 0) -> bool:
    """Enqueue the dispatcher (now, or in `countdown` seconds); False (logged) when the broker does
    not answer. The schedule runs it within a minute anyway, so a broker outage delays delivery
    and loses nothing."""
    from kombu.exceptions import OperationalError as BrokerError

    from .tasks import deliver_webhooks

    try:
        deliver_webhooks.apply_async(ignore_result=True, countdown=countdown or None)
    except BrokerError as error:
        logger.warning("webhook delivery not queued (task queue unavailable: %s)", error)
        return False
    return True


# --- Endpoints --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once


def new_secret() -> str:
    """A Standard Webhooks secret: "whsec_" and the base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def create_endpoint(
    *, name: str, url: str, kinds: list[str], station_id: int | None = None, city_id: int | None = None
) -> CreatedEndpoint:
    """Subscribe a partner's URL to event kinds (optionally one station's or city's) with a new
    secret, returned once. Raises ValidationError for a URL that is not http(s), no kind or an
    unknown one; nothing is written then. It receives the events recorded from now on."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError(_("Give the endpoint a name."), code="name")
    URLValidator(schemes=["http", "https"])(url)
    if not kinds or not set(kinds) <= set(Event.Kind.values):
        raise ValidationError(_("Choose at least one kind of event."), code="kinds")
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        name=name, url=url, secret=secret, kinds=sorted(set(kinds)), station_id=station_id, city_id=city_id
    )
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


@transaction.atomic
def set_endpoint_enabled(*, endpoint: WebhookEndpoint, enabled: bool, now: datetime | None = None) -> WebhookEndpoint:
    """Disable an endpoint (nothing is sent to it, and new events are not fanned out to it) or
    enable it again: its failures are forgotten and its pending deliveries resume, in order, due
    now and with a new day of retries."""
    now = now or timezone.now()
    changes = {"enabled": enabled}
    if enabled:
        changes |= {"disabled_at": None, "consecutive_failures": 0, "failing_since": None}
    else:
        changes |= {"disabled_at": now}
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(**changes)
    if enabled:
        Delivery.objects.filter(endpoint=endpoint, state=Delivery.State.PENDING).update(
            next_attempt_at=now, first_attempt_at=None
        )
    for field, value in changes.items():
        setattr(endpoint, field, value)
    if enabled:
        transaction.on_commit(queue_delivery, robust=True)
    return endpoint


@transaction.atomic
def replay_deliveries(*, deliveries: Iterable[Delivery], now: datetime | None = None) -> int:
    """Send these deliveries again (a partner lost what it received, or a delivery failed for
    good): each is pending again, due now, with a new day of retries; the same webhook-id."""
    now = now or timezone.now()
    pks = [delivery.pk for delivery in deliveries]
    count = Delivery.objects.filter(pk__in=pks).update(
        state=Delivery.State.PENDING, next_attempt_at=now, first_attempt_at=None, delivered_at=None
    )
    transaction.on_commit(queue_delivery, robust=True)
    return count


# --- Delivering -------------------------------------------------------------------------------


def deliver_due(*, now: datetime | None = None, send: Callable | None = None) -> int:
    """Fan new events out, then send every enabled endpoint's due deliveries. Returns how many
    deliveries were attempted. Safe to run twice or concurrently: the fan-out is serialized and
    each endpoint is sent by one dispatcher at a time."""
    fan_out()
    now = now or timezone.now()
    due = Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=now, endpoint__enabled=True)
    endpoint_ids = sorted(set(due.values_list("endpoint_id", flat=True)))
    return sum(dispatch_endpoint(endpoint_id=pk, now=now, send=send) for pk in endpoint_ids)


def fan_out() -> int:
    """Turn the events not yet fanned out into deliveries to the enabled endpoints they match.
    Returns how many events it fanned out. Events recorded while an endpoint was disabled or
    before it existed are not sent to it (replay them from the admin if needed)."""
    total = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_FAN_OUT_LOCK])
            events = list(Event.objects.filter(fanned_out=False).order_by("id")[:FAN_OUT_BATCH])
            if not events:
                return total
            endpoints = list(WebhookEndpoint.objects.filter(enabled=True).order_by("pk"))
            deliveries = [
                Delivery(endpoint=endpoint, event=event, member_id=event.member_id, next_attempt_at=event.occurred_at)
                for event in events
                for endpoint in endpoints
                if endpoint.matches(event)
            ]
            Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
            Event.objects.filter(pk__in=[event.pk for event in events]).update(fanned_out=True)
            total += len(events)


def dispatch_endpoint(*, endpoint_id: int, now: datetime | None = None, send: Callable | None = None) -> int:
    """Send one endpoint's due deliveries in order, while it answers; returns how many were
    attempted. Stops at the first failure (the rest wait for the next run, so an endpoint that is
    down costs one time-out a run, not one per delivery) or when the endpoint is disabled."""
    now = now or timezone.now()
    send = send or post_webhook
    held = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    if not held.update(lease_until=now + LEASE):
        return 0  # disabled, or another dispatcher is sending to it
    attempted = 0
    try:
        endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
        while attempted < MAX_PER_RUN:
            batch = list(_due_deliveries(endpoint, now=now)[:DISPATCH_BATCH])
            if not batch:
                break
            for delivery in batch:
                attempted += 1
                if not _attempt(endpoint, delivery, now=now, send=send):
                    return attempted
    finally:
        WebhookEndpoint.objects.filter(pk=endpoint_id).update(lease_until=None)
    return attempted


def _due_deliveries(endpoint: WebhookEndpoint, *, now: datetime):
    """The endpoint's pending deliveries that are due and the first pending one of their member."""
    earlier_of_member = Delivery.objects.filter(
        endpoint=endpoint, state=Delivery.State.PENDING, member_id=OuterRef("member_id"), pk__lt=OuterRef("pk")
    )
    return (
        Delivery.objects.filter(endpoint=endpoint, state=Delivery.State.PENDING, next_attempt_at__lte=now)
        .filter(~Exists(earlier_of_member))
        .select_related("event")
        .order_by("pk")
    )


@dataclass(frozen=True)
class Answer:
    status_code: int | None  # None: no answer (time-out, refused connection)
    body: str
    error: str = ""


def _attempt(endpoint: WebhookEndpoint, delivery: Delivery, *, now: datetime, send: Callable) -> bool:
    """POST one delivery, log the attempt and update the delivery and the endpoint. True on 2xx."""
    body = webhook_body(delivery.event)
    headers = signed_headers(secret=endpoint.secret, message_id=message_id(delivery.event), body=body)
    started = time.monotonic()
    answer = send(url=endpoint.url, body=body, headers=headers)
    duration_ms = round((time.monotonic() - started) * 1000)
    succeeded = answer.status_code is not None and 200 <= answer.status_code < 300
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
        delivery.attempts += 1
        first = delivery.first_attempt_at or now
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            at=now,
            status_code=answer.status_code,
            response_excerpt=answer.body[:EXCERPT_LENGTH],
            error=answer.error[:300],
            duration_ms=duration_ms,
        )
        delivery.first_attempt_at = first
        if succeeded:
            delivery.state, delivery.delivered_at = Delivery.State.DELIVERED, now
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0, failing_since=None)
        else:
            if now >= first + RETRY_FOR:
                delivery.state = Delivery.State.FAILED
            else:
                delivery.next_attempt_at = min(now + retry_delay(delivery.attempts), first + RETRY_FOR)
            _count_failure(endpoint, now=now)
        delivery.save(update_fields=["attempts", "first_attempt_at", "state", "delivered_at", "next_attempt_at"])
    if not succeeded:
        logger.warning(
            "webhook %s to endpoint %s failed (attempt %s): %s",
            delivery.event_id,
            endpoint.pk,
            delivery.attempts,
            answer.status_code or answer.error,
        )
    return succeeded


def retry_delay(attempts: int) -> timedelta:
    """The wait after the n-th failed attempt: 30 s, 2 min, 8 min, 32 min, 2 h 8 min, then 6 h."""
    return min(RETRY_BASE * 4 ** (attempts - 1), RETRY_MAX)


def _count_failure(endpoint: WebhookEndpoint, *, now: datetime) -> None:
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    locked.consecutive_failures += 1
    locked.failing_since = locked.failing_since or now
    fields = ["consecutive_failures", "failing_since"]
    if locked.consecutive_failures >= DISABLE_MIN_FAILURES and now - locked.failing_since >= DISABLE_AFTER:
        locked.enabled, locked.disabled_at = False, now
        fields += ["enabled", "disabled_at"]
        logger.warning("webhook endpoint %s disabled: every attempt failed since %s", locked.pk, locked.failing_since)
    locked.save(update_fields=fields)


# --- The wire format --------------------------------------------------------------------------


def message_id(event: Event) -> str:
    return f"evt_{event.pk}"


def webhook_body(event: Event) -> bytes:
    """The JSON a partner receives: the Standard Webhooks envelope (type, timestamp, data)."""
    data = {
        "id": message_id(event),
        "member_id": event.member_id,
        "station_id": event.station_id,
        "city_id": event.city_id,
        **event.payload,
    }
    envelope = {"type": event.kind, "timestamp": event.occurred_at, "data": data}  # ISO 8601, UTC
    return json.dumps(envelope, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")).encode()


def sign(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header's value: "v1," and the base64 HMAC-SHA256 of id.timestamp.body."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(*, secret: str, message_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "user-agent": "GreenBox-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret=secret, message_id=message_id, timestamp=timestamp, body=body),
    }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer that is not 2xx: a failure, not a new URL to post to."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post_webhook(*, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST with the standard library and a short time-out; every outcome is an Answer."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            return Answer(status_code=response.status, body=_excerpt(response))
    except urllib.error.HTTPError as error:
        return Answer(status_code=error.code, body=_excerpt(error))
    except (urllib.error.URLError, OSError, ValueError) as error:
        return Answer(status_code=None, body="", error=str(getattr(error, "reason", error)))


def _excerpt(response) -> str:
    try:
        return response.read(EXCERPT_LENGTH).decode("utf-8", "replace")
    except OSError:
        return ""


def forget_member(*, member_id: int) -> None:
    """A member deleted their account (rewards.services.delete_member_account): their notices
    go (they held pickup codes and reward names), and their events keep the ids and figures that
    partners' books need but lose the member code, so nothing left here identifies the person.
    An event not yet delivered goes out without it."""
    with transaction.atomic():
        Notice.objects.filter(member_id=member_id).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Event._meta.db_table} SET payload = payload - 'member_code' "
                "WHERE member_id = %s AND payload ? 'member_code'",
                [member_id],
            )
