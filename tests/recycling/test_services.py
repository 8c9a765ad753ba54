"""The recycling services: register_member, record_dropoff and void_dropoff.

Every test asserts the database afterwards: drop-off rows, transfers and cached balances
after a success, and that a refusal wrote nothing at all.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from idempotency.errors import InvalidKey, KeyReused
from idempotency.models import IdempotencyKey
from idempotency.services import station_scope, was_replayed
from ledger.audit import (
    balances_sum_to_zero,
    cached_balances_match_transfers,
    flagged_balances_not_negative,
    ledger_violations,
)
from ledger.models import Account, Transfer
from ledger.services import lock_accounts, post_transfer
from recycling import errors
from recycling.audit import dropoffs_have_their_transfers, earning_transfers_agree_with_their_dropoffs
from recycling.ledger import issuance_account
from recycling.mobile import mask_mobile, normalize_mobile
from recycling.models import DropOff, Member
from recycling.services import DropOffItem, record_dropoff, record_dropoffs, register_member, void_dropoff
from tests.factories import (
    AccountFactory,
    CityFactory,
    EarningRuleFactory,
    MemberFactory,
    StationFactory,
    StationStaffFactory,
    UserFactory,
)

# A history on fixed dates, recorded through record_dropoff(); the time window is
# tests/recycling/test_dropoff_time.py's.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("any_past_time")]

# 2024-03-01 in Shanghai runs from 2024-02-29 16:00 UTC to 2024-03-01 16:00 UTC.
LAST_MINUTE_OF_MARCH_1 = datetime(2024, 3, 1, 15, 59, tzinfo=UTC)
FIRST_MINUTE_OF_MARCH_2 = datetime(2024, 3, 1, 16, 0, tzinfo=UTC)
FIRST_MINUTE_OF_MARCH_1 = datetime(2024, 2, 29, 16, 0, tzinfo=UTC)


@dataclass(frozen=True)
class LedgerState:
    dropoffs: int
    transfers: int
    balances: dict[int, int]


def ledger_state() -> LedgerState:
    return LedgerState(
        dropoffs=DropOff.objects.count(),
        transfers=Transfer.objects.count(),
        balances=dict(Account.objects.values_list("pk", "balance")),
    )


def balance_of(member: Member) -> int:
    return Account.objects.get(member=member).balance


def spend(member: Member, points: int) -> Transfer:
    """The member spends points on a reward, as rewards/ will: a transfer to a reward account."""
    reward = AccountFactory()
    with transaction.atomic():
        locked = lock_accounts(member.account, reward)
        return post_transfer(
            debit=locked[member.account.pk],
            credit=locked[reward.pk],
            amount=points,
            kind=Transfer.Kind.REDEMPTION,
            idempotency_key=f"test-spend:{member.pk}:{reward.pk}",
        )


def recycling_ledger_violations() -> list[str]:
    """The recycling app's own ledger checks. A test that spends with a bare transfer leaves out
    rewards/' checks, which rightly miss the redemption record such a transfer would have."""
    checks = (
        cached_balances_match_transfers,
        flagged_balances_not_negative,
        balances_sum_to_zero,
        dropoffs_have_their_transfers,
        earning_transfers_agree_with_their_dropoffs,
    )
    return [violation for check in checks for violation in check()]


@pytest.fixture
def rule():
    """The national rule: 10 points per carton, 20 earning cartons per member per day."""
    return EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)


@pytest.fixture
def staff():
    """A staff member and the station they work at."""
    return StationStaffFactory()


@pytest.fixture
def station(staff):
    return staff.station


@pytest.fixture
def member():
    return MemberFactory()


@pytest.fixture
def record(rule, staff, member):
    """record_dropoff with defaults (3 cartons by `member` at the staff's station, a fresh key)."""
    keys = iter(range(1, 10_000))

    def _record(**overrides):
        arguments = {
            "station": staff.station,
            "member_code": member.code,
            "cartons": 3,
            "staff": staff.user,
            "idempotency_key": f"key-{next(keys)}",
        }
        arguments.update(overrides)
        return record_dropoff(**arguments)

    return _record


