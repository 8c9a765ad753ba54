"""Every write of the ops' decisions on anomaly flags (dashboards/anomalies.py computes the flags
from the drop-offs and the daily totals; recycling.selectors.flag_dropoffs says which drop-offs a
flag is about). A flag is decided once (FlagReview's unique constraint): reviewed, with a note of
what was found, or acted on by voiding some of its drop-offs through void_dropoff(), the one
void, which checks who may void and reverses the points. Each decision writes its audit event
in its own transaction with the FlagReview row.

Who may decide is the ops pages' to check (dashboards.access); who may void, void_dropoff()'s.
"""

from collections.abc import Collection
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.services import record_event
from core.errors import DomainError
from events.models import Event
from events.services import record_business_event

from . import errors
from .models import FlagReview
from .selectors import flag_dropoffs
from .services import MAX_VOID_REASON_LENGTH, void_dropoff

MAX_NOTE_LENGTH = MAX_VOID_REASON_LENGTH  # a void's note is each voided drop-off's reason


def review_flag(*, kind: str, subject: str, note: str, user: AbstractBaseUser) -> FlagReview:
    """Mark a flag reviewed with a note (nothing else changes). Refused: a flag that is not one
    (UnknownFlag), an empty or over-long note (InvalidNote), a flag already decided
    (FlagAlreadyDecided). Runs outside any transaction (durable)."""
    note = _checked_note(note)
    flag_dropoffs(kind=kind, subject=subject)  # refuses a subject that names no flag
    return _decide(kind=kind, subject=subject, note=note, user=user, decision=FlagReview.Decision.REVIEWED, voided=[])


@dataclass(frozen=True)
class FlagVoids:
    review: FlagReview
    refused: list[tuple[int, DomainError]]  # drop-offs the void refused (spent points, already voided...)


def void_flagged_dropoffs(
    *, kind: str, subject: str, dropoff_ids: Collection[int], note: str, user: AbstractBaseUser
) -> FlagVoids:
    """Act on a flag: void the chosen drop-offs of it (the note is each void's reason), then
    record the decision with the drop-offs voided. Each void is void_dropoff()'s own audited
    transaction, so one refusal does not undo the others; the refusals are returned. Refused
    before anything is voided: a flag that is not one, a bad note, no drop-off chosen or one that
    is not the flag's, a flag already decided; when every void is refused, the first refusal is
    raised and nothing is recorded."""
    note = _checked_note(note)
    own = set(flag_dropoffs(kind=kind, subject=subject).values_list("pk", flat=True))
    chosen = sorted(set(dropoff_ids))
    if not chosen or not set(chosen) <= own:
        raise errors.UnknownDropOff(_("Choose drop-offs of this flag to void."))
    if FlagReview.objects.filter(kind=kind, subject=subject).exists():
        raise errors.FlagAlreadyDecided()
    voided, refused = [], []
    for pk in chosen:
        try:
            void_dropoff(dropoff_id=pk, staff=user, reason=note)
        except DomainError as refusal:
            refused.append((pk, refusal))
        else:
            voided.append(pk)
    if not voided:
        raise refused[0][1]
    # A review that raced these voids may have decided the flag meanwhile: then _decide refuses,
    # and the voids stand, each with its own audit event (a void is never undone here).
    review = _decide(
        kind=kind, subject=subject, note=note, user=user, decision=FlagReview.Decision.VOIDED, voided=voided
    )
    return FlagVoids(review=review, refused=refused)


def decisions(*, flags: Collection[tuple[str, str]]) -> dict[tuple[str, str], FlagReview]:
    """The decisions taken on these (kind, subject) flags, by flag, in one query."""
    if not flags:
        return {}
    subjects = {subject for _kind, subject in flags}
    rows = FlagReview.objects.filter(subject__in=subjects).select_related("decided_by")
    return {(r.kind, r.subject): r for r in rows if (r.kind, r.subject) in set(flags)}


@transaction.atomic(durable=True)
def _decide(
    *, kind: str, subject: str, note: str, user: AbstractBaseUser, decision: str, voided: list[int]
) -> FlagReview:
    try:
        with transaction.atomic():  # a savepoint: the unique constraint's refusal is a DomainError
            review = FlagReview.objects.create(
                kind=kind, subject=subject, decision=decision, note=note, voided_dropoffs=voided, decided_by=user
            )
    except IntegrityError:
        raise errors.FlagAlreadyDecided() from None
    reviewed = decision == FlagReview.Decision.REVIEWED
    action = AuditEvent.Action.FLAG_REVIEWED if reviewed else AuditEvent.Action.FLAG_ACTED_ON
    record_event(
        action=action,
        user=user,
        target=review,
        details={"kind": kind, "subject": subject, "note": note, "voided_dropoffs": voided},
    )
    record_business_event(
        Event.Kind.FLAG_REVIEWED if reviewed else Event.Kind.FLAG_ACTED_ON,
        # The note stays in the audit log: free text may name people.
        payload={"review_id": review.pk, "flag": kind, "subject": subject, "voided_dropoffs": voided},
    )
    return review


def _checked_note(note: str) -> str:
    note = (note or "").strip()
    if not 0 < len(note) <= MAX_NOTE_LENGTH:
        raise errors.InvalidNote(_("Write a note of at most %(max)s characters.") % {"max": MAX_NOTE_LENGTH})
    return note
