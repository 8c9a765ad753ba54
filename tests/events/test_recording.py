"""The outbox: every business write records its event in its own transaction, with ids and
figures only; a write rolled back leaves no event behind, so none is ever sent."""

from datetime import timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from events.models import Event
from events.services import NewEvent, deliver_due, record_business_event, record_business_events
from recycling.days import shanghai_day
from recycling.models import DropOff, FlagReview
from recycling.reviews import review_flag, void_flagged_dropoffs
from recycling.selectors import flag_subject
from recycling.services import DropOffItem, record_dropoff, record_dropoffs, void_dropoff
from rewards.models import Donation, Redemption
from rewards.services import cancel_redemption, collect_redemption, donate, expire_reservations, reserve_reward
from tests.factories import SuperuserFactory


def record(desk, *, cartons=4, key="d1"):
    return record_dropoff(
        station=desk.station, member_code=desk.member.code, cartons=cartons, staff=desk.staff, idempotency_key=key
    ).dropoff


def reserve(desk, *, key="r1", fund=True):
    if fund:
        record(desk, key=f"fund-{key}")  # 100 points
    return reserve_reward(
        member=desk.member, reward=desk.eggs, station=desk.station, quantity=2, idempotency_key=key
    ).redemption


def flag(desk):
    record(desk)
    return flag_subject(of=desk.station.pk, day=shanghai_day(timezone.now()))


def events_of(kind: str) -> list[Event]:
    return list(Event.objects.filter(kind=kind).order_by("id"))


def test_a_dropoff_records_its_event_with_ids_and_figures_never_a_number(desk):
    dropoff = record(desk, cartons=4)

    (event,) = events_of(Event.Kind.DROPOFF_RECORDED)
    assert (event.member_id, event.station_id, event.city_id) == (
        desk.member.pk,
        desk.station.pk,
        desk.station.city_id,
    )
    assert event.payload == {
        "dropoff_id": dropoff.pk,
        "member_code": desk.member.code,
        "cartons": 4,
        "earning_cartons": 4,
        "points": 100,
        "occurred_at": DjangoJSONEncoder().default(dropoff.occurred_at),
    }
    assert desk.member.mobile not in str(event.payload)


def test_a_batch_records_one_event_per_dropoff_with_one_insert(desk):
    items = [DropOffItem(member_code=desk.member.code, cartons=1, idempotency_key=f"b{n}") for n in range(3)]

    answers = record_dropoffs(station=desk.station, staff=desk.staff, items=items)

    events = events_of(Event.Kind.DROPOFF_RECORDED)
    assert [e.payload["dropoff_id"] for e in events] == [a.dropoff.pk for a in answers]


def test_a_void_records_its_event(desk):
    dropoff = record(desk)

    void_dropoff(dropoff_id=dropoff.pk, staff=desk.staff, reason="Logged twice")

    (event,) = events_of(Event.Kind.DROPOFF_VOIDED)
    assert (event.payload["dropoff_id"], event.payload["points"], event.member_id) == (dropoff.pk, 100, desk.member.pk)
    assert "reason" not in event.payload  # free text stays in the audit log


def test_a_reservation_records_its_event(desk):
    redemption = reserve(desk)

    (event,) = events_of(Event.Kind.RESERVATION_MADE)
    assert event.payload["redemption_id"] == redemption.pk
    assert (event.payload["quantity"], event.payload["points"], event.payload["status"]) == (2, 40, "reserved")
    assert "pickup_code" not in event.payload and redemption.pickup_code not in str(event.payload)


def test_a_collection_records_its_event(desk):
    redemption = reserve(desk)

    collect_redemption(redemption_id=redemption.pk, pickup_code=redemption.pickup_code, staff=desk.staff)

    (event,) = events_of(Event.Kind.RESERVATION_COLLECTED)
    assert (event.payload["redemption_id"], event.payload["status"]) == (redemption.pk, "collected")


def test_a_cancellation_records_its_event(desk):
    redemption = reserve(desk)

    cancel_redemption(redemption_id=redemption.pk, member=desk.member)
    cancel_redemption(redemption_id=redemption.pk, member=desk.member)  # changes nothing: no second event

    (event,) = events_of(Event.Kind.RESERVATION_CANCELLED)
    assert (event.payload["redemption_id"], event.payload["status"]) == (redemption.pk, "cancelled")


def test_an_expiry_records_its_event(desk):
    redemption = reserve(desk)

    assert expire_reservations(now=redemption.expires_at + timedelta(seconds=1)) == 1
    assert expire_reservations(now=redemption.expires_at + timedelta(seconds=2)) == 0

    (event,) = events_of(Event.Kind.RESERVATION_EXPIRED)
    assert (event.payload["redemption_id"], event.payload["status"]) == (redemption.pk, "expired")


def test_a_donation_records_its_event(desk):
    record(desk)

    donation = donate(member=desk.member, campaign=desk.campaign, notebooks=2, idempotency_key="g1").donation

    (event,) = events_of(Event.Kind.DONATION_MADE)
    assert event.payload == {
        "donation_id": donation.pk,
        "member_code": desk.member.code,
        "campaign_id": desk.campaign.pk,
        "notebooks": 2,
        "points": 100,
    }
    assert event.member_id == desk.member.pk