# record_dropoff: success


def test_record_dropoff_creates_the_dropoff_and_its_earning_transfer(record, rule, staff, member):
    """3 cartons at 10 points: one accepted drop-off with rule and capped count stored, one
    earning transfer of 30 from the station's issuance account to the member, balances moved."""
    result = record(cartons=3, idempotency_key="scan-1")

    dropoff = DropOff.objects.get()
    assert result.dropoff == dropoff
    assert result.replayed is False
    assert result.balance == 30
    assert result.capped_cartons == 0
    assert (dropoff.station, dropoff.member, dropoff.logged_by) == (staff.station, member, staff.user)
    assert (dropoff.cartons, dropoff.earning_cartons, dropoff.points) == (3, 3, 30)
    assert dropoff.rule == rule
    assert dropoff.status == DropOff.Status.ACCEPTED
    stored = IdempotencyKey.objects.get(key="scan-1")
    assert (stored.scope, stored.operation, stored.result) == (
        station_scope(staff.station.pk),
        "dropoff",
        {"dropoff": dropoff.pk, "balance": 30},
    )
    transfer = Transfer.objects.get()
    issuer = issuance_account(station=staff.station)
    assert transfer.kind == Transfer.Kind.EARNING
    assert (transfer.debit_account, transfer.credit_account) == (issuer, member.account)
    assert transfer.amount == 30
    assert dropoff.earning_transfer == transfer
    assert dropoff.reversal_transfer is None
    assert balance_of(member) == 30
    issuer.refresh_from_db()
    assert issuer.balance == -30
    assert ledger_violations() == []


def test_record_dropoff_accepts_a_lowercase_member_code_with_spaces(record, member):
    """The member code is read case-insensitively and trimmed, as a scanner or a person types it."""
    result = record(member_code=f"  {member.code.lower()} ")

    assert result.dropoff.member == member
    assert balance_of(member) == 30


def test_record_dropoff_at_a_past_time_uses_that_time(record):
    """A drop-off logged late keeps the time it happened."""
    result = record(occurred_at=LAST_MINUTE_OF_MARCH_1)

    assert DropOff.objects.get().occurred_at == LAST_MINUTE_OF_MARCH_1
    assert result.dropoff.recorded_at > LAST_MINUTE_OF_MARCH_1


def test_record_dropoff_allows_a_station_clock_a_little_ahead(record, member):
    """A time up to the clock-skew allowance (5 minutes) ahead of the server is accepted."""
    record(occurred_at=timezone.now() + timedelta(minutes=4))

    assert DropOff.objects.count() == 1
    assert balance_of(member) == 30


def test_the_views_answer_to_works_at_is_the_one_the_service_uses(record, staff, member):
    """works_here=False (the view found the user does not work there) is refused before the key is
    claimed, whatever the StationStaff rows say; True is trusted without asking again."""
    before = ledger_state()
    with pytest.raises(errors.NotStationStaff):
        record(works_here=False, idempotency_key="resolved")
    assert ledger_state() == before and not IdempotencyKey.objects.exists()

    assert not record(works_here=True, idempotency_key="resolved").replayed
    assert balance_of(member) == 30


def test_superuser_may_record_at_any_station(record, member):
    """A superuser needs no StationStaff row."""
    admin = UserFactory(is_superuser=True, is_staff=True)

    record(staff=admin, station=StationFactory())

    assert DropOff.objects.get().logged_by == admin
    assert balance_of(member) == 30


def test_record_dropoff_runs_a_bounded_number_of_queries(record, django_assert_max_num_queries):
    """One drop-off takes a fixed handful of queries, not one per earlier drop-off."""
    for _ in range(3):
        record()
    # The staff check; the key's transaction (here a savepoint): its advisory lock, its earlier
    # row, the member, the rule, the factor, lock both accounts, the day's cartons, INSERT the
    # drop-off, INSERT the transfer with both balances, the drop-off's link to it, its business
    # event, the inventory, the key's row; the savepoint's release.
    with django_assert_max_num_queries(16):
        record()


