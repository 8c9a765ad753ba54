"""The daily totals service (recycling.totals.aggregate_day) against a plain SQL ground truth.

The ground truth below is written independently of the service: one GROUP BY per source table
over the [start, end) bounds of the Shanghai day, merged in Python. Distinct members of a city
are counted from its drop-offs, never summed from its stations.
"""

import contextlib
import threading
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger.models import Account
from ledger.services import lock_accounts, post_transfer
from recycling import errors
from recycling.days import day_bounds
from recycling.models import (
    DAILY_TOTAL_FIGURES,
    CartonMovement,
    DailyCityTotal,
    DailyStationTotal,
    DropOff,
    EmissionFactor,
)
from recycling.services import record_carton_movement, record_dropoff, void_dropoff
from recycling.totals import aggregate_day
from rewards.services import cancel_redemption, donate, reserve_reward
from tests.factories import (
    CityFactory,
    DonationCampaignFactory,
    DropOffFactory,
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    StaffUserFactory,
    StationFactory,
    StationStaffFactory,
    StationStockFactory,
)
from tests.transactions import Rollback, example_transaction

# A history on fixed dates, recorded through record_dropoff().
pytestmark = pytest.mark.usefixtures("any_past_time")

THOUSANDTH = Decimal("0.001")

# Shanghai midnight is 16:00 UTC. 1 March 2024 in Shanghai runs from 29 February 16:00:00 UTC
# to 1 March 15:59:59.999999 UTC; 16:00:00 UTC is already 2 March.
FIRST_DAY, SECOND_DAY = date(2024, 3, 1), date(2024, 3, 2)
TIMES = [
    datetime(2024, 2, 29, 16, 0, 0, tzinfo=UTC),  # 00:00:00 on 1 March
    datetime(2024, 3, 1, 4, 30, tzinfo=UTC),
    datetime(2024, 3, 1, 15, 59, 59, tzinfo=UTC),  # 23:59:59 on 1 March
    datetime(2024, 3, 1, 15, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 3, 1, 16, 0, 0, tzinfo=UTC),  # 00:00:00 on 2 March
    datetime(2024, 3, 2, 9, 15, tzinfo=UTC),
]
# The days before and after hold no activity: aggregating them writes no rows.
DAYS = [FIRST_DAY - timedelta(days=1), FIRST_DAY, SECOND_DAY, SECOND_DAY + timedelta(days=1)]
STATION_CITIES = [0, 0, 0, 1]  # three stations in the first city, one in the second
MEMBERS = 4


# --- The ground truth ---------------------------------------------------------------------


