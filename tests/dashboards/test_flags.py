"""The drop-off signals beside the station-day fence (dashboards/anomalies.py: members at the cap
at several stations, staff users far above their city's norm, late records, including a batch's
beyond the desk's window) and the flag's page, where ops review a flag or void its drop-offs."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from dashboards.anomalies import flag_cap_at_stations, flag_late_records, flag_staff_days
from dashboards.selectors import Window
from recycling.days import shanghai_day
from recycling.models import DropOff, FlagReview
from recycling.selectors import flag_subject
from recycling.services import DropOffItem, record_dropoff, record_dropoffs
from tests.factories import (
    CityFactory,
    DropOffFactory,
    EarningRuleFactory,
    EmissionFactorFactory,
    MemberFactory,
    RecyclingCampaignFactory,
    StationFactory,
    StationStaffFactory,
    SuperuserFactory,
)

from .conftest import ops_user, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def today():
    return shanghai_day(timezone.now())


@pytest.fixture
def window(today) -> Window:
    campaign = RecyclingCampaignFactory(start_day=today - timedelta(days=9), end_day=today + timedelta(days=5))
    return Window(campaign=campaign, start=today - timedelta(days=9), end=today)


@pytest.fixture
def rule():
    EmissionFactorFactory()
    return EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)


def test_a_member_at_the_cap_at_three_stations_is_flagged_and_at_two_is_not(rule, window, today):
    city = CityFactory()
    stations = [StationFactory(city=city) for _ in range(3)]
    desk = SuperuserFactory()  # may log anywhere
    hopper, pair = MemberFactory(), MemberFactory()
    for n, station in enumerate(stations):
        record_dropoff(station=station, member_code=hopper.code, cartons=8, staff=desk, idempotency_key=f"h{n}")
    for n, station in enumerate(stations[:2]):
        record_dropoff(station=station, member_code=pair.code, cartons=15, staff=desk, idempotency_key=f"p{n}")

    flags = flag_cap_at_stations(window=window, day=today)

    assert [(f.member_id, f.stations, f.cartons, f.earning_cartons, f.cap) for f in flags] == [
        (hopper.pk, 3, 24, 20, 20)
    ]
    assert flags[0].member == hopper.masked_mobile  # never the full number
    assert flags[0].subject == flag_subject(of=hopper.pk, day=today)
    assert flag_cap_at_stations(window=window, city=city) == flags


def test_a_staff_user_far_above_the_citys_staff_that_day_is_flagged(rule, window, today):
    """Nine staff users of a city log 2 cartons each, one logs 40: the fence (Q3 + 3 IQR on the
    log scale, the IQR at least a doubling) is 16 cartons, so only the 40 is flagged."""
    city = CityFactory()
    logins = [StationStaffFactory(station=StationFactory(city=city)) for _ in range(10)]
    at = timezone.now()
    for n, login in enumerate(logins):
        DropOffFactory(
            station=login.station, logged_by=login.user, rule=rule, cartons=40 if n == 0 else 2, occurred_at=at
        )

    flags = flag_staff_days(window=window, day=today)

    assert [(f.user_id, f.cartons, f.fence.stations) for f in flags] == [(logins[0].user.pk, 40, 10)]
    assert round(flags[0].fence.limit) == 16


def test_late_records_include_every_batch_dropoff_beyond_the_desks_window(rule, window, today):
    """A batch drop-off 5 days old is flagged (the desk's window is 3 days, the flag's 24 hours);
    one 2 hours old is not."""
    login, member = StationStaffFactory(), MemberFactory()
    now = timezone.now()
    old, fresh = record_dropoffs(
        station=login.station,
        staff=login.user,
        offline=True,
        items=[
            DropOffItem(member_code=member.code, cartons=2, idempotency_key="old", occurred_at=now - timedelta(days=5)),
            DropOffItem(
                member_code=member.code, cartons=2, idempotency_key="new", occurred_at=now - timedelta(hours=2)
            ),
        ],
    )

    flags = flag_late_records(window=window, city=login.station.city)

    assert [f.dropoff_id for f in flags] == [old.dropoff.pk]
    assert flags[0].hours_late >= 5 * 24


def test_the_late_flag_never_waits_longer_than_the_desks_window(rule, window, settings):
    settings.GREENBOX_LATE_DROPOFF_FLAG_HOURS = 500
    login = StationStaffFactory()
    recorded = timezone.now()
    late = DropOffFactory(
        station=login.station, rule=rule, occurred_at=recorded - timedelta(hours=80), recorded_at=recorded
    )

    assert [f.dropoff_id for f in flag_late_records(window=window, city=login.station.city)] == [late.pk]


# The pages ------------------------------------------------------------------------------------


@pytest.fixture
def late_flag(rule, window):
    """An offline drop-off 5 days old, synced by a station device, flagged as late."""
    login, member = StationStaffFactory(), MemberFactory()
    (answer,) = record_dropoffs(
        station=login.station,
        staff=login.user,
        offline=True,
        items=[
            DropOffItem(
                member_code=member.code,
                cartons=3,
                idempotency_key="old",
                occurred_at=timezone.now() - timedelta(days=5),
            )
        ],
    )
    return answer.dropoff


def test_the_anomaly_page_lists_the_late_record_with_a_link_to_its_review(late_flag, window):
    client = signed_in(ops_user())
    city = late_flag.station.city

    response = client.get(reverse("dashboards:anomalies"), {"campaign": window.campaign.pk, "city": city.code})

    assert response.status_code == 200
    late = next(t for t in response.context["tables"] if t.slug == "anomalies-late")
    (row,) = late.rows
    assert row[0].value == late_flag.pk
    assert row[-1].value == "To review"
    assert row[-1].href == reverse("dashboards:flag", args=["late_record", str(late_flag.pk)])
    download = client.get(
        reverse("dashboards:csv", args=["anomalies-late"]), {"campaign": window.campaign.pk, "city": city.code}
    )
    assert download.status_code == 200
    assert str(late_flag.pk) in download.content.decode()


def test_ops_mark_a_flag_reviewed_on_its_page(late_flag):
    ops = ops_user()
    client = signed_in(ops)
    url = reverse("dashboards:flag", args=["late_record", str(late_flag.pk)])
    assert client.get(url).status_code == 200

    response = client.post(url, {"note": "The device was offline for a week.", "decision": "reviewed"})

    assert response.status_code == 302
    review = FlagReview.objects.get()
    assert (review.kind, review.subject, review.decision, review.decided_by) == (
        "late_record",
        str(late_flag.pk),
        "reviewed",
        ops,
    )
    assert AuditEvent.objects.filter(action=AuditEvent.Action.FLAG_REVIEWED, user=ops).count() == 1
    page = client.get(url)
    assert "The device was offline for a week." in page.content.decode()
    assert page.context["review"] == review
    again = client.post(url, {"note": "twice", "decision": "reviewed"})
    assert again.status_code == 200  # the decision is shown, nothing more is written
    assert FlagReview.objects.count() == 1


def test_a_superuser_voids_a_flags_dropoff_on_its_page(late_flag):
    boss = SuperuserFactory()
    client = signed_in(boss)
    url = reverse("dashboards:flag", args=["late_record", str(late_flag.pk)])

    response = client.post(url, {"note": "Back-dated to beat the cap", "decision": "void", "dropoffs": [late_flag.pk]})

    assert response.status_code == 302
    late_flag.refresh_from_db()
    assert (late_flag.status, late_flag.void_reason) == (DropOff.Status.VOIDED, "Back-dated to beat the cap")
    assert FlagReview.objects.get().voided_dropoffs == [late_flag.pk]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.FLAG_ACTED_ON).count() == 1


def test_the_flag_page_refuses_a_void_without_a_note_or_a_choice_writing_nothing(late_flag):
    client = signed_in(SuperuserFactory())
    url = reverse("dashboards:flag", args=["late_record", str(late_flag.pk)])

    no_note = client.post(url, {"note": "", "decision": "void", "dropoffs": [late_flag.pk]})
    no_choice = client.post(url, {"note": "why", "decision": "void"})

    assert (no_note.status_code, no_choice.status_code) == (400, 400)
    assert no_choice.context["form"].errors["dropoffs"] == ["Choose the drop-offs to void."]
    assert not FlagReview.objects.exists()
    late_flag.refresh_from_db()
    assert late_flag.status == DropOff.Status.ACCEPTED


@pytest.mark.parametrize("path", [("late_record", "x"), ("nonsense", "1"), ("station_day", "1:2022-13-01")])
def test_a_flag_that_is_not_one_is_a_404(db, path):
    assert signed_in(ops_user()).get(reverse("dashboards:flag", args=path)).status_code == 404


def test_the_flag_page_is_for_ops_only(late_flag):
    staff = StationStaffFactory(station=late_flag.station).user
    url = reverse("dashboards:flag", args=["late_record", str(late_flag.pk)])

    assert signed_in(staff).get(url).status_code == 403
    assert signed_in(staff).post(url, {"note": "n", "decision": "reviewed"}).status_code == 403
    assert not FlagReview.objects.exists()
