"""Idempotency-Key, the way Stripe documents it: replay, mismatch, in progress, per user, kept
24 hours; and 20 concurrent duplicates on PostgreSQL."""

import io
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from api.idempotency import purge_expired_records
from api.models import IdempotencyRecord
from ledger.models import Account, Transfer
from recycling.models import DropOff
from rewards.models import Redemption, RewardRequest

from .conftest import token_client

DROPOFFS = "/api/v1/dropoffs/"


def dropoff_body(world, cartons=2):
    return {"station": world.station_a.pk, "member_code": world.member_x.code, "cartons": cartons}


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
    assert first.status_code == 201
    before = ledger_state()

    again = post(staff, DROPOFFS, dropoff_body(world), "key-1")

    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert ledger_state() == before
    record = IdempotencyRecord.objects.get(user=world.staff_a, key="key-1")
    assert record.status == IdempotencyRecord.Status.COMPLETED and record.response_status == 201


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
    assert other.json()["error"]["code"] == "idempotency_key_mismatch"
    assert ledger_state() == before


def test_the_same_key_on_another_path_is_refused_with_422(world, client_for):
    staff = client_for("staff_a")
    post(staff, DROPOFFS, dropoff_body(world), "key-1")
    other = post(staff, f"/api/v1/dropoffs/{world.dropoff.pk}/void/", {"reason": "typo"}, "key-1")
    assert other.status_code == 422


def test_the_same_key_while_the_first_request_runs_is_a_409(world, client_for):
    staff = client_for("staff_a")
    first = post(staff, DROPOFFS, dropoff_body(world), "key-1")
    record = IdempotencyRecord.objects.get(key="key-1")
    # Pretend the first request has not answered yet.
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=IdempotencyRecord.Status.IN_PROGRESS, response_status=None, completed_at=None, response_body=""
    )
    before = ledger_state()

    again = post(staff, DROPOFFS, dropoff_body(world), "key-1")

    assert first.status_code == 201
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "idempotency_request_in_progress"
    assert ledger_state() == before


def test_a_key_left_in_progress_by_a_crashed_request_is_taken_over_after_the_lock_timeout(world, client_for):
    """The first request recorded the drop-off, then died before storing its response: the
    retry after the lock timeout runs again, and the service's own key returns the same drop-off."""
    staff = client_for("staff_a")
    first = post(staff, DROPOFFS, dropoff_body(world), "key-1")
    IdempotencyRecord.objects.filter(key="key-1").update(
        status=IdempotencyRecord.Status.IN_PROGRESS,
        response_status=None,
        completed_at=None,
        response_body="",
        locked_at=timezone.now() - timedelta(minutes=10),
    )
    before = ledger_state()

    retry = post(staff, DROPOFFS, dropoff_body(world), "key-1")

    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert ledger_state() == before
    assert IdempotencyRecord.objects.get(key="key-1").status == IdempotencyRecord.Status.COMPLETED


def test_a_refusal_is_remembered_and_replayed(world, client_for):
    staff = client_for("staff_a")
    body = {"station": world.station_a.pk, "member_code": "NOSUCHMEMBER2345", "cartons": 1}
    first = post(staff, DROPOFFS, body, "key-1")
    assert first.status_code == 422 and first.json()["error"]["code"] == "unknown_member"

    again = post(staff, DROPOFFS, body, "key-1")

    assert again.status_code == 422 and again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_request_that_fails_validation_gives_its_key_back(world, client_for):
    staff = client_for("staff_a")
    bad = post(staff, DROPOFFS, {**dropoff_body(world), "cartons": "two"}, "key-1")
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.filter(key="key-1").exists()

    fixed = post(staff, DROPOFFS, dropoff_body(world), "key-1")

    assert fixed.status_code == 201