# record_dropoffs: many drop-offs in one call


def test_record_dropoffs_prices_each_item_after_the_ones_before_it(rule, staff, member):
    """Three items of 8 cartons by one member: the cap of 20 is reached inside the batch, so the
    third earns only 4 cartons; each answer carries the balance right after its own drop-off."""
    other = MemberFactory()
    items = [DropOffItem(member_code=member.code, cartons=8, idempotency_key=f"b-{n}") for n in range(3)]
    items.insert(1, DropOffItem(member_code=other.code, cartons=2, idempotency_key="b-other"))

    answers = record_dropoffs(station=staff.station, staff=staff.user, items=items)

    assert [a.dropoff.earning_cartons for a in answers] == [8, 2, 8, 4]
    assert [a.balance for a in answers] == [80, 20, 160, 200]
    assert balance_of(member) == 200 and balance_of(other) == 20
    assert Transfer.objects.filter(kind=Transfer.Kind.EARNING).count() == 4
    assert all(d.earning_transfer.amount == d.points for d in DropOff.objects.select_related("earning_transfer"))
    assert IdempotencyKey.objects.filter(scope=station_scope(staff.station.pk)).count() == 4


def test_record_dropoffs_refuses_an_item_without_stopping_the_others(rule, staff, member):
    """A bad carton count stores nothing, an unknown member is a stored refusal, a key used twice
    is the first use replayed; the good items are recorded once."""
    items = [
        DropOffItem(member_code=member.code, cartons=2, idempotency_key="ok"),
        DropOffItem(member_code=member.code, cartons=0, idempotency_key="bad-count"),
        DropOffItem(member_code="NOSUCHMEMBER2345", cartons=2, idempotency_key="nobody"),
        DropOffItem(member_code=member.code, cartons=2, idempotency_key="ok"),
    ]

    ok, bad_count, nobody, again = record_dropoffs(station=staff.station, staff=staff.user, items=items)

    assert not ok.replayed and again.replayed and again.dropoff.pk == ok.dropoff.pk
    assert isinstance(bad_count, errors.InvalidCartonCount) and isinstance(nobody, errors.UnknownMember)
    assert DropOff.objects.count() == 1 and balance_of(member) == 20
    stored = dict(IdempotencyKey.objects.values_list("key", "refusal_code"))
    assert stored == {"ok": "", "nobody": errors.UnknownMember.code}


def test_record_dropoffs_refuses_a_staff_user_from_elsewhere_storing_nothing(rule, member):
    """Not working at the station refuses the whole call before any key is claimed."""
    elsewhere = StationStaffFactory()
    items = [DropOffItem(member_code=member.code, cartons=2, idempotency_key="k")]

    with pytest.raises(errors.NotStationStaff):
        record_dropoffs(station=StationFactory(), staff=elsewhere.user, items=items)

    assert not DropOff.objects.exists() and not IdempotencyKey.objects.exists()


# record_dropoff: refusals


@pytest.mark.parametrize("cartons", [0, -1, 51, 1000])
def test_record_dropoff_refuses_cartons_out_of_range(record, cartons):
    """A drop-off has 1 to 50 cartons; anything else is refused and nothing is written."""
    before = ledger_state()

    with pytest.raises(errors.InvalidCartonCount):
        record(cartons=cartons)

    assert ledger_state() == before


@pytest.mark.parametrize("cartons", ["3", 3.0, 2.5, None, True])
def test_record_dropoff_refuses_cartons_that_are_not_an_int(record, cartons):
    """Strings, floats, None and booleans are not a carton count; nothing is written."""
    before = ledger_state()

    with pytest.raises(errors.InvalidCartonCount):
        record(cartons=cartons)

    assert ledger_state() == before


@pytest.mark.parametrize("code", ["NOSUCHMEMBER2345", "", None])
def test_record_dropoff_refuses_an_unknown_member_code(record, code):
    """A code that belongs to no member is refused; nothing is written."""
    before = ledger_state()

    with pytest.raises(errors.UnknownMember):
        record(member_code=code)

    assert ledger_state() == before


