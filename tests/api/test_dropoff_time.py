"""The drop-off time window through the API: a single POST at most 72 hours back, a batch from an
offline device at most 7 days back; older times are a 400 in the error shape (a refused item in a
batch) and store nothing, so the key is still free."""

from datetime import timedelta

from django.utils import timezone

from idempotency.models import IdempotencyKey
from recycling.days import shanghai_day
from recycling.models import DropOff
from tests.factories import RecyclingCampaignFactory

DROPOFFS = "/api/v1/dropoffs/"
BATCH = "/api/v1/dropoffs/batch/"


def test_a_single_post_beyond_the_window_is_a_400_and_stores_nothing(world, client_for):
    staff = client_for("staff_a")
    before = DropOff.objects.count()
    body = {
        "station": world.station_a.pk,
        "member_code": world.member_x.code,
        "cartons": 3,
        "occurred_at": (timezone.now() - timedelta(hours=73)).isoformat(),
    }

    response = staff.post(DROPOFFS, body, format="json", HTTP_IDEMPOTENCY_KEY="late-1")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "dropoff_too_old"
    assert "72" in response.json()["error"]["message"]
    assert DropOff.objects.count() == before
    assert not IdempotencyKey.objects.filter(key="late-1").exists()
    body["occurred_at"] = (timezone.now() - timedelta(hours=2)).isoformat()
    assert staff.post(DROPOFFS, body, format="json", HTTP_IDEMPOTENCY_KEY="late-1").status_code == 201


def test_a_single_post_dated_in_a_closed_campaign_is_a_400(world, client_for):
    today = shanghai_day(timezone.now())
    RecyclingCampaignFactory(start_day=today - timedelta(days=10), end_day=today - timedelta(days=1))
    body = {
        "station": world.station_a.pk,
        "member_code": world.member_x.code,
        "cartons": 3,
        "occurred_at": (timezone.now() - timedelta(hours=30)).isoformat(),
    }

    response = client_for("staff_a").post(DROPOFFS, body, format="json", HTTP_IDEMPOTENCY_KEY="closed-1")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "campaign_closed"
    assert not IdempotencyKey.objects.filter(key="closed-1").exists()


def test_a_batch_goes_back_seven_days_and_refuses_older_items(world, client_for):
    now = timezone.now()
    items = [
        {"idempotency_key": "b-6", "member_code": world.member_x.code, "cartons": 2},
        {"idempotency_key": "b-8", "member_code": world.member_x.code, "cartons": 2},
    ]
    items[0]["occurred_at"] = (now - timedelta(days=6)).isoformat()
    items[1]["occurred_at"] = (now - timedelta(days=8)).isoformat()

    response = client_for("staff_a").post(BATCH, {"station": world.station_a.pk, "items": items}, format="json")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["result"] for r in results] == ["created", "refused"]
    assert results[1]["error"]["code"] == "dropoff_too_old"
    assert list(IdempotencyKey.objects.filter(key__startswith="b-").values_list("key", flat=True)) == ["b-6"]
