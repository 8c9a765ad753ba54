"""One Idempotency-Key sent at the same moment to two different write endpoints, for every pair
(both orders) of the writes that share a scope, on PostgreSQL with real threads and connections.

The first request is held inside its transaction, after its write and before the INSERT of its
key's outcome: the test's own connection holds a SHARE lock on the key table, which blocks that
INSERT (and nothing else the requests do). The test waits until pg_locks shows the first request
waiting for that lock, so the second request truly overlaps it, then sends the second: it must be
refused at once with 409 (idempotency_request_in_progress) and write nothing. Released, the first
commits. Then exactly the first's write exists, the key's stored outcome is the first's, the second
request sent again gets 422 (another operation, or another request of the same one), and the first
sent again gets its first answer.

The station-side writes (drop-off, batch item, void, collect, and the desk's carton movement, which
has no endpoint and goes through its service) share the station's scope; the member-side ones
(reserve, cancel, donate) the member's. A key in one scope never meets the same key in the other.
"""

import itertools
import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.db import connection, transaction

from api.idempotency_keys import refusal_response
from core.errors import DomainError
from idempotency.models import IdempotencyKey
from idempotency.services import member_scope, station_scope
from recycling.models import CartonMovement, DropOff
from recycling.services import record_carton_movement, record_dropoff
from rewards.models import Donation, Redemption
from rewards.services import reserve_reward
from tests.api.conftest import token_client
from tests.concurrency import JOIN_TIMEOUT
from tests.factories import (
    CityFactory,
    DonationCampaignFactory,
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    StationFactory,
    StationStaffFactory,
    StationStockFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "device-queue-0042"
IN_PROGRESS = "idempotency_request_in_progress"
REUSED = "idempotency_key_reused"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict

    @property
    def code(self) -> str | None:
        """The refusal's code; for a batch, its one item's."""
        if "results" in self.body:
            return self.body["results"][0].get("error", {}).get("code")
        return self.body.get("error", {}).get("code")


def answer(response) -> Answer:
    return Answer(response.status_code, response.json())


@pytest.fixture
def world():
    """Committed for every thread: a station with its staff, a member with 80 points, eggs in
    stock, two reservations (one to collect, one to cancel), a drop-off to void and a campaign."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=50)
    station = StationFactory(city=CityFactory(code="HZ"))
    staff = StationStaffFactory(station=station).user
    member = MemberFactory()
    keys = itertools.count()

    def setup_dropoff(cartons: int) -> DropOff:
        return record_dropoff(
            station=station,
            member_code=member.code,
            cartons=cartons,
            staff=staff,
            idempotency_key=f"setup-{next(keys)}",
        ).dropoff

    setup_dropoff(10)  # 100 points, 10 cartons on hand
    to_void = setup_dropoff(4)  # 40 points more, 4 cartons more
    eggs = RewardFactory(points_cost=20)
    StationStockFactory(station=station, reward=eggs, quantity=10)

    def reservation() -> Redemption:
        return reserve_reward(
            member=member, reward=eggs, station=station, quantity=1, idempotency_key=f"setup-{next(keys)}"
        ).redemption

    return SimpleNamespace(
        station=station,
        staff=staff,
        member=member,
        eggs=eggs,
        to_void=to_void,
        to_collect=reservation(),
        to_cancel=reservation(),  # 100 points left
        campaign=DonationCampaignFactory(points_per_notebook=50),
        staff_client=token_client(staff),
        member_client=token_client(member.user),
    )


# --- The writes: how each is sent, its operation, and whether it ran ---------------------------


def post(client, path: str, body: dict, key: str) -> Answer:
    return answer(client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key, HTTP_ACCEPT_LANGUAGE="en"))


def send_dropoff(w, key):
    body = {"station": w.station.pk, "member_code": w.member.code, "cartons": 2}
    return post(w.staff_client, "/api/v1/dropoffs/", body, key)


def send_batch(w, key):
    item = {"idempotency_key": key, "member_code": w.member.code, "cartons": 3}
    return post(w.staff_client, "/api/v1/dropoffs/batch/", {"station": w.station.pk, "items": [item]}, "the-batch")


def send_void(w, key):
    return post(w.staff_client, f"/api/v1/dropoffs/{w.to_void.pk}/void/", {"reason": "Logged twice"}, key)


def send_collect(w, key):
    body = {"station": w.station.pk, "pickup_code": w.to_collect.pickup_code}
    return post(w.staff_client, "/api/v1/redemptions/collect/", body, key)


def send_movement(w, key):
    """The desk's carton movement has no endpoint: its service, answered as the API would."""
    try:
        result = record_carton_movement(station=w.station, kind="reused", cartons=1, staff=w.staff, idempotency_key=key)
    except DomainError as refusal:
        response = refusal_response(refusal)
        return Answer(response.status_code, response.data)
    return Answer(201, {"movement": result.movement.pk, "on_hand": result.on_hand})


def send_reserve(w, key):
    body = {"reward": w.eggs.pk, "station": w.station.pk, "quantity": 2}
    return post(w.member_client, "/api/v1/redemptions/", body, key)


def send_cancel(w, key):
    return post(w.member_client, f"/api/v1/redemptions/{w.to_cancel.pk}/cancel/", {}, key)


def send_donate(w, key):
    return post(w.member_client, "/api/v1/donations/", {"campaign": w.campaign.pk, "notebooks": 1}, key)


@dataclass(frozen=True)
class Write:
    send: object  # (world, key) -> Answer
    operation: str
    ran: object  # world -> whether its write is in the database
    scope: str  # "station" or "member"


WRITES = {
    "dropoff": Write(send_dropoff, "dropoff", lambda w: DropOff.objects.filter(cartons=2).exists(), "station"),
    "batch item": Write(send_batch, "dropoff", lambda w: DropOff.objects.filter(cartons=3).exists(), "station"),
    "void": Write(
        send_void, "void", lambda w: DropOff.objects.get(pk=w.to_void.pk).status == DropOff.Status.VOIDED, "station"
    ),
    "collect": Write(
        send_collect,
        "collect",
        lambda w: Redemption.objects.get(pk=w.to_collect.pk).status == Redemption.Status.COLLECTED,
        "station",
    ),
    "carton movement": Write(send_movement, "movement", lambda w: CartonMovement.objects.exists(), "station"),
    "reserve": Write(send_reserve, "reserve", lambda w: Redemption.objects.filter(quantity=2).exists(), "member"),
    "cancel": Write(
        send_cancel,
        "cancel",
        lambda w: Redemption.objects.get(pk=w.to_cancel.pk).status == Redemption.Status.CANCELLED,
        "member",
    ),
    "donate": Write(send_donate, "donate", lambda w: Donation.objects.exists(), "member"),
}
PAIRS = [
    (first, second)
    for first, second in itertools.permutations(WRITES, 2)
    if WRITES[first].scope == WRITES[second].scope
]


def scope_of(write: Write, w) -> str:
    return station_scope(w.station.pk) if write.scope == "station" else member_scope(w.member.pk)


# --- Holding the first request inside its transaction -----------------------------------------


def waiting_for_the_key_table() -> bool:
    """Whether another backend waits for a lock on the key table (pg_locks is read live)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT FROM pg_locks WHERE NOT granted AND relation = %s::regclass)",
            [IdempotencyKey._meta.db_table],
        )
        return cursor.fetchone()[0]


def in_thread(call):
    """Start call() in a thread with its own connection; returns a function that joins it and
    returns its result (or raises what it raised)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = call()
        except BaseException as error:  # re-raised in the test's thread
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()

    def join():
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive(), "a request hung"
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    return join


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a} then {b}" for a, b in PAIRS])
def test_one_key_sent_at_once_to_two_endpoints_runs_exactly_one_write(world, first, second):
    first_write, second_write = WRITES[first], WRITES[second]

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {IdempotencyKey._meta.db_table} IN SHARE MODE")
        join_first = in_thread(lambda: first_write.send(world, KEY))
        deadline = time.monotonic() + JOIN_TIMEOUT
        while not waiting_for_the_key_table():  # the first request has written, and waits to store its outcome
            assert time.monotonic() < deadline, "the first request never reached its key's INSERT"
            time.sleep(0.01)
        second_answer = in_thread(lambda: second_write.send(world, KEY))()
    first_answer = join_first()  # released by the commit above

    assert second_answer.code == IN_PROGRESS, second_answer
    assert second_answer.status == (200 if second == "batch item" else 409)
    assert first_answer.status in (200, 201) and first_answer.code is None, first_answer
    assert first_write.ran(world) and not second_write.ran(world)
    stored = IdempotencyKey.objects.get(scope=scope_of(first_write, world), key=KEY)
    assert stored.operation == first_write.operation and not stored.refused
    assert IdempotencyKey.objects.filter(key=KEY).count() == 1

    # Afterwards: the other request is a reused key, the first one its first answer again.
    assert second_write.send(world, KEY).code == REUSED
    again = first_write.send(world, KEY)
    if first == "batch item":
        (item,) = again.body["results"]
        assert (item["result"], item["dropoff"]) == ("replayed", first_answer.body["results"][0]["dropoff"])
    else:
        assert again == first_answer
    assert not second_write.ran(world)


def test_one_key_in_the_stations_scope_and_in_the_members_never_meet(world):
    """A staff device and a member's phone that happen to send the same key: both writes run."""
    assert send_dropoff(world, KEY).status == 201
    assert send_reserve(world, KEY).status == 201
    assert WRITES["dropoff"].ran(world) and WRITES["reserve"].ran(world)
    assert set(IdempotencyKey.objects.filter(key=KEY).values_list("scope", flat=True)) == {
        station_scope(world.station.pk),
        member_scope(world.member.pk),
    }
