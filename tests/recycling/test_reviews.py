"""Ops decisions on anomaly flags (recycling.reviews): reviewed once with a note, or acted on by
voiding the flag's drop-offs through void_dropoff(); each audited, none twice."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from ledger.audit import ledger_violations
from recycling import errors
from recycling.days import shanghai_day
from recycling.models import DropOff, FlagReview
from recycling.reviews import review_flag, void_flagged_dropoffs
from recycling.selectors import flag_dropoffs, flag_subject
from recycling.services import record_dropoff
from tests.factories import EarningRuleFactory, MemberFactory, StationStaffFactory, SuperuserFactory, UserFactory

pytestmark = pytest.mark.django_db

STATION_DAY = FlagReview.Kind.STATION_DAY
LATE = FlagReview.Kind.LATE_RECORD


@pytest.fixture
def scene():
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    staff, member = StationStaffFactory(), MemberFactory()
    dropoffs = [
        record_dropoff(
            station=staff.station, member_code=member.code, cartons=n, staff=staff.user, idempotency_key=f"k{n}"
        ).dropoff
        for n in (2, 3)
    ]
    subject = flag_subject(of=staff.station.pk, day=shanghai_day(timezone.now()))
    return staff, dropoffs, subject


def test_a_flag_is_reviewed_once_with_a_note_and_audited(scene):
    staff, _dropoffs, subject = scene
    ops = SuperuserFactory()

    review = review_flag(kind=STATION_DAY, subject=subject, note="  A school's collection day.  ", user=ops)

    assert (review.decision, review.note, review.decided_by) == ("reviewed", "A school's collection day.", ops)
    event = AuditEvent.objects.get(action=AuditEvent.Action.FLAG_REVIEWED)
    assert event.user == ops
    assert event.details == {
        "kind": "station_day",
        "subject": subject,
        "note": "A school's collection day.",
        "voided_dropoffs": [],
    }
    with pytest.raises(errors.FlagAlreadyDecided):
        review_flag(kind=STATION_DAY, subject=subject, note="again", user=UserFactory())
    assert FlagReview.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.FLAG_REVIEWED).count() == 1


@pytest.mark.parametrize("note", ["", "   ", "x" * 301])
def test_a_review_needs_a_note_of_at_most_300_characters(scene, note):
    _staff, _dropoffs, subject = scene

    with pytest.raises(errors.InvalidNote):
        review_flag(kind=STATION_DAY, subject=subject, note=note, user=SuperuserFactory())

    assert not FlagReview.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.FLAG_REVIEWED).exists()


@pytest.mark.parametrize(
    ("kind", "subject"),
    [("station_day", "abc:2022-11-01"), ("station_day", "1:not-a-day"), ("late_record", "1:2022-11-01"), ("x", "1")],
)
def test_a_subject_that_names_no_flag_is_refused(kind, subject):
    with pytest.raises(errors.UnknownFlag):
        flag_dropoffs(kind=kind, subject=subject)


def test_acting_on_a_flag_voids_the_chosen_dropoffs_and_records_the_decision(scene):
    """The chosen drop-off is voided through void_dropoff (its points reversed, its own audit
    event, the note its reason); the other stays; the decision lists what was voided."""
    _staff, (first, second), subject = scene
    ops = SuperuserFactory()

    result = void_flagged_dropoffs(
        kind=STATION_DAY, subject=subject, dropoff_ids=[second.pk], note="Logged for nobody", user=ops
    )

    assert result.refused == []
    assert (result.review.decision, result.review.voided_dropoffs) == ("voided", [second.pk])
    second.refresh_from_db()
    first.refresh_from_db()
    assert (second.status, second.void_reason, second.voided_by) == ("voided", "Logged for nobody", ops)
    assert first.status == "accepted"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DROPOFF_VOIDED).count() == 1
    acted = AuditEvent.objects.get(action=AuditEvent.Action.FLAG_ACTED_ON)
    assert acted.details["voided_dropoffs"] == [second.pk]
    assert ledger_violations() == []
    with pytest.raises(errors.FlagAlreadyDecided):
        void_flagged_dropoffs(kind=STATION_DAY, subject=subject, dropoff_ids=[first.pk], note="more", user=ops)
    first.refresh_from_db()
    assert first.status == "accepted"


def test_a_dropoff_not_of_the_flag_is_refused_before_anything_is_voided(scene):
    _staff, (first, _second), _subject = scene
    elsewhere = flag_subject(of=first.station_id, day=shanghai_day(timezone.now()) - timedelta(days=1))

    with pytest.raises(errors.UnknownDropOff):
        void_flagged_dropoffs(
            kind=STATION_DAY, subject=elsewhere, dropoff_ids=[first.pk], note="n", user=SuperuserFactory()
        )

    assert not DropOff.objects.filter(status="voided").exists()
    assert not FlagReview.objects.exists()


def test_an_ops_user_who_may_not_void_gets_the_voids_refusal_and_nothing_is_recorded(scene):
    """void_dropoff() decides who may void (a superuser, or staff of the station): an Ops-group
    user who is neither gets its refusal, and the flag stays undecided."""
    _staff, (first, _second), _subject = scene
    ops = UserFactory()
    ops.groups.add(Group.objects.get_or_create(name="Ops")[0])

    with pytest.raises(errors.NotStationStaff):
        void_flagged_dropoffs(kind=LATE, subject=flag_subject(of=first.pk), dropoff_ids=[first.pk], note="n", user=ops)

    first.refresh_from_db()
    assert first.status == "accepted"
    assert not FlagReview.objects.exists()


def test_the_admin_lists_the_decisions_read_only_for_superusers(scene, client):
    staff, _dropoffs, subject = scene
    review_flag(kind=STATION_DAY, subject=subject, note="A school's collection day.", user=SuperuserFactory())
    changelist = reverse("admin:recycling_flagreview_changelist")

    client.force_login(SuperuserFactory())
    listed = client.get(changelist, {"decision__exact": "reviewed"})
    assert listed.status_code == 200
    assert [row.subject for row in listed.context["cl"].result_list] == [subject]
    assert "A school&#x27;s collection day." in listed.content.decode()
    review = FlagReview.objects.get()
    assert client.get(reverse("admin:recycling_flagreview_change", args=[review.pk])).status_code == 200
    assert client.post(reverse("admin:recycling_flagreview_delete", args=[review.pk])).status_code == 403

    client.force_login(staff.user)  # station staff have no view permission on ops decisions
    assert client.get(changelist).status_code == 403
