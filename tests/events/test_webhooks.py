"""Webhook delivery to a real HTTP receiver on loopback: signed as the Standard Webhooks
specification says, retried with back-off, in order per member, disabled when it keeps
failing, replayed from the admin."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from events import services
from events.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from events.services import create_endpoint, deliver_due, retry_delay
from recycling.services import record_dropoff
from tests.factories import MemberFactory, StationManagerFactory, SuperuserFactory

from .conftest import verify_as_a_partner

pytestmark = pytest.mark.django_db


def drop(desk, *, member=None, key, cartons=1):
    return record_dropoff(
        station=desk.station,
        member_code=(member or desk.member).code,
        cartons=cartons,
        staff=desk.staff,
        idempotency_key=key,
    ).dropoff


def event_id(dropoff) -> str:
    return f"evt_{Event.objects.get(kind=Event.Kind.DROPOFF_RECORDED, payload__dropoff_id=dropoff.pk).pk}"


def test_the_receiver_gets_the_event_signed_and_a_partner_verifies_it(desk, receiver, endpoint):
    dropoff = drop(desk, key="a", cartons=3)

    assert deliver_due() == 1

    (got,) = receiver.received
    assert verify_as_a_partner(endpoint.secret, got)
    assert not verify_as_a_partner(create_endpoint(name="x", url=receiver.url, kinds=["donation.made"]).secret, got)
    assert endpoint.secret.startswith("whsec_")
    assert got.headers["webhook-id"] == event_id(dropoff)
    assert abs(int(got.headers["webhook-timestamp"]) - timezone.now().timestamp()) < 60
    body = got.json
    assert body["type"] == "dropoff.recorded"
    assert body["data"]["dropoff_id"] == dropoff.pk
    assert (body["data"]["member_code"], body["data"]["cartons"], body["data"]["points"]) == (desk.member.code, 3, 75)
    assert desk.member.mobile not in got.body.decode()
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("delivered", 1)
    (attempt,) = DeliveryAttempt.objects.all()
    assert (attempt.status_code, attempt.response_excerpt) == (200, "ok")
    assert deliver_due() == 0  # delivered once
    assert len(receiver.received) == 1


def test_a_tampered_body_fails_the_partners_check(desk, receiver, endpoint):
    drop(desk, key="a")
    deliver_due()
    (got,) = receiver.received
    got.body = got.body.replace(b'"cartons":1', b'"cartons":9')

    assert not verify_as_a_partner(endpoint.secret, got)


def test_a_failing_receiver_is_retried_with_back_off_until_it_answers(desk, receiver, endpoint):
    receiver.status = 500
    drop(desk, key="a")
    start = timezone.now()

    deliver_due(now=start)
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at == start + timedelta(seconds=30)

    assert deliver_due(now=start + timedelta(seconds=20)) == 0  # not due yet: no request
    assert len(receiver.received) == 1

    deliver_due(now=start + timedelta(seconds=30))
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert delivery.next_attempt_at == start + timedelta(seconds=30) + timedelta(minutes=2)  # the wait grew

    receiver.status = 204
    deliver_due(now=delivery.next_attempt_at)

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 3)
    assert [a.status_code for a in DeliveryAttempt.objects.order_by("number")] == [500, 500, 204]
    assert len(set(receiver.ids())) == 1  # the same webhook-id on every attempt
    assert all(verify_as_a_partner(endpoint.secret, got) for got in receiver.received)
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.consecutive_failures, endpoint.failing_since, endpoint.enabled) == (0, None, True)


def test_the_back_off_grows_exponentially_to_a_cap():
    assert [retry_delay(n) for n in range(1, 8)] == [
        timedelta(seconds=30),
        timedelta(minutes=2),
        timedelta(minutes=8),
        timedelta(minutes=32),
        timedelta(minutes=128),
        timedelta(hours=6),
        timedelta(hours=6),
    ]


def test_a_members_next_event_waits_while_an_earlier_one_fails(desk, receiver, endpoint):
    """Member A's first event fails: A's second is held back, member B's goes; once A's first
    arrives, A's second follows."""
    other = MemberFactory()
    a1, a2, b1 = drop(desk, key="a1"), drop(desk, key="a2"), drop(desk, member=other, key="b1")
    failing = {event_id(a1)}
    receiver.answer = lambda got: 500 if got.headers["webhook-id"] in failing else 200
    start = timezone.now()

    deliver_due(now=start)  # a1 fails; the run stops there
    deliver_due(now=start + timedelta(seconds=1))  # a1 not due, a2 held back, b1 goes

    assert receiver.ids() == [event_id(a1), event_id(b1)]
    failing.clear()
    deliver_due(now=start + timedelta(seconds=31))

    assert receiver.ids() == [event_id(a1), event_id(b1), event_id(a1), event_id(a2)]
    assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}


