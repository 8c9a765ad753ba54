"""Batch drop-offs for a station that was offline: one result per item, each item its own
transaction, one bad item never blocks the others, sending the batch again is safe."""

from datetime import datetime, timedelta

from django.utils import timezone

from idempotency.models import IdempotencyKey
from ledger.models import Account
from recycling.models import DropOff

BATCH = "/api/v1/dropoffs/batch/"


def item(world, key, cartons=1, **extra):
    return {"idempotency_key": key, "member_code": world.member_x.code, "cartons": cartons, **extra}


def test_mixed_good_bad_and_replayed_items(world, client_for):
    staff = client_for("staff_a")
    earlier = (timezone.now() - timedelta(hours=2)).isoformat()
    staff.post(BATCH, {"station": world.station_a.pk, "items": [item(world, "k-0")]}, format="json")
    before = DropOff.objects.count()
    balance = Account.objects.get(member=world.member_x).balance

    response = staff.post(
        BATCH,
        {
            "station": world.station_a.pk,
            "items": [
                item(world, "k-0"),  # sent in the earlier sync: replayed
                item(world, "k-1", cartons=3, occurred_at=earlier),
                item(world, "k-2", cartons=99),  # out of range
                {"idempotency_key": "k-3", "member_code": "NOSUCHMEMBER2345", "cartons": 1},  # unknown member
                item(world, "k-4", cartons=2, points=1000),  # unknown field
                {"member_code": world.member_x.code, "cartons": 1},  # no key
                item(world, "k-0", cartons=5),  # key reused for another drop-off
                item(world, "k-5", cartons=2),
            ],
        },
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    outcomes = [
        (r["index"], r["idempotency_key"], r["result"], r.get("error", {}).get("code")) for r in body["results"]
    ]
    assert outcomes == [
        (0, "k-0", "replayed", None),
        (1, "k-1", "created", None),
        (2, "k-2", "refused", "invalid"),
        (3, "k-3", "refused", "unknown_member"),
        (4, "k-4", "refused", "invalid"),
        (5, None, "refused", "invalid"),
        (6, "k-0", "refused", "idempotency_key_reused"),
        (7, "k-5", "created", None),
    ]
    assert (body["created"], body["replayed"], body["refused"]) == (2, 1, 5)
    assert list(body["results"][2]["error"]["fields"]) == ["cartons"]
    assert "points" in body["results"][4]["error"]["fields"]
    assert DropOff.objects.count() == before + 2
    assert Account.objects.get(member=world.member_x).balance == balance + 50
    recorded = datetime.fromisoformat(body["results"][1]["dropoff"]["occurred_at"])
    assert recorded == datetime.fromisoformat(earlier)


def test_sending_the_whole_batch_again_records_nothing_twice(world, client_for):
    staff = client_for("staff_a")
    batch = {"station": world.station_a.pk, "items": [item(world, f"k-{n}") for n in range(5)]}
    first = staff.post(BATCH, batch, format="json")
    before = DropOff.objects.count()

    again = staff.post(BATCH, batch, format="json")

    assert [r["result"] for r in first.json()["results"]] == ["created"] * 5
    assert [r["result"] for r in again.json()["results"]] == ["replayed"] * 5
    assert DropOff.objects.count() == before


def test_the_batchs_own_key_claims_nothing_its_items_keys_do(world, client_for):
    """The header is required, but a batch sent again under it (or under another) gets each
    item's first outcome, item by item."""
    staff = client_for("staff_a")
    batch = {"station": world.station_a.pk, "items": [item(world, "k-1")]}
    first = staff.post(BATCH, batch, format="json", HTTP_IDEMPOTENCY_KEY="sync-1")
    before = DropOff.objects.count()
    for key in ("sync-1", "sync-2"):
        again = staff.post(BATCH, batch, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert "Idempotent-Replayed" not in again.headers
        (result,) = again.json()["results"]
        assert (result["result"], result["dropoff"]) == ("replayed", first.json()["results"][0]["dropoff"])
    assert not IdempotencyKey.objects.filter(key__in=["sync-1", "sync-2"]).exists()
    assert DropOff.objects.count() == before


def test_an_item_key_matches_the_same_key_sent_as_a_single_post(world, client_for):
    staff = client_for("staff_a")
    single = staff.post(
        "/api/v1/dropoffs/",
        {"station": world.station_a.pk, "member_code": world.member_x.code, "cartons": 1},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-9",
    )
    batch = staff.post(BATCH, {"station": world.station_a.pk, "items": [item(world, "k-9")]}, format="json")
    result = batch.json()["results"][0]
    assert result["result"] == "replayed" and result["dropoff"]["id"] == single.json()["id"]


def test_up_to_500_items(world, client_for):
    staff = client_for("staff_a")
    too_many = {"station": world.station_a.pk, "items": [item(world, f"k-{n}") for n in range(501)]}
    response = staff.post(BATCH, too_many, format="json")
    assert response.status_code == 400
    assert "items" in response.json()["error"]["fields"]


def test_the_batch_itself_must_be_well_formed(world, client_for):
    staff = client_for("staff_a")
    for body in (
        {"station": world.station_a.pk, "items": []},
        {"station": world.station_a.pk, "items": ["not an object"]},
        {"station": world.station_a.pk, "items": {"0": item(world, "k")}},
        {"items": [item(world, "k")]},
        {"station": world.station_a.pk, "items": [item(world, "k")], "extra": 1},
        {"station": 10**30, "items": [item(world, "k")]},
    ):
        response = staff.post(BATCH, body, format="json")
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid"


def test_staff_of_another_station_cannot_sync_it(world, client_for):
    response = client_for("staff_b").post(
        BATCH, {"station": world.station_a.pk, "items": [item(world, "k-1")]}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_station_staff"