def test_a_review_records_its_event(desk):
    subject = flag(desk)

    review = review_flag(kind=FlagReview.Kind.STATION_DAY, subject=subject, note="School day", user=SuperuserFactory())

    (event,) = events_of(Event.Kind.FLAG_REVIEWED)
    assert event.payload == {"review_id": review.pk, "flag": "station_day", "subject": subject, "voided_dropoffs": []}


def test_acting_on_a_flag_records_its_event_and_the_voids(desk):
    subject = flag(desk)
    dropoff = DropOff.objects.get()

    void_flagged_dropoffs(
        kind=FlagReview.Kind.STATION_DAY, subject=subject, dropoff_ids=[dropoff.pk], note="Nobody", user=desk.staff
    )

    (event,) = events_of(Event.Kind.FLAG_ACTED_ON)
    assert event.payload["voided_dropoffs"] == [dropoff.pk]
    assert [e.payload["dropoff_id"] for e in events_of(Event.Kind.DROPOFF_VOIDED)] == [dropoff.pk]


def test_an_event_is_refused_outside_a_transaction_and_with_a_mobile_number(transactional_db):
    """An event belongs to a write: outside any transaction it is refused, as is a payload that
    carries a mobile number."""
    with pytest.raises(RuntimeError):
        record_business_event(Event.Kind.DONATION_MADE, payload={})
    with pytest.raises(ValueError), transaction.atomic():
        record_business_events([NewEvent(kind=Event.Kind.DONATION_MADE, payload={"mobile": "13812345678"})])
    assert not Event.objects.exists()


# --- Rolled back: no event ---------------------------------------------------------------


class Boom(Exception):
    """Raised right after the event's INSERT, inside the write's transaction."""


WRITES = {
    "dropoff.recorded": (lambda desk: None, lambda desk, _: record(desk, key="x")),
    "dropoff.voided": (
        lambda desk: record(desk),
        lambda desk, dropoff: void_dropoff(dropoff_id=dropoff.pk, staff=desk.staff, reason="x"),
    ),
    "reservation.made": (lambda desk: record(desk), lambda desk, _: reserve(desk, fund=False)),
    "reservation.collected": (
        lambda desk: reserve(desk),
        lambda desk, r: collect_redemption(redemption_id=r.pk, pickup_code=r.pickup_code, staff=desk.staff),
    ),
    "reservation.cancelled": (
        lambda desk: reserve(desk),
        lambda desk, r: cancel_redemption(redemption_id=r.pk, member=desk.member),
    ),
    "reservation.expired": (
        lambda desk: reserve(desk),
        lambda desk, r: expire_reservations(now=r.expires_at + timedelta(seconds=1)),
    ),
    "donation.made": (
        lambda desk: record(desk),
        lambda desk, _: donate(member=desk.member, campaign=desk.campaign, notebooks=1, idempotency_key="g"),
    ),
    "flag.reviewed": (
        lambda desk: flag(desk),
        lambda desk, subject: review_flag(
            kind=FlagReview.Kind.STATION_DAY, subject=subject, note="n", user=SuperuserFactory()
        ),
    ),
}


def business_state() -> dict:
    return {
        "dropoffs": list(DropOff.objects.values_list("pk", "status")),
        "redemptions": list(Redemption.objects.values_list("pk", "status")),
        "donations": Donation.objects.count(),
        "reviews": FlagReview.objects.count(),
    }


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_an_event_is_part_of_its_writes_transaction(kind, desk, transactional_db, monkeypatch, receiver, endpoint):
    """Make the write fail just after its event's INSERT: the write and its event roll back
    together (had the event been written in a transaction of its own, it would remain), and the
    dispatcher has nothing to send."""
    prepare, write = WRITES[kind]
    before = prepare(desk)
    deliver_due()
    receiver.received.clear()
    events_before, state_before = Event.objects.count(), business_state()
    manager = Event.objects
    original = manager.bulk_create

    def insert_then_fail(objs, *args, **kwargs):
        created = original(objs, *args, **kwargs)
        assert connection.in_atomic_block
        if any(e.kind == kind for e in created):
            raise Boom
        return created

    monkeypatch.setattr(manager, "bulk_create", insert_then_fail)

    with pytest.raises(Boom):
        write(desk, before)

    monkeypatch.undo()
    assert Event.objects.count() == events_before
    assert not Event.objects.filter(kind=kind).exists()
    assert business_state() == state_before
    assert deliver_due() == 0
    assert receiver.received == []


def test_the_factories_make_valid_rows(db):
    from tests.factories import DeliveryAttemptFactory, NoticeFactory

    attempt = DeliveryAttemptFactory()
    notice = NoticeFactory()

    assert attempt.succeeded and attempt.delivery.endpoint.matches(attempt.delivery.event)
    assert attempt.delivery.endpoint.secret.startswith("whsec_")
    assert notice.message()