def _moment(value: datetime):
    """A bound as the database reads it (timestamptz)."""
    return connection.ops.adapt_datetimefield_value(value)


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def expected_totals(day: date) -> tuple[dict, dict]:
    """(station rows, city rows) for the day, each {id: {figure: value}}, from plain SQL."""
    start, end = (_moment(bound) for bound in day_bounds(day))
    city_of = dict(_rows("SELECT id, city_id FROM stations_station", []))
    factors = {pk: ef.kg_co2e_per_carton for pk, ef in EmissionFactor.objects.in_bulk().items()}
    stations = defaultdict(lambda: dict.fromkeys(DAILY_TOTAL_FIGURES, 0))

    accepted = """
        FROM recycling_dropoff
        WHERE status = 'accepted' AND occurred_at >= %s AND occurred_at < %s
    """
    for station_id, cartons, dropoffs, members, points in _rows(
        "SELECT station_id, SUM(cartons), COUNT(*), COUNT(DISTINCT member_id), SUM(points)"
        + accepted
        + "GROUP BY station_id",
        [start, end],
    ):
        stations[station_id].update(cartons=cartons, dropoffs=dropoffs, members=members, points_issued=points)
    exact_co2e = defaultdict(Decimal)
    for station_id, factor_id, cartons in _rows(
        "SELECT station_id, emission_factor_id, SUM(cartons)" + accepted + "GROUP BY station_id, emission_factor_id",
        [start, end],
    ):
        exact_co2e[station_id] += cartons * factors[factor_id]
    for station_id, co2e in exact_co2e.items():
        stations[station_id]["co2e_kg"] = co2e.quantize(THOUSANDTH, rounding=ROUND_HALF_UP)

    for station_id, kind, amount in _rows(
        """
        SELECT spending.station_id, t.kind, SUM(t.amount)
        FROM (
            SELECT station_id, transfer_id FROM rewards_redemption
            UNION ALL SELECT station_id, transfer_id FROM rewards_donation
        ) spending
        JOIN recycling_transfer t ON t.id = spending.transfer_id
        LEFT JOIN recycling_transfer r ON r.reverses_id = t.id
        WHERE r.id IS NULL AND spending.station_id IS NOT NULL AND t.created_at >= %s AND t.created_at < %s
        GROUP BY spending.station_id, t.kind
        """,
        [start, end],
    ):
        stations[station_id]["points_redeemed" if kind == "redemption" else "points_donated"] = amount

    for station_id, cartons in _rows(
        """
        SELECT station_id, SUM(cartons) FROM recycling_cartonmovement
        WHERE kind = 'reused' AND occurred_at >= %s AND occurred_at < %s
        GROUP BY station_id
        """,
        [start, end],
    ):
        stations[station_id]["cartons_reused"] = cartons

    # A city's members come from its drop-offs and its kg CO2e is its exact total rounded once;
    # its other figures are the sums of its stations'.
    cities = defaultdict(lambda: dict.fromkeys([*DAILY_TOTAL_FIGURES, "stations"], 0))
    for station_id, row in stations.items():
        city = cities[city_of[station_id]]
        for figure in DAILY_TOTAL_FIGURES:
            if figure not in ("members", "co2e_kg"):
                city[figure] += row[figure]
    exact_city_co2e = defaultdict(Decimal)
    for station_id, co2e in exact_co2e.items():
        exact_city_co2e[city_of[station_id]] += co2e
    for city_id, co2e in exact_city_co2e.items():
        cities[city_id]["co2e_kg"] = co2e.quantize(THOUSANDTH, rounding=ROUND_HALF_UP)
    for city_id, members, with_dropoffs in _rows(
        "SELECT s.city_id, COUNT(DISTINCT d.member_id), COUNT(DISTINCT d.station_id) "
        "FROM recycling_dropoff d JOIN stations_station s ON s.id = d.station_id "
        "WHERE d.status = 'accepted' AND d.occurred_at >= %s AND d.occurred_at < %s GROUP BY s.city_id",
        [start, end],
    ):
        cities[city_id].update(members=members, stations=with_dropoffs)
    for station_id, row in stations.items():
        row["city"] = city_of[station_id]
    return dict(stations), dict(cities)


def actual_totals(day: date) -> tuple[dict, dict]:
    """The rows the service wrote for the day, in the same shape as expected_totals()."""
    stations = {
        row.pop("station_id"): row | {"city": row.pop("city_id")}
        for row in DailyStationTotal.objects.filter(day=day).values("station_id", "city_id", *DAILY_TOTAL_FIGURES)
    }
    cities = {
        row.pop("city_id"): row
        for row in DailyCityTotal.objects.filter(day=day).values("city_id", "stations", *DAILY_TOTAL_FIGURES)
    }
    return stations, cities


def assert_totals_match_ground_truth(day: date) -> None:
    expected_stations, expected_cities = expected_totals(day)
    actual_stations, actual_cities = actual_totals(day)
    assert actual_stations == expected_stations, day
    assert actual_cities == expected_cities, day


def table_snapshot(day: date) -> list[tuple]:
    """Every column of the day's rows except the primary key and computed_at."""
    columns = ["day", "station_id", "city_id", *DAILY_TOTAL_FIGURES]
    stations = list(DailyStationTotal.objects.filter(day=day).order_by("station_id").values_list(*columns))
    city_columns = ["day", "city_id", "stations", *DAILY_TOTAL_FIGURES]
    cities = list(DailyCityTotal.objects.filter(day=day).order_by("city_id").values_list(*city_columns))
    return stations + cities