def test_an_endpoint_that_keeps_failing_for_a_day_is_disabled(desk, receiver, endpoint):
    receiver.status = 503
    drop(desk, key="a")
    now = timezone.now()
    for _ in range(30):
        deliver_due(now=now)
        delivery = Delivery.objects.get()
        if not WebhookEndpoint.objects.get().enabled:
            break
        now = delivery.next_attempt_at

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.enabled is False and endpoint.disabled_at == now
    assert now - delivery.first_attempt_at == timedelta(hours=24)  # retried for a day, no longer
    assert delivery.state == "failed"
    assert endpoint.consecutive_failures == delivery.attempts == len(receiver.received) == 10
    drop(desk, key="b")
    assert deliver_due(now=now + timedelta(hours=1)) == 0  # nothing more is sent to it


def test_an_endpoint_failing_only_briefly_is_not_disabled(desk, receiver, endpoint):
    receiver.status = 500
    drop(desk, key="a")
    start = timezone.now()
    for seconds in (0, 30, 150, 630, 2550):
        deliver_due(now=start + timedelta(seconds=seconds))
    receiver.status = 200
    deliver_due(now=Delivery.objects.get().next_attempt_at)

    assert WebhookEndpoint.objects.get().enabled is True
    assert Delivery.objects.get().state == "delivered"


def test_endpoints_get_only_their_kinds_and_their_station(desk, receiver):
    mine = create_endpoint(name="Here", url=receiver.url, kinds=["dropoff.recorded"], station_id=desk.station.pk)
    elsewhere = StationManagerFactory(station__city=desk.station.city)
    create_endpoint(name="Donations", url=receiver.url, kinds=["donation.made"])
    drop(desk, key="here")
    record_dropoff(
        station=elsewhere.station, member_code=desk.member.code, cartons=1, staff=elsewhere.user, idempotency_key="x"
    )

    deliver_due()

    (got,) = receiver.received
    assert got.json["data"]["station_id"] == desk.station.pk
    assert verify_as_a_partner(mine.secret, got)


def test_an_unanswering_endpoint_is_a_logged_failure(desk, endpoint, monkeypatch):
    monkeypatch.setattr(services, "TIMEOUT_SECONDS", 0.5)
    WebhookEndpoint.objects.update(url="http://127.0.0.1:9/nothing-listens-here")
    drop(desk, key="a")

    deliver_due()

    (attempt,) = DeliveryAttempt.objects.all()
    assert attempt.status_code is None and attempt.error
    assert Delivery.objects.get().state == "pending"


def test_replay_from_the_admin_sends_a_delivered_event_again(desk, receiver, endpoint, client):
    drop(desk, key="a")
    deliver_due()
    delivery = Delivery.objects.get()
    client.force_login(SuperuserFactory())

    response = client.post(
        "/admin/events/delivery/", {"action": "replay", "_selected_action": [delivery.pk]}, follow=True
    )

    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.state == "pending"
    deliver_due()
    assert len(receiver.received) == 2
    assert receiver.ids()[0] == receiver.ids()[1]
    assert verify_as_a_partner(endpoint.secret, receiver.received[1])
    assert Delivery.objects.get().attempts == 2


def test_the_admin_creates_an_endpoint_and_shows_its_secret_once(desk, client):
    client.force_login(SuperuserFactory())

    response = client.post(
        "/admin/events/webhookendpoint/add/",
        {"name": "Partner", "url": "https://partner.example/hooks", "kinds": ["dropoff.recorded", "donation.made"]},
    )

    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 200
    assert endpoint.secret in response.content.decode()
    assert endpoint.kinds == ["donation.made", "dropoff.recorded"]
    change = client.get(f"/admin/events/webhookendpoint/{endpoint.pk}/change/")
    assert change.status_code == 200 and endpoint.secret not in change.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"name": "P", "url": "ftp://partner.example/", "kinds": ["donation.made"]},
        {"name": "P", "url": "https://partner.example/", "kinds": []},
        {"name": "P", "url": "https://partner.example/", "kinds": ["no.such"]},
    ],
)
def test_the_admin_refuses_a_bad_endpoint_with_a_form_error(client, data):
    client.force_login(SuperuserFactory())

    response = client.post("/admin/events/webhookendpoint/add/", data)

    assert response.status_code == 200 and response.context["form"].errors
    assert not WebhookEndpoint.objects.exists()


def test_only_superusers_see_webhooks(client, desk):
    client.force_login(desk.staff)

    assert client.get("/admin/events/webhookendpoint/").status_code in (302, 403)


def test_reenabling_an_endpoint_resumes_its_pending_deliveries(desk, receiver, endpoint, client):
    receiver.status = 500
    drop(desk, key="a")
    deliver_due()
    WebhookEndpoint.objects.update(enabled=False, disabled_at=timezone.now())
    receiver.status = 200
    client.force_login(SuperuserFactory())

    client.post("/admin/events/webhookendpoint/", {"action": "enable", "_selected_action": [endpoint.endpoint.pk]})
    deliver_due()

    assert Delivery.objects.get().state == "delivered"
    assert WebhookEndpoint.objects.get().enabled is True


def test_the_body_is_the_standard_webhooks_envelope(desk, receiver, endpoint):
    drop(desk, key="a")
    deliver_due()
    body = json.loads(receiver.received[0].body)

    assert set(body) == {"type", "timestamp", "data"}
    assert body["data"]["id"] == receiver.ids()[0]
