"""Idempotency-Key on the API, the way Stripe documents it: every write requires it; a replay
answers the first status and body; another request under the key is a 422, a request still
running a 409; a request refused for its shape stores nothing; keys are scoped to the station
(station-side writes) or the member (member-side writes), and kept 30 days.

The mechanism itself (idempotency/services.py) has its own tests in tests/idempotency/; the
concurrent pairs of endpoints are in tests/idempotency/test_idempotency_pairs.py."""

import io
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from idempotency.models import IdempotencyKey
from idempotency.services import TRY_LOCKS, member_scope, station_scope
from ledger.models import Account, Transfer
from recycling.models import DropOff
from rewards.models import Redemption
from rewards.services import reserve_reward

from .conftest import token_client

DROPOFFS = "/api/v1/dropoffs/"


def dropoff_body(world, cartons=2, **more):
    return {"station": world.station_a.pk, "member_code": world.member_x.code, "cartons": cartons, **more}


def post(client, url, body, key):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def ledger_state() -> dict:
    return {
        "dropoffs": DropOff.objects.count(),
        "transfers": Transfer.objects.count(),
        "balances": dict(Account.objects.values_list("pk", "balance")),
    }


def test_a_replay_returns_the_first_status_and_body_and_writes_nothing(world, client_for):
    staff = client_for("staff_a")
    first = post(staff, DROPOFFS, dropoff_body(world), "key-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    before = ledger_state()

    again = post(staff, DROPOFFS, dropoff_body(world), "key-1")

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert ledger_state() == before
    stored = IdempotencyKey.objects.get(key="key-1")
    assert (stored.scope, stored.operation) == (station_scope(world.station_a.pk), "dropoff")
    assert stored.result["dropoff"] == first.json()["id"]


def test_the_same_body_with_keys_in_another_order_is_the_same_request(world, client_for):
    staff = client_for("staff_a")
    body = dropoff_body(world)
    post(staff, DROPOFFS, body, "key-1")
    again = post(staff, DROPOFFS, dict(reversed(list(body.items()))), "key-1")
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"


def test_the_same_key_with_another_body_is_refused_with_422(world, client_for):
    staff = client_for("staff_a")
    post(staff, DROPOFFS, dropoff_body(world, cartons=2), "key-1")
    before = ledger_state()

    other = post(staff, DROPOFFS, dropoff_body(world, cartons=3), "key-1")

    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert ledger_state() == before


def test_the_same_key_on_another_endpoint_is_refused_with_422(world, client_for):
    staff = client_for("staff_a")
    post(staff, DROPOFFS, dropoff_body(world), "key-1")
    other = post(staff, f"/api/v1/dropoffs/{world.dropoff.pk}/void/", {"reason": "typo"}, "key-1")
    assert other.status_code == 422
    assert DropOff.objects.get(pk=world.dropoff.pk).status == DropOff.Status.ACCEPTED


def test_a_domain_refusal_is_stored_and_replayed(world, client_for):
    staff = client_for("staff_a")
    body = {"station": world.station_a.pk, "member_code": "NOSUCHMEMBER2345", "cartons": 1}
    first = post(staff, DROPOFFS, body, "key-1")
    assert first.status_code == 422 and first.json()["error"]["code"] == "unknown_member"

    again = post(staff, DROPOFFS, body, "key-1")

    assert again.status_code == 422 and again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert IdempotencyKey.objects.get(key="key-1").refusal_code == "unknown_member"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"cartons": "two"}, 400),  # the serializer's
        ({"cartons": 0}, 400),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, 400),  # a time in the future (the service's)
        ({"station": 10**9}, 400),  # no such station
    ],
)
def test_a_request_refused_for_its_shape_stores_nothing_and_the_corrected_retry_goes_through(
    world, client_for, change, status
):
    staff = client_for("staff_a")
    bad = post(staff, DROPOFFS, {**dropoff_body(world), **change}, "key-1")
    assert bad.status_code == status, bad.json()
    assert not IdempotencyKey.objects.filter(key="key-1").exists()

    fixed = post(staff, DROPOFFS, dropoff_body(world), "key-1")

    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed.headers


def test_a_user_who_does_not_work_at_the_station_stores_nothing_under_its_key(world, client_for):
    """403 before the claim: nobody uses up, or reads, a key in a station's scope not theirs."""
    post(client_for("staff_a"), DROPOFFS, dropoff_body(world), "key-1")

    refused = post(client_for("staff_b"), DROPOFFS, dropoff_body(world), "key-1")

    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_station_staff"
    assert "Idempotent-Replayed" not in refused.headers
    assert IdempotencyKey.objects.filter(key="key-1").count() == 1