# --- The property test --------------------------------------------------------------------

dropoff_op = st.tuples(
    st.just("dropoff"),
    st.integers(0, MEMBERS - 1),
    st.integers(0, len(STATION_CITIES) - 1),
    st.integers(1, 50),  # cartons; 20 a day earn points, so the cap is often reached
    st.sampled_from(TIMES),
)
void_op = st.tuples(st.just("void"), st.integers(0, 1000))  # an index into the drop-offs so far
reuse_op = st.tuples(
    st.just("reuse"),
    st.integers(0, len(STATION_CITIES) - 1),
    st.integers(1, 30),
    st.sampled_from(TIMES),
    st.sampled_from(CartonMovement.Kind.values),
)
operations = st.lists(st.one_of(dropoff_op, dropoff_op, dropoff_op, void_op, reuse_op), min_size=1, max_size=30)


def _run_operations(ops) -> None:
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    cities = [CityFactory(), CityFactory()]
    stations = [StationFactory(city=cities[c]) for c in STATION_CITIES]
    staff = StaffUserFactory()
    for station in stations:
        StationStaffFactory(user=staff, station=station)
    members = [MemberFactory() for _ in range(MEMBERS)]
    dropoff_ids = []
    for n, op in enumerate(ops):
        if op[0] == "dropoff":
            _kind, m, s, cartons, occurred_at = op
            result = record_dropoff(
                station=stations[s],
                member_code=members[m].code,
                cartons=cartons,
                staff=staff,
                idempotency_key=f"op-{n}",
                occurred_at=occurred_at,
            )
            dropoff_ids.append(result.dropoff.pk)
        elif op[0] == "void" and dropoff_ids:
            # Refused when voided before, or when its cartons already went out again.
            with contextlib.suppress(errors.AlreadyVoided, errors.NotEnoughCartons):
                void_dropoff(dropoff_id=dropoff_ids[op[1] % len(dropoff_ids)], staff=staff, reason="logged in error")
        elif op[0] == "reuse":
            _kind, s, cartons, occurred_at, kind = op
            with contextlib.suppress(errors.NotEnoughCartons):  # more than on hand
                record_carton_movement(
                    station=stations[s],
                    kind=kind,
                    cartons=cartons,
                    staff=staff,
                    idempotency_key=f"op-{n}",
                    occurred_at=occurred_at,
                )


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
@example(
    ops=[
        # One member at three stations of the first city on the same day, one at 23:59:59.
        ("dropoff", 0, 0, 3, TIMES[2]),
        ("dropoff", 0, 1, 4, TIMES[1]),
        ("dropoff", 0, 2, 5, TIMES[0]),
        ("dropoff", 1, 0, 6, TIMES[2]),
        # 00:00:00 in Shanghai belongs to the next day.
        ("dropoff", 1, 3, 7, TIMES[4]),
        ("dropoff", 2, 3, 25, TIMES[4]),
        ("void", 3),
        ("reuse", 0, 2, TIMES[3], "reused"),
        ("reuse", 3, 5, TIMES[5], "baled"),
    ]
)
def test_daily_totals_equal_a_plain_sql_ground_truth(ops):
    """After any mix of drop-offs (members at several stations, times either side of the
    Shanghai midnight at 16:00 UTC), voids and carton movements, every station and city row of
    aggregate_day() equals a GROUP BY over the source tables for that Shanghai day: voided
    drop-offs count nowhere, a city's distinct members are counted from its drop-offs, days
    without activity get no rows, and aggregating again changes nothing."""
    try:
        with example_transaction():  # the services' durable transactions are savepoints inside it
            _run_operations(ops)
            for day in DAYS:
                aggregate_day(day=day)
            for day in DAYS:
                assert_totals_match_ground_truth(day)
            assert not DailyStationTotal.objects.filter(day__in=[DAYS[0], DAYS[-1]]).exists()
            assert not DailyCityTotal.objects.filter(day__in=[DAYS[0], DAYS[-1]]).exists()
            before = [table_snapshot(day) for day in DAYS]
            for day in DAYS:
                aggregate_day(day=day)
            assert [table_snapshot(day) for day in DAYS] == before
            raise Rollback
    except Rollback:
        pass