def test_record_dropoff_refuses_an_inactive_station(record, station):
    """A closed station cannot log cartons, even by its own staff."""
    station.is_active = False
    station.save()
    before = ledger_state()

    with pytest.raises(errors.StationInactive):
        record(station=station)

    assert ledger_state() == before


def test_record_dropoff_refuses_staff_of_another_station(record, staff):
    """Staff can log cartons only where they work."""
    elsewhere = StationFactory(city=staff.station.city)
    before = ledger_state()

    with pytest.raises(errors.NotStationStaff):
        record(station=elsewhere)

    assert ledger_state() == before


def test_record_dropoff_refuses_a_user_who_is_no_station_staff(record):
    """A consumer login (no StationStaff row, not a superuser) cannot log cartons."""
    before = ledger_state()

    with pytest.raises(errors.NotStationStaff):
        record(staff=UserFactory())

    assert ledger_state() == before


def test_record_dropoff_refuses_when_no_rule_is_in_force(record, rule):
    """A rule that ended before the drop-off does not apply; without one the drop-off is refused."""
    rule.valid_to = datetime(2021, 1, 1, tzinfo=UTC)
    rule.save()
    before = ledger_state()

    with pytest.raises(errors.NoEarningRule):
        record()

    assert ledger_state() == before


def test_record_dropoff_refuses_before_the_rule_starts(record, rule):
    """A rule does not apply before its valid_from."""
    before = ledger_state()

    with pytest.raises(errors.NoEarningRule):
        record(occurred_at=rule.valid_from - timedelta(seconds=1))

    assert ledger_state() == before


def test_record_dropoff_ignores_another_citys_rule(record, rule, station):
    """Only the national rule and the station's own city's rules apply."""
    rule.delete()
    EarningRuleFactory(city=CityFactory())
    before = ledger_state()

    with pytest.raises(errors.NoEarningRule):
        record(station=station)

    assert ledger_state() == before


def test_record_dropoff_refuses_a_time_in_the_future(record):
    """A time beyond the clock-skew allowance is refused; nothing is written."""
    before = ledger_state()

    with pytest.raises(errors.InvalidTime):
        record(occurred_at=timezone.now() + timedelta(hours=1))

    assert ledger_state() == before


@pytest.mark.parametrize("key", ["", "k" * 101, None])
def test_record_dropoff_refuses_an_invalid_idempotency_key(record, key):
    """The key is 1 to 100 characters; nothing is written otherwise."""
    before = ledger_state()

    with pytest.raises(InvalidKey):
        record(idempotency_key=key)

    assert ledger_state() == before


@pytest.mark.parametrize(
    ("bad", "error"),
    [({"cartons": 0}, errors.InvalidCartonCount), ({"occurred_at": "future"}, errors.InvalidTime)],
)
def test_a_request_refused_for_its_shape_stores_nothing_so_the_corrected_retry_goes_through(record, bad, error):
    if bad.get("occurred_at") == "future":
        bad = {"occurred_at": timezone.now() + timedelta(hours=1)}
    with pytest.raises(error):
        record(idempotency_key="fix-me", **bad)
    assert not IdempotencyKey.objects.exists()

    assert not record(idempotency_key="fix-me").replayed


def test_a_domain_refusal_is_stored_and_replayed_even_once_it_no_longer_holds(record, station):
    """An unknown member is refused under the key; the same request later gets the same refusal,
    even once a member with that code exists (a new attempt needs a new key)."""
    with pytest.raises(errors.UnknownMember):
        record(member_code="NOSUCHMEMBER0001", idempotency_key="k")
    MemberFactory(code="NOSUCHMEMBER0001")

    with pytest.raises(errors.UnknownMember) as replay:
        record(member_code="NOSUCHMEMBER0001", idempotency_key="k")

    assert was_replayed(replay.value)
    assert not DropOff.objects.exists()


