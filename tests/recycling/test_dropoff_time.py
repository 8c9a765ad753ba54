"""When a drop-off may have happened (recycling.services.check_dropoff_time and
closed_campaign_refusals): at most GREENBOX_DROPOFF_MAX_AGE_HOURS before it is recorded, an
offline batch at most GREENBOX_OFFLINE_DROPOFF_MAX_AGE_DAYS, never on a day of a campaign that
has closed; each refusal before the key is claimed, so nothing is stored."""

from datetime import timedelta

import pytest
from django.utils import timezone

from idempotency.models import IdempotencyKey
from ledger.models import Transfer
from recycling import errors
from recycling.days import shanghai_day
from recycling.models import DropOff
from recycling.services import DropOffItem, check_dropoff_time, record_dropoff, record_dropoffs
from tests.factories import EarningRuleFactory, MemberFactory, RecyclingCampaignFactory, StationStaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    return StationStaffFactory(), MemberFactory()


def record(desk, *, key="k", ago: timedelta | None = None, cartons=3):
    staff, member = desk
    return record_dropoff(
        station=staff.station,
        member_code=member.code,
        cartons=cartons,
        staff=staff.user,
        idempotency_key=key,
        occurred_at=None if ago is None else timezone.now() - ago,
    )


def nothing_stored() -> bool:
    return not (DropOff.objects.exists() or Transfer.objects.exists() or IdempotencyKey.objects.exists())


def test_a_dropoff_within_the_window_is_recorded_at_its_time(desk):
    """71 hours ago is inside the default window of 72 hours."""
    result = record(desk, ago=timedelta(hours=71))

    assert result.dropoff.points == 30
    assert result.dropoff.recorded_at - result.dropoff.occurred_at >= timedelta(hours=71)


def test_a_dropoff_beyond_the_window_is_refused_before_its_key_is_claimed(desk):
    """73 hours ago is refused with the window in the message; nothing is stored, so the
    corrected retry under the same key goes through."""
    with pytest.raises(errors.DropOffTooOld) as refused:
        record(desk, key="late", ago=timedelta(hours=73))

    assert "72" in str(refused.value.message)
    assert nothing_stored()
    assert record(desk, key="late", ago=timedelta(hours=1)).replayed is False


def test_the_window_is_a_setting(desk, settings):
    settings.GREENBOX_DROPOFF_MAX_AGE_HOURS = 2

    with pytest.raises(errors.DropOffTooOld):
        record(desk, ago=timedelta(hours=3))
    assert record(desk, key="k2", ago=timedelta(minutes=90)).dropoff.points == 30


def test_an_offline_batch_may_go_back_seven_days_and_no_further(desk):
    """The batch window (default 7 days) applies only with offline=True: 6 days back is recorded,
    8 days back is refused, item by item; a single drop-off 6 days back is refused."""
    staff, member = desk
    now = timezone.now()
    items = [
        DropOffItem(member_code=member.code, cartons=2, idempotency_key="six", occurred_at=now - timedelta(days=6)),
        DropOffItem(member_code=member.code, cartons=2, idempotency_key="eight", occurred_at=now - timedelta(days=8)),
    ]

    six, eight = record_dropoffs(station=staff.station, staff=staff.user, items=items, offline=True)

    assert six.dropoff.points == 20
    assert isinstance(eight, errors.DropOffTooOld)
    assert "7" in str(eight.message)
    assert not IdempotencyKey.objects.filter(key="eight").exists()
    with pytest.raises(errors.DropOffTooOld):
        record(desk, key="single", ago=timedelta(days=6))


def test_check_dropoff_time_allows_now_and_refuses_the_future():
    now = timezone.now()
    check_dropoff_time(occurred_at=None, now=now)
    check_dropoff_time(occurred_at=now - timedelta(hours=72), now=now)
    with pytest.raises(errors.InvalidTime):
        check_dropoff_time(occurred_at=now + timedelta(hours=1), now=now)
    with pytest.raises(errors.DropOffTooOld):
        check_dropoff_time(occurred_at=now - timedelta(hours=72, seconds=1), now=now)


def test_a_day_of_a_closed_campaign_takes_no_dropoff(desk):
    """A campaign whose last day was yesterday is closed: a drop-off dated on its days is refused
    (nothing stored) and its totals cannot change; today's drop-off is recorded."""
    today = shanghai_day(timezone.now())
    campaign = RecyclingCampaignFactory(
        name="Festival", start_day=today - timedelta(days=5), end_day=today - timedelta(days=1)
    )

    with pytest.raises(errors.CampaignClosed) as refused:
        record(desk, key="closed", ago=timedelta(hours=30))

    assert campaign.name in str(refused.value.message)
    assert nothing_stored()
    assert record(desk, key="today").dropoff.points == 30


def test_a_campaign_still_running_takes_back_dated_dropoffs(desk):
    """A campaign that includes today is open: yesterday's drop-off counts for it."""
    today = shanghai_day(timezone.now())
    RecyclingCampaignFactory(start_day=today - timedelta(days=5), end_day=today)

    assert record(desk, ago=timedelta(hours=30)).dropoff.points == 30


def test_a_batch_refuses_only_its_items_on_a_closed_campaigns_days(desk):
    staff, member = desk
    now = timezone.now()
    today = shanghai_day(now)
    RecyclingCampaignFactory(start_day=today - timedelta(days=20), end_day=today - timedelta(days=3))
    items = [
        DropOffItem(member_code=member.code, cartons=1, idempotency_key="in", occurred_at=now - timedelta(days=4)),
        DropOffItem(member_code=member.code, cartons=1, idempotency_key="after", occurred_at=now - timedelta(days=1)),
    ]

    inside, after = record_dropoffs(station=staff.station, staff=staff.user, items=items, offline=True)

    assert isinstance(inside, errors.CampaignClosed)
    assert after.dropoff.cartons == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["after"]