# --- Fixed scenarios ----------------------------------------------------------------------


@pytest.fixture
def desk(db):
    """Two stations of one city and one of another, a staff user at all three, three members."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    hangzhou, ningbo = CityFactory(), CityFactory()
    stations = [StationFactory(city=hangzhou), StationFactory(city=hangzhou), StationFactory(city=ningbo)]
    staff = StaffUserFactory()
    for station in stations:
        StationStaffFactory(user=staff, station=station)
    return stations, staff, [MemberFactory() for _ in range(3)]


def _drop(stations, staff, member, station: int, cartons: int, at: datetime, key: str) -> DropOff:
    return record_dropoff(
        station=stations[station],
        member_code=member.code,
        cartons=cartons,
        staff=staff,
        idempotency_key=key,
        occurred_at=at,
    ).dropoff


def test_one_member_at_two_stations_counts_once_in_the_city(desk):
    """A member who recycles at two stations of a city is one member at each station and one
    (not two) in the city; 15:59:59 UTC counts on the Shanghai day, 16:00:00 UTC on the next."""
    stations, staff, (alice, bob, _carol) = desk
    _drop(stations, staff, alice, 0, 3, TIMES[2], "a")  # 23:59:59 on 1 March
    _drop(stations, staff, alice, 1, 4, TIMES[1], "b")
    _drop(stations, staff, bob, 1, 2, TIMES[0], "c")  # 00:00:00 on 1 March
    _drop(stations, staff, bob, 2, 5, TIMES[4], "d")  # 00:00:00 on 2 March

    result = aggregate_day(day=FIRST_DAY)

    assert (result.stations, result.cities) == (2, 1)
    first, second = (DailyStationTotal.objects.get(day=FIRST_DAY, station=s) for s in stations[:2])
    assert (first.cartons, first.dropoffs, first.members, first.points_issued) == (3, 1, 1, 30)
    assert (second.cartons, second.dropoffs, second.members, second.points_issued) == (6, 2, 2, 60)
    city = DailyCityTotal.objects.get(day=FIRST_DAY)
    assert (city.city_id, city.stations, city.cartons, city.dropoffs, city.members) == (
        stations[0].city_id,
        2,
        9,
        3,
        2,
    )
    assert city.co2e_kg == Decimal("7.787")  # 9 cartons x 0.25 kg x 3.461 kg CO2e/kg = 7.78725
    assert not DailyStationTotal.objects.filter(day=FIRST_DAY, station=stations[2]).exists()
    assert_totals_match_ground_truth(FIRST_DAY)


def test_rerunning_a_day_overwrites_its_rows_without_duplicating(desk):
    """A second run writes the same rows (only computed_at differs) and no extra ones."""
    stations, staff, (alice, bob, _carol) = desk
    _drop(stations, staff, alice, 0, 3, TIMES[1], "a")
    _drop(stations, staff, bob, 2, 4, TIMES[1], "b")
    aggregate_day(day=FIRST_DAY)
    first_run = table_snapshot(FIRST_DAY)
    computed_at = DailyStationTotal.objects.get(day=FIRST_DAY, station=stations[0]).computed_at

    aggregate_day(day=FIRST_DAY)

    assert table_snapshot(FIRST_DAY) == first_run
    assert DailyStationTotal.objects.filter(day=FIRST_DAY).count() == 2
    assert DailyCityTotal.objects.filter(day=FIRST_DAY).count() == 2
    assert DailyStationTotal.objects.get(day=FIRST_DAY, station=stations[0]).computed_at >= computed_at


def test_a_recompute_drops_the_rows_of_a_day_whose_dropoffs_were_all_voided(desk):
    """Once every drop-off of a day is voided, recomputing the day leaves no rows for it."""
    stations, staff, (alice, bob, _carol) = desk
    dropoffs = [_drop(stations, staff, alice, 0, 3, TIMES[1], "a"), _drop(stations, staff, bob, 2, 4, TIMES[2], "b")]
    aggregate_day(day=FIRST_DAY)
    assert DailyStationTotal.objects.filter(day=FIRST_DAY).count() == 2

    for dropoff in dropoffs:
        void_dropoff(dropoff_id=dropoff.pk, staff=staff, reason="wrong member")
    result = aggregate_day(day=FIRST_DAY)

    assert (result.stations, result.cities) == (0, 0)
    assert not DailyStationTotal.objects.filter(day=FIRST_DAY).exists()
    assert not DailyCityTotal.objects.filter(day=FIRST_DAY).exists()


def test_a_day_without_activity_has_no_rows(desk):
    """A day with no drop-offs, spending or reuse gets no station or city rows."""
    stations, staff, (alice, _bob, _carol) = desk
    _drop(stations, staff, alice, 0, 3, TIMES[1], "a")

    result = aggregate_day(day=SECOND_DAY)

    assert (result.stations, result.cities) == (0, 0)
    assert not DailyStationTotal.objects.exists()
    assert not DailyCityTotal.objects.exists()


def test_points_redeemed_and_donated_count_at_their_station_unless_reversed(desk):
    """Redemptions count at the pickup station and donations at the member's home station on
    the day they were posted; a cancelled reservation (its transfer reversed) counts nowhere.
    A station with spending but no drop-offs still gets a row (and does not count as a
    station with drop-offs in its city)."""
    stations, staff, (alice, bob, _carol) = desk
    today = timezone.localdate()
    _drop(stations, staff, alice, 0, 20, timezone.now(), "a")  # 200 points, home station 0
    _drop(stations, staff, bob, 1, 10, timezone.now(), "b")  # 100 points, home station 1
    reward = RewardFactory(points_cost=20)
    StationStockFactory(station=stations[2], reward=reward, quantity=10)
    StationStockFactory(station=stations[0], reward=reward, quantity=10)
    kept = reserve_reward(member=alice, reward=reward, station=stations[2], quantity=2, idempotency_key="r1")
    cancelled = reserve_reward(member=bob, reward=reward, station=stations[0], quantity=1, idempotency_key="r2")
    cancel_redemption(redemption_id=cancelled.redemption.pk, member=bob)
    campaign = DonationCampaignFactory(points_per_notebook=50)
    donate(member=alice, campaign=campaign, notebooks=1, idempotency_key="d1")
    donate(member=bob, campaign=campaign, notebooks=1, idempotency_key="d2")
    assert kept.redemption.station_id == stations[2].pk

    aggregate_day(day=today)

    rows = {
        row.station_id: (row.points_issued, row.points_redeemed, row.points_donated, row.dropoffs)
        for row in DailyStationTotal.objects.filter(day=today)
    }
    assert rows == {
        stations[0].pk: (200, 0, 50, 1),  # bob's cancelled redemption there counts nowhere
        stations[1].pk: (100, 0, 50, 1),
        stations[2].pk: (0, 40, 0, 0),
    }
    ningbo = DailyCityTotal.objects.get(day=today, city=stations[2].city)
    assert (ningbo.stations, ningbo.points_redeemed, ningbo.dropoffs, ningbo.members) == (0, 40, 0, 0)
    assert_totals_match_ground_truth(today)


def test_spending_transfers_without_their_rows_count_nowhere(desk):
    """Points redeemed and donated count where the redemption or donation row says; a bare
    spending transfer posted with the ledger functions (no row: the audit names it) counts at no
    station, and neither do earnings or reversals."""
    stations, staff, (alice, _bob, _carol) = desk
    today = timezone.localdate()
    _drop(stations, staff, alice, 0, 20, timezone.now(), "a")  # 200 points
    reward_account = Account.objects.create(kind=Account.Kind.REWARD, name="Tote bag")
    member_account = Account.objects.get(member=alice)
    with transaction.atomic():
        locked = lock_accounts(member_account, reward_account)
        for n, (kind, amount) in enumerate([("redemption", 30), ("donation", 20)]):
            post_transfer(
                debit=locked[member_account.pk],
                credit=locked[reward_account.pk],
                amount=amount,
                kind=kind,
                idempotency_key=f"spend-{n}",
            )

    aggregate_day(day=today)

    row = DailyStationTotal.objects.get(day=today, station=stations[0])
    assert (row.points_redeemed, row.points_donated, row.points_issued, row.cartons) == (0, 0, 200, 20)
    assert not DailyStationTotal.objects.filter(day=today, station=stations[1]).exists()
    assert_totals_match_ground_truth(today)


def test_the_ground_truth_catches_a_wrong_row(desk):
    """The comparison is not vacuous: a station row that counted a voided drop-off (what a
    missing void filter would write), or a city row that summed its stations' members, fails."""
    stations, staff, (alice, bob, _carol) = desk
    _drop(stations, staff, alice, 0, 3, TIMES[1], "a")
    _drop(stations, staff, alice, 1, 3, TIMES[1], "b")
    voided = _drop(stations, staff, bob, 0, 4, TIMES[1], "c")
    void_dropoff(dropoff_id=voided.pk, staff=staff, reason="wrong member")
    aggregate_day(day=FIRST_DAY)
    assert_totals_match_ground_truth(FIRST_DAY)

    DailyStationTotal.objects.filter(day=FIRST_DAY, station=stations[0]).update(cartons=7, dropoffs=2, members=2)
    with pytest.raises(AssertionError):
        assert_totals_match_ground_truth(FIRST_DAY)

    aggregate_day(day=FIRST_DAY)
    DailyCityTotal.objects.filter(day=FIRST_DAY).update(members=2)  # alice at two stations, summed
    with pytest.raises(AssertionError):
        assert_totals_match_ground_truth(FIRST_DAY)