# record_dropoff: idempotency


def test_retry_with_the_same_key_returns_the_first_dropoff(record, member):
    """A retried request returns the first drop-off with replayed=True and credits nothing twice."""
    first = record(cartons=4, idempotency_key="scan-7")

    retry = record(cartons=4, idempotency_key="scan-7", member_code=member.code.lower())

    assert retry.replayed is True
    assert retry.dropoff.pk == first.dropoff.pk
    assert retry.balance == first.balance == 40
    assert DropOff.objects.count() == 1
    assert Transfer.objects.count() == 1
    assert balance_of(member) == 40
    assert ledger_violations() == []


def test_retry_of_a_capped_dropoff_is_replayed_too(record, member):
    """A drop-off with 0 points (no transfer) is replayed as well, not recorded again."""
    record(cartons=20)
    first = record(cartons=5, idempotency_key="over-cap")

    retry = record(cartons=5, idempotency_key="over-cap")

    assert retry.replayed is True
    assert retry.dropoff.pk == first.dropoff.pk
    assert DropOff.objects.count() == 2
    assert Transfer.objects.count() == 1


def test_the_same_key_from_another_login_at_the_station_is_replayed(record, staff, member):
    """Keys are the station's: a device's queue re-sent under a colleague's login records nothing twice."""
    first = record(cartons=3, idempotency_key="queued-1")
    colleague = StationStaffFactory(station=staff.station).user

    again = record(cartons=3, idempotency_key="queued-1", staff=colleague)

    assert again.replayed and again.dropoff.pk == first.dropoff.pk
    assert again.dropoff.logged_by == staff.user
    assert DropOff.objects.count() == 1 and balance_of(member) == 30


def test_the_same_key_at_another_station_is_that_stations_own(record, staff):
    record(cartons=3, idempotency_key="scan-9")
    other_station = StationStaffFactory(user=staff.user, station=StationFactory()).station

    assert not record(idempotency_key="scan-9", station=other_station).replayed
    assert DropOff.objects.count() == 2


@pytest.mark.parametrize("change", ["cartons", "member"])
def test_same_key_with_a_different_request_is_refused(record, staff, change):
    """Reusing a key at the station for a different member or carton count raises KeyReused."""
    record(cartons=3, idempotency_key="scan-9")
    before = ledger_state()
    different = {"cartons": {"cartons": 4}, "member": {"member_code": MemberFactory().code}}[change]

    with pytest.raises(KeyReused):
        record(idempotency_key="scan-9", **different)

    assert ledger_state().dropoffs == before.dropoffs
    assert ledger_state().transfers == before.transfers
    assert {pk: b for pk, b in ledger_state().balances.items() if pk in before.balances} == before.balances


# record_dropoff: earning rules


def test_a_city_rule_beats_the_national_rule(record, rule, station):
    """At a station in a city with its own rule, the city's rule applies, even if the national
    rule started later."""
    city_rule = EarningRuleFactory(
        city=station.city, points_per_carton=15, valid_from=rule.valid_from - timedelta(days=1)
    )
    EarningRuleFactory(city=None, points_per_carton=99, valid_from=rule.valid_from + timedelta(days=1))

    result = record(cartons=2)

    assert result.dropoff.rule == city_rule
    assert result.dropoff.points == 30
    assert Transfer.objects.get().amount == 30


def test_the_latest_national_rule_applies_elsewhere(record, rule, staff, member):
    """Where no city rule exists, the national rule with the latest valid_from in force wins."""
    EarningRuleFactory(city=CityFactory(), points_per_carton=15)
    newer = EarningRuleFactory(points_per_carton=12, valid_from=rule.valid_from + timedelta(days=1))

    result = record(cartons=2)

    assert result.dropoff.rule == newer
    assert balance_of(member) == 24


