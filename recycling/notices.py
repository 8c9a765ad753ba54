"""Notices to members (pickup code ready, reservation expiring, points expiring) and the pluggable
channel that sends them, chosen from a setting the way members/verification.py chooses the
sign-up verifier.

A notice is an events.models.Notice row written in the transaction of what it is about (so a
reservation rolled back leaves none), listed on the member's notices page whatever the channel,
and sent after commit by send_pending_notices() (the "recycling.send_notices" task, enqueued on
commit and run every few minutes for any left unsent). The default channel, LogChannel, writes
each notice to the "greenbox.notices" log and nothing else: the page is where the member reads
it. To send SMS or WeChat template messages, write a class with send(*, member, notice) that
hands the notice to the operator's gateway (notice.kind picks the template, notice.params fill
it, notice.message() is the text in the current language) and raises on failure, and name it in
settings.GREENBOX_NOTICE_CHANNEL. It lives here, above events/, because a channel needs the
member (a mobile number, a WeChat openid) and events/ imports no Member.
"""

import logging
from datetime import date, datetime
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from events.models import Notice

from .models import Member

logger = logging.getLogger("greenbox.notices")

DEFAULT_CHANNEL = "recycling.notices.LogChannel"
SEND_BATCH = 200


class NoticeChannel(Protocol):
    def send(self, *, member: Member, notice: Notice) -> None: ...


class LogChannel:
    """The default: one log line per notice (its kind and the member's id, never a number); the
    member reads it on the notices page."""

    def send(self, *, member: Member, notice: Notice) -> None:
        logger.info("notice %s %s to member %s", notice.pk, notice.kind, member.pk)


def get_channel() -> NoticeChannel:
    return import_string(getattr(settings, "GREENBOX_NOTICE_CHANNEL", DEFAULT_CHANNEL))()


def notify(*, member: Member, kind: str, params: dict, once_key: str | None = None) -> Notice | None:
    """Write a notice in the caller's transaction and send it after commit. With a `once_key`, a
    second notice of the same key is not written (None): e.g. one expiry warning a reservation."""
    try:
        with transaction.atomic():  # a savepoint: the once-key's unique constraint refuses a second
            notice = Notice.objects.create(member_id=member.pk, kind=kind, params=params, once_key=once_key or "")
    except IntegrityError:
        return None
    transaction.on_commit(queue_sending, robust=True)
    return notice


def notify_points_expiring(*, member: Member, points: int, expires_on: date) -> Notice | None:
    """The hook for points expiry (which comes later, issue 16 part 2): its task calls this for
    each lot about to expire; once per member and day of expiry."""
    return notify(
        member=member,
        kind=Notice.Kind.POINTS_EXPIRING,
        params={"points": points, "expires_on": expires_on.isoformat()},
        once_key=f"points_expiring:{member.pk}:{expires_on.isoformat()}",
    )


def queue_sending() -> None:
    from kombu.exceptions import OperationalError as BrokerError

    from .tasks import send_notices

    try:
        send_notices.apply_async(ignore_result=True)
    except BrokerError as error:
        logger.warning("notices not queued (task queue unavailable: %s); the schedule sends them", error)


def send_pending_notices(*, now: datetime | None = None) -> int:
    """Send the notices not sent yet through the channel, each once: a row is locked (SKIP LOCKED,
    so concurrent runs share the work) and marked sent in the transaction that sent it. A channel
    that raises leaves the notice unsent for the next run. Returns how many were sent."""
    now = now or timezone.now()
    channel = get_channel()
    sent = 0
    while True:
        with transaction.atomic():
            batch = list(
                Notice.objects.select_for_update(skip_locked=True)
                .filter(sent_at__isnull=True)
                .order_by("pk")[:SEND_BATCH]
            )
            if not batch:
                return sent
            members = Member.objects.in_bulk({notice.member_id for notice in batch})
            done = []
            for notice in batch:
                member = members.get(notice.member_id)
                try:
                    if member is not None and member.anonymised_at is None:
                        channel.send(member=member, notice=notice)
                except Exception:  # a gateway's failure must not stop the others
                    logger.exception("notice %s not sent", notice.pk)
                    continue
                done.append(notice.pk)
            Notice.objects.filter(pk__in=done).update(sent_at=now)
            sent += len(done)
            if len(done) < len(batch):
                return sent  # the failed ones wait for the next run


def member_notices(*, member: Member):
    """The member's notices, newest first (the notices page pages them)."""
    return Notice.objects.filter(member_id=member.pk).order_by("-created_at", "-pk")