# --- Concurrency (PostgreSQL) ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_for_the_same_day_give_a_single_runs_rows():
    """Two threads that aggregate the same day at the same moment both succeed (they take turns
    on the day's advisory lock) and leave exactly the rows one run writes."""
    cities = [CityFactory(), CityFactory()]
    stations = [StationFactory(city=cities[n % 2]) for n in range(6)]
    members = [MemberFactory() for _ in range(5)]
    for n in range(60):
        DropOffFactory(
            station=stations[n % 6],
            member=members[n % 5],
            cartons=1 + n % 7,
            occurred_at=TIMES[(n // 6) % len(TIMES)],
        )
    aggregate_day(day=FIRST_DAY)
    single_run = table_snapshot(FIRST_DAY)
    assert len(single_run) == 6 + 2

    barrier = threading.Barrier(2)
    failures = []

    def run():
        try:
            barrier.wait(timeout=10)
            aggregate_day(day=FIRST_DAY)
        except Exception as error:  # reported to the main thread
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert not any(thread.is_alive() for thread in threads)
    assert table_snapshot(FIRST_DAY) == single_run
    assert DailyStationTotal.objects.filter(day=FIRST_DAY).count() == 6
    assert DailyCityTotal.objects.filter(day=FIRST_DAY).count() == 2


def test_the_daily_total_figures_are_every_figure_column_of_both_models():
    """DAILY_TOTAL_FIGURES names every counted column, in column order: nothing else lists them."""
    keys = {"id", "day", "station", "city", "stations", "computed_at"}
    for model in (DailyStationTotal, DailyCityTotal):
        assert [f.name for f in model._meta.concrete_fields if f.name not in keys] == list(DAILY_TOTAL_FIGURES)