def test_a_rule_change_does_not_alter_earlier_dropoffs(record, rule, member):
    """Each drop-off records the rule it earned under; a later rule leaves it unchanged."""
    change_at = datetime(2024, 6, 1, tzinfo=UTC)
    earlier = record(cartons=2, occurred_at=change_at - timedelta(hours=1)).dropoff
    rule.valid_to = change_at
    rule.save()
    new_rule = EarningRuleFactory(points_per_carton=25, valid_from=change_at)

    later = record(cartons=2, occurred_at=change_at + timedelta(hours=1)).dropoff

    earlier.refresh_from_db()
    assert (earlier.rule, earlier.points) == (rule, 20)
    assert (later.rule, later.points) == (new_rule, 50)
    assert sorted(Transfer.objects.values_list("amount", flat=True)) == [20, 50]
    assert balance_of(member) == 70
    assert ledger_violations() == []


# record_dropoff: the daily cap


def test_cartons_beyond_the_daily_cap_earn_nothing(record, member):
    """15 then 10 cartons on one day: the second drop-off earns for 5 cartons only."""
    record(cartons=15, occurred_at=LAST_MINUTE_OF_MARCH_1 - timedelta(hours=2))

    result = record(cartons=10, occurred_at=LAST_MINUTE_OF_MARCH_1)

    assert (result.dropoff.cartons, result.dropoff.earning_cartons, result.dropoff.points) == (10, 5, 50)
    assert result.capped_cartons == 5
    assert sorted(Transfer.objects.values_list("amount", flat=True)) == [50, 150]
    assert balance_of(member) == 200
    assert ledger_violations() == []


def test_a_dropoff_wholly_beyond_the_cap_has_no_points_and_no_transfer(record, member):
    """After 20 cartons, a further drop-off that day is recorded with 0 points and no transfer."""
    record(cartons=20, occurred_at=LAST_MINUTE_OF_MARCH_1 - timedelta(hours=2))

    result = record(cartons=3, occurred_at=LAST_MINUTE_OF_MARCH_1)

    assert DropOff.objects.count() == 2
    assert (result.dropoff.earning_cartons, result.dropoff.points) == (0, 0)
    assert result.capped_cartons == 3
    assert result.dropoff.earning_transfer is None
    assert Transfer.objects.count() == 1
    assert result.balance == balance_of(member) == 200
    assert ledger_violations() == []


def test_the_cap_is_per_member(record):
    """Another member's cartons do not count towards this member's cap."""
    other = MemberFactory()
    record(cartons=20, member_code=other.code, occurred_at=LAST_MINUTE_OF_MARCH_1)

    result = record(cartons=20, occurred_at=LAST_MINUTE_OF_MARCH_1)

    assert result.dropoff.points == 200


def test_the_cap_comes_from_the_rule(record, rule):
    """The rule's daily_carton_cap is the limit, not a constant."""
    rule.daily_carton_cap = 5
    rule.save()

    result = record(cartons=8)

    assert (result.dropoff.earning_cartons, result.dropoff.points) == (5, 50)


def test_voided_dropoffs_do_not_count_towards_the_cap(record, staff, member):
    """Voiding a 20-carton drop-off frees the day's cap for the next drop-off."""
    mistaken = record(cartons=20, occurred_at=LAST_MINUTE_OF_MARCH_1 - timedelta(hours=1)).dropoff
    void_dropoff(dropoff_id=mistaken.pk, staff=staff.user, reason="wrong member scanned")

    result = record(cartons=20, occurred_at=LAST_MINUTE_OF_MARCH_1)

    assert (result.dropoff.earning_cartons, result.dropoff.points) == (20, 200)
    assert balance_of(member) == 200
    assert ledger_violations() == []


def test_15_59_and_16_00_utc_fall_on_different_shanghai_days(record, member):
    """16:00 UTC is midnight in Shanghai: a full cap at 15:59 UTC does not limit 16:00 UTC."""
    record(cartons=20, occurred_at=LAST_MINUTE_OF_MARCH_1)

    next_day = record(cartons=20, occurred_at=FIRST_MINUTE_OF_MARCH_2)

    assert next_day.dropoff.points == 200
    assert balance_of(member) == 400