def test_keys_are_scoped_to_the_station_so_another_login_there_replays(world, client_for):
    """A device's queue re-sent under another staff login at the same station records nothing twice."""
    from tests.factories import StationStaffFactory

    colleague = token_client(StationStaffFactory(station=world.station_a).user)
    first = post(client_for("staff_a"), DROPOFFS, dropoff_body(world), "queued-1")
    before = ledger_state()

    again = post(colleague, DROPOFFS, dropoff_body(world), "queued-1")

    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert ledger_state() == before


def test_the_same_key_at_another_station_is_another_request(world, client_for):
    body_b = {"station": world.station_b.pk, "member_code": world.member_y.code, "cartons": 2}
    assert post(client_for("staff_a"), DROPOFFS, dropoff_body(world), "same-key").status_code == 201
    second = post(client_for("staff_b"), DROPOFFS, body_b, "same-key")
    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers
    assert set(IdempotencyKey.objects.filter(key="same-key").values_list("scope", flat=True)) == {
        station_scope(world.station_a.pk),
        station_scope(world.station_b.pk),
    }


@pytest.mark.parametrize("key", ["", "a" * 65, "with space", "ключ"])
def test_a_malformed_key_is_a_400(world, client_for, key):
    response = client_for("staff_a").post(
        DROPOFFS, dropoff_body(world), format="json", headers={"Idempotency-Key": key}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid_idempotency_key", "idempotency_key_required")
    assert not DropOff.objects.filter(cartons=2, member=world.member_x).exclude(pk=world.dropoff.pk).exists()


def write_requests(world, *, to_cancel=None) -> list[tuple[str, str, dict]]:
    """Every write of the API: (role, path, a valid body); the cancel is of `to_cancel` (default:
    the world's reservation, which the collect hands out)."""
    to_cancel = to_cancel or world.redemption
    return [
        ("staff_a", DROPOFFS, dropoff_body(world)),
        (
            "staff_a",
            "/api/v1/dropoffs/batch/",
            {
                "station": world.station_a.pk,
                "items": [{"idempotency_key": "item-1", "member_code": world.member_y.code, "cartons": 1}],
            },
        ),
        ("staff_a", f"/api/v1/dropoffs/{world.dropoff.pk}/void/", {"reason": "typo"}),
        ("member_x", "/api/v1/redemptions/", {"reward": world.eggs.pk, "station": world.station_a.pk, "quantity": 1}),
        ("member_x", f"/api/v1/redemptions/{to_cancel.pk}/cancel/", {}),
        (
            "staff_a",
            "/api/v1/redemptions/collect/",
            {"station": world.station_a.pk, "pickup_code": world.redemption.pickup_code},
        ),
        ("member_x", "/api/v1/donations/", {"campaign": world.campaign.pk, "notebooks": 1}),
    ]


def test_every_write_without_a_key_is_a_400_that_says_so_and_writes_nothing(world, client_for):
    before = (ledger_state(), Redemption.objects.count())
    started = timezone.now()
    for role, path, body in write_requests(world):
        client = client_for(role)
        client.sends_keys = False
        response = client.post(path, body, format="json", HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 400, path
        assert response.json()["error"] == {
            "code": "idempotency_key_required",
            "message": "Idempotency-Key header is required.",
        }, path
    assert (ledger_state(), Redemption.objects.count()) == before
    assert not IdempotencyKey.objects.filter(created_at__gt=started).exists()


def test_every_write_with_a_key_is_replayed_with_its_first_status_and_body(world, client_for):
    another = reserve_reward(
        member=world.member_x, reward=world.eggs, station=world.station_a, quantity=1, idempotency_key="another"
    ).redemption
    for n, (role, path, body) in enumerate(write_requests(world, to_cancel=another)):
        client = client_for(role)
        first = post(client, path, body, f"every-{n}")
        again = post(client, path, body, f"every-{n}")
        assert first.status_code in (200, 201), (path, first.json())
        if path.endswith("/batch/"):  # the batch claims nothing itself: each item says it was replayed
            (item,) = again.json()["results"]
            assert (item["result"], item["dropoff"]) == ("replayed", first.json()["results"][0]["dropoff"])
            continue
        assert (again.status_code, again.json()) == (first.status_code, first.json()), path
        assert again.headers["Idempotent-Replayed"] == "true", path


def test_a_reservation_is_replayed_and_reserved_once_in_the_members_scope(world, client_for):
    member = client_for("member_x")
    body = {"reward": world.eggs.pk, "station": world.station_a.pk, "quantity": 1}
    first = post(member, "/api/v1/redemptions/", body, "reserve-1")
    before = (Redemption.objects.count(), ledger_state())

    again = post(member, "/api/v1/redemptions/", body, "reserve-1")

    assert first.status_code == 201
    assert again.status_code == 201 and again.content == first.content
    assert (Redemption.objects.count(), ledger_state()) == before
    assert IdempotencyKey.objects.get(key="reserve-1").scope == member_scope(world.member_x.pk)


def test_a_void_is_replayed_and_a_new_key_for_it_is_refused_by_the_service(world, client_for):
    staff = client_for("staff_a")
    url = f"/api/v1/dropoffs/{world.dropoff.pk}/void/"
    first = post(staff, url, {"reason": "Logged twice"}, "void-1")
    again = post(staff, url, {"reason": "Logged twice"}, "void-1")
    assert first.status_code == 200 and again.status_code == 200 and again.content == first.content
    other_key = post(staff, url, {"reason": "Logged twice"}, "void-2")
    assert other_key.status_code == 409 and other_key.json()["error"]["code"] == "already_voided"


def test_keys_are_kept_30_days_then_purged(world, client_for):
    staff = client_for("staff_a")
    post(staff, DROPOFFS, dropoff_body(world), "old")
    post(staff, DROPOFFS, dropoff_body(world, cartons=3), "recent")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(days=30, minutes=1))
    IdempotencyKey.objects.filter(key="recent").update(created_at=timezone.now() - timedelta(days=29))

    call_command("purge_old_idempotency_keys", stdout=io.StringIO())

    assert set(IdempotencyKey.objects.filter(key__in=["old", "recent"]).values_list("key", flat=True)) == {"recent"}


@pytest.mark.django_db(transaction=True)
def test_20_concurrent_duplicates_write_once(transactional_db):
    """20 threads send the same POST with the same key at once: one drop-off, one transfer; every
    other answer is the replay of the first response or a 409."""
    from tests.factories import CityFactory, EarningRuleFactory, MemberFactory, StationFactory, StationStaffFactory

    station = StationFactory(city=CityFactory(code="HZ"))
    EarningRuleFactory(points_per_carton=10)
    staff = StationStaffFactory(station=station).user
    member = MemberFactory()
    body = {"station": station.pk, "member_code": member.code, "cartons": 3}
    barrier = threading.Barrier(20)
    responses = []
    lock = threading.Lock()

    def send():
        try:
            client = token_client(staff)
            barrier.wait()
            response = post(client, DROPOFFS, body, "concurrent-key")
            with lock:
                responses.append(response)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert DropOff.objects.filter(member=member).count() == 1
    assert Transfer.objects.filter(credit_account__member=member).count() == 1
    assert Account.objects.get(member=member).balance == 30
    statuses = sorted(r.status_code for r in responses)
    assert len(responses) == 20
    assert set(statuses) <= {201, 409}
    created = [r for r in responses if r.status_code == 201]
    originals = [r for r in created if "Idempotent-Replayed" not in r.headers]
    assert len(originals) == 1
    assert all(r.json() == originals[0].json() for r in created)


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_of_a_request_still_running_is_a_409_at_once_and_the_key_is_free_after_a_crash():
    """The key is an advisory lock held by the first request's transaction: a duplicate meanwhile
    gets the 409 without waiting; the first request dying (its transaction rolled back) leaves
    no record behind, and the key serves the next request."""
    from tests.factories import CityFactory, EarningRuleFactory, MemberFactory, StationFactory, StationStaffFactory

    station = StationFactory(city=CityFactory(code="HZ"))
    EarningRuleFactory(points_per_carton=10)
    staff = StationStaffFactory(station=station).user
    body = {"station": station.pk, "member_code": MemberFactory().code, "cartons": 3}
    holding, crash = threading.Event(), threading.Event()

    def first_request():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(TRY_LOCKS, [station_scope(station.pk), ["running-key"]])
                holding.set()
                crash.wait(10)
                raise RuntimeError("the worker died")
        except RuntimeError:
            pass
        finally:
            connection.close()

    first = threading.Thread(target=first_request)
    first.start()
    try:
        assert holding.wait(10)
        duplicate = post(token_client(staff), DROPOFFS, body, "running-key")
    finally:
        crash.set()
        first.join(10)

    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "idempotency_request_in_progress"
    assert not DropOff.objects.exists() and not IdempotencyKey.objects.exists()
    retry = post(token_client(staff), DROPOFFS, body, "running-key")
    assert retry.status_code == 201 and DropOff.objects.count() == 1