def test_keys_are_scoped_to_the_user(world, client_for):
    """Two devices that happen to use the same key record two drop-offs."""
    from tests.factories import StationStaffFactory

    colleague = token_client(StationStaffFactory(station=world.station_a).user)
    before = DropOff.objects.count()

    assert post(client_for("staff_a"), DROPOFFS, dropoff_body(world), "same-key").status_code == 201
    second = post(colleague, DROPOFFS, dropoff_body(world), "same-key")

    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers
    assert DropOff.objects.count() == before + 2


@pytest.mark.parametrize("key", ["", "a" * 65, "with space", "ключ"])
def test_a_malformed_key_is_a_400(world, client_for, key):
    response = client_for("staff_a").post(
        DROPOFFS, dropoff_body(world), format="json", headers={"Idempotency-Key": key}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"


def test_without_a_key_every_post_writes(world, client_for):
    staff = client_for("staff_a")
    before = DropOff.objects.count()
    assert staff.post(DROPOFFS, dropoff_body(world), format="json").status_code == 201
    assert staff.post(DROPOFFS, dropoff_body(world), format="json").status_code == 201
    assert DropOff.objects.count() == before + 2


def test_a_reservation_is_replayed_and_reserved_once(world, client_for):
    """reserve_reward runs outside the API's transaction; the replay still writes nothing."""
    member = client_for("member_x")
    body = {"reward": world.eggs.pk, "station": world.station_a.pk, "quantity": 1}
    first = post(member, "/api/v1/redemptions/", body, "reserve-1")
    before = (Redemption.objects.count(), RewardRequest.objects.count(), ledger_state())

    again = post(member, "/api/v1/redemptions/", body, "reserve-1")

    assert first.status_code == 201
    assert again.status_code == 201 and again.content == first.content
    assert (Redemption.objects.count(), RewardRequest.objects.count(), ledger_state()) == before


def test_a_void_is_replayed(world, client_for):
    staff = client_for("staff_a")
    url = f"/api/v1/dropoffs/{world.dropoff.pk}/void/"
    first = post(staff, url, {"reason": "Logged twice"}, "void-1")
    again = post(staff, url, {"reason": "Logged twice"}, "void-1")
    assert first.status_code == 200 and again.status_code == 200 and again.content == first.content
    # Without the key the second void is refused by the service.
    assert staff.post(url, {"reason": "Logged twice"}, format="json").status_code == 409


def test_records_are_kept_24_hours_then_purged(world, client_for):
    staff = client_for("staff_a")
    post(staff, DROPOFFS, dropoff_body(world), "old")
    post(staff, DROPOFFS, dropoff_body(world, cartons=3), "recent")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyRecord.objects.filter(key="recent").update(created_at=timezone.now() - timedelta(hours=23))

    assert purge_expired_records() == 1

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=2))
    call_command("purge_idempotency_keys", stdout=io.StringIO())
    assert not IdempotencyRecord.objects.exists()


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
    assert all(r.content == originals[0].content for r in created)


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_of_a_request_still_running_is_a_409_at_once_and_the_key_is_free_after_a_crash():
    """On PostgreSQL the key is an advisory lock held by the first request's transaction: a
    duplicate meanwhile gets the 409 without waiting; the first request dying (its transaction
    rolled back) leaves no record behind, and the key serves the next request."""
    from api.idempotency import lock_key
    from tests.factories import CityFactory, EarningRuleFactory, MemberFactory, StationFactory, StationStaffFactory

    station = StationFactory(city=CityFactory(code="HZ"))
    EarningRuleFactory(points_per_carton=10)
    staff = StationStaffFactory(station=station).user
    body = {"station": station.pk, "member_code": MemberFactory().code, "cartons": 3}
    holding, crash = threading.Event(), threading.Event()

    def first_request():
        try:
            with transaction.atomic():
                lock_key(user_id=staff.pk, key="running-key")
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
    assert not DropOff.objects.exists() and not IdempotencyRecord.objects.exists()
    retry = post(token_client(staff), DROPOFFS, body, "running-key")
    assert retry.status_code == 201 and DropOff.objects.count() == 1
