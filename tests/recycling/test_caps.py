"""Caps per member per day, ISO week and calendar month (Asia/Shanghai), set on the earning rule
and applied by the one pricing function (recycling.pricing.price_dropoff) that record_dropoffs(),
the simulator and the ledger audit share; and the issue's reproduced failure, now refused."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.utils import timezone

from ledger.audit import ledger_violations
from ledger.models import Account
from recycling import errors
from recycling.days import SHANGHAI, cap_period_days, month_start, shanghai_day, week_start
from recycling.models import DropOff
from recycling.pricing import Earned, EarnedTally, price_dropoff
from recycling.services import DropOffItem, record_dropoff, record_dropoffs
from tests.factories import EarningRuleFactory, MemberFactory, StationStaffFactory

pytestmark = pytest.mark.django_db


class Terms:
    def __init__(self, daily=20, weekly=None, monthly=None, points=10):
        self.points_per_carton, self.daily_carton_cap = points, daily
        self.weekly_carton_cap, self.monthly_carton_cap = weekly, monthly


def shanghai(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), SHANGHAI)


# The pricing function and the periods ----------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "earned", "expected"),
    [
        (Terms(), Earned(day=15), 5),  # the daily cap alone, as before
        (Terms(weekly=None, monthly=None), Earned(day=0, week=500, month=5000), 10),  # no caps beyond the day
        (Terms(weekly=50), Earned(day=0, week=45), 5),  # the week's room is smaller
        (Terms(weekly=50, monthly=60), Earned(day=0, week=10, month=55), 5),  # the month's is
        (Terms(weekly=50), Earned(day=0, week=60), 0),  # over a cap (a rule changed): never negative
    ],
)
def test_price_dropoff_takes_the_smallest_room_under_each_cap(terms, earned, expected):
    price = price_dropoff(cartons=10, earned_before=earned, rule=terms)

    assert (price.earning_cartons, price.points) == (expected, expected * 10)


def test_iso_weeks_run_monday_to_sunday_and_months_by_the_calendar():
    assert week_start(date(2022, 11, 6)) == date(2022, 10, 31)  # a Sunday: the week began on Monday
    assert week_start(date(2022, 11, 7)) == date(2022, 11, 7)
    assert month_start(date(2022, 11, 30)) == date(2022, 11, 1)
    assert cap_period_days(date(2022, 11, 1)) == (
        date(2022, 10, 31),
        date(2022, 11, 6),
        date(2022, 11, 1),
        date(2022, 11, 30),
    )
    assert cap_period_days(date(2024, 2, 10))[3] == date(2024, 2, 29)


def test_the_tally_rolls_days_up_into_their_week_and_month():
    tally = EarnedTally({(1, date(2022, 10, 31)): 20, (1, date(2022, 11, 2)): 7, (2, date(2022, 11, 2)): 3})

    assert tally.before(1, date(2022, 11, 2)) == Earned(day=7, week=27, month=7)
    tally.add(1, date(2022, 11, 6), 5)
    assert tally.before(1, date(2022, 11, 3)) == Earned(day=0, week=32, month=12)
    assert tally.before(1, date(2022, 11, 7)) == Earned(day=0, week=0, month=12)  # a new week


# Through the service -----------------------------------------------------------------------------


@pytest.fixture
def desk():
    staff, member = StationStaffFactory(), MemberFactory()

    def record(at: datetime, cartons: int = 20, key: str | None = None):
        return record_dropoff(
            station=staff.station,
            member_code=member.code,
            cartons=cartons,
            staff=staff.user,
            idempotency_key=key or f"k-{at.isoformat()}-{cartons}",
            occurred_at=at,
        )

    record.member = member
    return record


@pytest.mark.usefixtures("any_past_time")
def test_the_weekly_cap_counts_the_shanghai_iso_week(desk):
    """Daily 20, weekly 50: Monday 20, Tuesday 20, Wednesday 10 of 20; the next Monday (at 00:00
    Shanghai, 16:00 UTC on Sunday) starts a new week; Sunday 23:59 Shanghai was still the old one."""
    EarningRuleFactory(daily_carton_cap=20, weekly_carton_cap=50)
    monday = date(2022, 10, 31)

    earned = [desk(shanghai(monday + timedelta(days=n))).dropoff.earning_cartons for n in range(3)]
    sunday_night = desk(datetime(2022, 11, 6, 15, 59, tzinfo=UTC)).dropoff  # 23:59 in Shanghai
    next_monday = desk(datetime(2022, 11, 6, 16, 0, tzinfo=UTC)).dropoff  # 00:00 in Shanghai

    assert earned == [20, 20, 10]
    assert (sunday_night.earning_cartons, sunday_night.points) == (0, 0)
    assert (next_monday.earning_cartons, next_monday.points) == (20, 200)
    assert ledger_violations() == []


@pytest.mark.usefixtures("any_past_time")
def test_the_monthly_cap_counts_the_shanghai_calendar_month(desk):
    """Daily 20, monthly 30: 1 November 20, 2 November 10 of 20, 30 November nothing; 1 December
    (16:00 UTC on 30 November) a new month. A late drop-off of an earlier day of the month
    counts the month's later ones already recorded."""
    EarningRuleFactory(daily_carton_cap=20, monthly_carton_cap=30)

    first = desk(shanghai(date(2022, 11, 20))).dropoff
    late = desk(shanghai(date(2022, 11, 2))).dropoff  # recorded after the 20th's
    end = desk(datetime(2022, 11, 30, 15, 59, tzinfo=UTC)).dropoff
    december = desk(datetime(2022, 11, 30, 16, 0, tzinfo=UTC)).dropoff

    assert [d.earning_cartons for d in (first, late, end, december)] == [20, 10, 0, 20]
    assert ledger_violations() == []