def test_the_shanghai_day_starts_at_16_00_utc_the_day_before(record, member):
    """00:00 Shanghai (16:00 UTC the previous day) and 23:59 Shanghai share one day's cap."""
    record(cartons=20, occurred_at=FIRST_MINUTE_OF_MARCH_1)

    same_day = record(cartons=20, occurred_at=LAST_MINUTE_OF_MARCH_1)
    day_before = record(cartons=20, occurred_at=FIRST_MINUTE_OF_MARCH_1 - timedelta(minutes=1))

    assert same_day.dropoff.points == 0
    assert day_before.dropoff.points == 200
    assert balance_of(member) == 400


# void_dropoff


@pytest.fixture
def dropoff(record):
    """An accepted drop-off of 3 cartons, 30 points."""
    return record(cartons=3).dropoff


def test_void_reverses_the_points_and_marks_the_dropoff(dropoff, staff, member):
    """Voiding posts one reversal of the earning transfer, returns the balance to 0 and records
    who voided it, when and why."""
    voided = void_dropoff(dropoff_id=dropoff.pk, staff=staff.user, reason="  scanned twice  ").dropoff

    dropoff.refresh_from_db()
    assert voided == dropoff
    assert dropoff.status == DropOff.Status.VOIDED
    assert dropoff.void_reason == "scanned twice"
    assert dropoff.voided_by == staff.user
    assert dropoff.voided_at is not None
    earning = Transfer.objects.get(kind=Transfer.Kind.EARNING)
    reversal = Transfer.objects.get(kind=Transfer.Kind.REVERSAL)
    assert reversal.reverses == earning
    assert (dropoff.earning_transfer, dropoff.reversal_transfer) == (earning, reversal)
    assert reversal.amount == 30
    assert (reversal.debit_account, reversal.credit_account) == (earning.credit_account, earning.debit_account)
    assert balance_of(member) == 0
    assert issuance_account(station=dropoff.station).balance == 0
    assert ledger_violations() == []


def test_void_of_a_dropoff_without_points_posts_nothing(record, staff, member):
    """A drop-off beyond the cap (0 points) is voided without any transfer."""
    record(cartons=20)
    capped = record(cartons=2).dropoff

    void_dropoff(dropoff_id=capped.pk, staff=staff.user, reason="wrong count")

    capped.refresh_from_db()
    assert capped.status == DropOff.Status.VOIDED
    assert Transfer.objects.count() == 1
    assert balance_of(member) == 200
    assert ledger_violations() == []


def test_a_manager_of_another_station_cannot_void(dropoff):
    """Only staff of the drop-off's station (or a superuser) may void it."""
    outsider = StationStaffFactory(role="manager")
    before = ledger_state()

    with pytest.raises(errors.NotStationStaff):
        void_dropoff(dropoff_id=dropoff.pk, staff=outsider.user, reason="mistake")

    dropoff.refresh_from_db()
    assert dropoff.status == DropOff.Status.ACCEPTED
    assert ledger_state() == before


def test_voiding_twice_is_refused(dropoff, staff, member):
    """The second void raises AlreadyVoided and posts no second reversal."""
    void_dropoff(dropoff_id=dropoff.pk, staff=staff.user, reason="mistake")
    before = ledger_state()

    with pytest.raises(errors.AlreadyVoided):
        void_dropoff(dropoff_id=dropoff.pk, staff=staff.user, reason="mistake again")

    dropoff.refresh_from_db()
    assert dropoff.void_reason == "mistake"
    assert Transfer.objects.filter(kind=Transfer.Kind.REVERSAL).count() == 1
    assert ledger_state() == before


@pytest.mark.parametrize("reason", ["", "   ", None, "x" * 301])
def test_void_needs_a_reason_of_at_most_300_characters(dropoff, staff, reason):
    """An empty, blank or over-long reason is refused; the drop-off stays accepted."""
    before = ledger_state()

    with pytest.raises(errors.InvalidReason):
        void_dropoff(dropoff_id=dropoff.pk, staff=staff.user, reason=reason)

    dropoff.refresh_from_db()
    assert dropoff.status == DropOff.Status.ACCEPTED
    assert ledger_state() == before


def test_void_is_refused_once_the_member_spent_the_points(dropoff, staff, member):
    """If the reversal would take the member below zero, the void is refused and nothing changes."""
    spend(member, 25)
    before = ledger_state()

    with pytest.raises(errors.InsufficientPoints):
        void_dropoff(dropoff_id=dropoff.pk, staff=staff.user, reason="mistake")

    dropoff.refresh_from_db()
    assert dropoff.status == DropOff.Status.ACCEPTED
    assert not Transfer.objects.filter(kind=Transfer.Kind.REVERSAL).exists()
    assert balance_of(member) == 5
    assert ledger_state() == before
    assert recycling_ledger_violations() == []


def test_void_succeeds_when_enough_points_remain(record, staff, member):
    """Points spent from other drop-offs do not block a void the balance still covers."""
    record(cartons=5)
    dropoff = record(cartons=3).dropoff
    spend(member, 50)

    void_dropoff(dropoff_id=dropoff.pk, staff=staff.user, reason="mistake")

    assert balance_of(member) == 0
    assert recycling_ledger_violations() == []


def test_void_of_an_unknown_dropoff_is_refused(staff):
    """An id that names no drop-off raises UnknownDropOff and writes nothing."""
    before = ledger_state()

    with pytest.raises(errors.UnknownDropOff):
        void_dropoff(dropoff_id=987654, staff=staff.user, reason="mistake")

    assert ledger_state() == before


# register_member and mobile numbers


def test_register_member_creates_user_member_and_empty_account():
    """A new member gets a login (whose username does not reveal the number), a member code and a
    points account at 0."""
    member = register_member(mobile="+86 138-1234-5678", password="s3cret-pass")

    member = Member.objects.select_related("user", "account").get(pk=member.pk)
    assert member.mobile == "13812345678"
    assert "13812345678" not in member.user.username
    assert member.user.check_password("s3cret-pass")
    assert len(member.code) == 16
    assert member.account.kind == Account.Kind.MEMBER
    assert member.account.balance == 0
    assert ledger_violations() == []


def test_register_member_without_password_cannot_sign_in():
    """Without a password the login has an unusable one."""
    member = register_member(mobile="13912345678")

    member.user.refresh_from_db()
    assert not member.user.has_usable_password()


@pytest.mark.parametrize(
    "raw",
    ["13812345678", "+8613812345678", "+86 138 1234 5678", "138-1234-5678", "0086 138 1234 5678", "86-13812345678"],
)
def test_mobile_numbers_are_normalized(raw):
    """Spaces, dashes and a +86 / 0086 / 86 prefix are removed."""
    assert normalize_mobile(raw) == "13812345678"
    assert register_member(mobile=raw).mobile == "13812345678"


@pytest.mark.parametrize(
    "raw",
    ["0571-8888-8888", "057188888888", "010 12345678", "1381234567", "138123456789", "12812345678", "", "abc"],
)
def test_landlines_and_malformed_numbers_are_refused(raw):
    """Landlines, short or long numbers and non-mobile prefixes raise ValidationError; nothing is created."""
    users = get_user_model().objects.count()

    with pytest.raises(ValidationError):
        register_member(mobile=raw)

    assert Member.objects.count() == 0
    assert Account.objects.count() == 0
    assert get_user_model().objects.count() == users


def test_a_number_registers_only_once():
    """The same number in another spelling is refused as already registered."""
    register_member(mobile="13812345678")

    with pytest.raises(ValidationError) as refused:
        register_member(mobile="+86 138-1234-5678")

    assert refused.value.code == "mobile_taken"
    assert Member.objects.count() == 1
    assert Account.objects.count() == 1


def test_mobile_is_masked_for_display():
    """Only the first three and last four digits show."""
    member = register_member(mobile="13812345678")

    assert member.masked_mobile == "138****5678"
    assert str(member) == "138****5678"
    assert mask_mobile("123") == "****"