@pytest.mark.usefixtures("any_past_time")
def test_a_voided_dropoff_frees_its_room_under_the_weekly_cap(desk):
    from recycling.services import void_dropoff

    EarningRuleFactory(daily_carton_cap=20, weekly_carton_cap=30)
    monday = date(2022, 10, 31)
    first = desk(shanghai(monday)).dropoff
    void_dropoff(dropoff_id=first.pk, staff=first.logged_by, reason="wrong member")

    again = desk(shanghai(monday + timedelta(days=1))).dropoff
    third = desk(shanghai(monday + timedelta(days=2))).dropoff

    assert (again.earning_cartons, third.earning_cartons) == (20, 10)
    assert ledger_violations() == []


def test_a_batch_prices_each_item_under_the_weekly_cap_after_the_ones_before_it():
    EarningRuleFactory(daily_carton_cap=20, weekly_carton_cap=30)
    staff, member = StationStaffFactory(), MemberFactory()
    now = timezone.now()
    items = [
        DropOffItem(
            member_code=member.code, cartons=20, idempotency_key=f"b{n}", occurred_at=now - timedelta(minutes=n)
        )
        for n in range(3)
    ]

    answers = record_dropoffs(station=staff.station, staff=staff.user, items=items)

    assert [a.dropoff.earning_cartons for a in answers] == [20, 0, 0]  # the daily cap, then nothing more
    assert ledger_violations() == []


# The reproduced failure --------------------------------------------------------------------


def test_sixty_back_dated_dropoffs_no_longer_earn_sixty_days_of_points():
    """The issue: sixty drop-offs of 20 cartons, dated on the sixty days before today and logged
    in one sitting, all earned full points (12,000 points against a daily cap of 200 points).
    Now a single drop-off goes back at most 72 hours: the two of the last two days are recorded
    (400 points), the 58 older ones refused and not stored."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20, weekly_carton_cap=50, monthly_carton_cap=150)
    staff, member = StationStaffFactory(), MemberFactory()
    now = timezone.now()
    refused = 0
    for n in range(1, 61):
        try:
            record_dropoff(
                station=staff.station,
                member_code=member.code,
                cartons=20,
                staff=staff.user,
                idempotency_key=f"day-{n}",
                occurred_at=now - timedelta(days=n),
            )
        except errors.DropOffTooOld:
            refused += 1

    assert refused == 58
    assert DropOff.objects.filter(member=member).count() == 2
    assert Account.objects.get(member=member).balance == 400  # 40 cartons: within the week and the month
    assert ledger_violations() == []


def test_sixty_back_dated_dropoffs_in_an_offline_batch_are_held_to_seven_days_and_the_weekly_cap():
    """The same sixty as one offline batch: the batch window lets six days through (the
    54 older items are refused), and the weekly cap of 50 cartons limits what those six earn."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20, weekly_carton_cap=50)
    staff, member = StationStaffFactory(), MemberFactory()
    now = timezone.now()
    items = [
        DropOffItem(
            member_code=member.code, cartons=20, idempotency_key=f"day-{n}", occurred_at=now - timedelta(days=n)
        )
        for n in range(1, 61)
    ]

    answers = record_dropoffs(station=staff.station, staff=staff.user, items=items, offline=True)

    recorded = [a for a in answers if not isinstance(a, errors.DomainError)]
    assert sum(isinstance(a, errors.DropOffTooOld) for a in answers) == 54
    assert len(recorded) == 6
    weeks: dict[date, int] = {}
    for answer in recorded:
        week = week_start(shanghai_day(answer.dropoff.occurred_at))
        weeks[week] = weeks.get(week, 0) + 20
    expected_cartons = sum(min(50, cartons) for cartons in weeks.values())
    assert sum(a.dropoff.earning_cartons for a in recorded) == expected_cartons < 120
    assert Account.objects.get(member=member).balance == 10 * expected_cartons
    assert ledger_violations() == []
