"""Benchmark: the daily totals service on a peak day, against a plain SQL GROUP BY.

    python bench/bench_totals.py          (or `make bench`)

Needs PostgreSQL: DATABASE_URL, by default postgres://postgres@127.0.0.1:5432/greenbox_bench,
which is created and migrated if missing. The first run generates a national peak day with
set-based SQL (INSERT ... SELECT generate_series): 315 cities, 130,000 stations, 300,000
members, 400,000 accepted drop-offs on 11 November 2022 (Shanghai) plus voided ones and
quieter days either side, and a few thousand redemptions, donations (some reversed) and
carton movements. Later runs find the data and skip straight to the timings.

It then times aggregate_day() for the peak day, best of 3, twice: the first computation of the
day (its rows deleted beforehand) and a recompute after 1 in 100 stations' rows changed (what
five minutes of a peak day change; unchanged rows are not rewritten). In the same run, runs
alternating with these, it times a raw SQL GROUP BY that computes the same per-station
figures and fetches them, checks that both give the same numbers, and prints the ratios
against the target. The last line is machine-readable:
    RESULT totals_ratio=1.12 totals_first_ratio=1.31 ...
The exit status is 1 if the numbers differ or the ratio misses the target.
"""

import os
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from database import ensure_database, setup_django, step  # bench/database.py
from report import figure  # noqa: E402  (bench/report.py, beside this script)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/greenbox_bench")

PEAK_DAY = date(2022, 11, 11)
CITIES = 315
STATIONS = 130_000
MEMBERS = 300_000
PEAK_DROPOFFS = 400_000
VOIDED = 8_000
QUIET_DROPOFFS = 200_000  # on each of the days before and after the peak
REDEMPTIONS = 5_000
DONATIONS = 2_000
REVERSED = 500  # redemptions cancelled (their transfers reversed): they count nowhere
REUSED_MOVEMENTS = 5_000
BALED_MOVEMENTS = 1_000
TARGET_RATIO = 1.5
RUNS = 3
PREFIX = "BQ"  # the bench's cities and stations are BQ..., its keys bench-...


def generate() -> None:
    """Write the peak day with set-based SQL, unless an earlier run already did."""
    from django.db import connection, transaction

    from recycling.days import day_bounds
    from recycling.models import EarningRule, EmissionFactor
    from rewards.services import create_campaign, create_reward
    from stations.models import Station

    if Station.objects.filter(code__startswith=f"{PREFIX}-").count() == STATIONS:
        print("Bench data found; skipping generation.")
        return
    print("Generating the peak day (set-based SQL)...")
    factor = EmissionFactor.objects.earliest("valid_from")
    start, _end = day_bounds(PEAK_DAY)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")  # the same data on every machine
        rule = EarningRule.objects.create(
            points_per_carton=10, daily_carton_cap=20, valid_from=start.replace(year=2000)
        )
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
            " is_active, date_joined) VALUES ('!', false, 'bench-staff', '', '', '', true, true, now())"
            " RETURNING id"
        )
        staff_id = cursor.fetchone()[0]
        reward = create_reward(name="Bench reward", name_zh="基准奖品", points_cost=20)
        campaign = create_campaign(
            title="Bench campaign",
            title_zh="基准捐赠",
            beneficiary="Bench school",
            points_per_notebook=20,
            target_notebooks=1,
            starts_at=start.replace(year=2000),
            ends_at=start.replace(year=2100),
        )
        params = {
            "prefix": PREFIX,
            "cities": CITIES,
            "stations": STATIONS,
            "members": MEMBERS,
            "staff": staff_id,
            "rule": rule.pk,
            "factor": factor.pk,
            "reward": reward.pk,
            "reward_account": reward.account_id,
            "campaign": campaign.pk,
            "campaign_account": campaign.account_id,
            "start": start,
        }
        step(
            "cities",
            cursor,
            "INSERT INTO stations_city (code, name, name_zh, province)"
            " SELECT %(prefix)s || translate(lpad(n::text, 3, '0'), '0123456789', 'ABCDEFGHIJ'),"
            "        'Bench city ' || n, '城市' || n, 'Bench' FROM generate_series(1, %(cities)s) n",
            params,
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_city ON COMMIT DROP AS"
            " SELECT row_number() OVER (ORDER BY id) - 1 AS n, id FROM stations_city"
            " WHERE code LIKE %(prefix)s || '%%'",
            params,
        )
        # Cities differ in size, as they do: a city's share of the stations grows with its number.
        step(
            "stations",
            cursor,
            "INSERT INTO stations_station (code, name, city_id, address, opening_hours, is_active)"
            " SELECT %(prefix)s || '-' || lpad(x.n::text, 6, '0'), 'Bench station ' || x.n, c.id, x.n || ' Bench Road',"
            "        '08:00-21:00', true"
            " FROM (SELECT n, floor(%(cities)s * sqrt(random()))::int AS cn FROM generate_series(1, %(stations)s) n) x"
            " JOIN bench_city c ON c.n = x.cn",
            params,
        )
        step(
            "users",
            cursor,
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
            " is_active, date_joined)"
            " SELECT '!', false, 'bench-member-' || n, '', '', '', false, true, now()"
            " FROM generate_series(1, %(members)s) n",
            params,
        )
        step(
            "accounts",
            cursor,
            "INSERT INTO recycling_account (kind, name, balance, balance_must_not_go_negative, created_at)"
            " SELECT 'member', u.username, 0, true, now() FROM auth_user u WHERE u.username LIKE 'bench-member-%%'",
            params,
        )
        step(
            "members",
            cursor,
            "INSERT INTO recycling_member (user_id, mobile, code, joined_at, account_id)"
            " SELECT u.id, '13' || lpad(substr(u.username, 14), 9, '0'),"
            "        %(prefix)s || translate(lpad(substr(u.username, 14), 14, '0'), '0123456789', 'ABCDEFGHJK'),"
            "        now(), a.id"
            " FROM auth_user u JOIN recycling_account a ON a.kind = 'member' AND a.name = u.username"
            " WHERE u.username LIKE 'bench-member-%%'",
            params,
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_station ON COMMIT DROP AS"
            " SELECT row_number() OVER (ORDER BY id) - 1 AS n, id FROM stations_station"
            " WHERE code LIKE %(prefix)s || '-%%';"
            "CREATE TEMP TABLE bench_member ON COMMIT DROP AS"
            " SELECT row_number() OVER (ORDER BY m.id) - 1 AS n, m.id, m.account_id"
            " FROM recycling_member m WHERE m.code LIKE %(prefix)s || '%%';"
            "CREATE INDEX ON bench_station (n); CREATE INDEX ON bench_member (n); ANALYZE bench_station, bench_member",
            params,
        )
        accepted = "'accepted', '', NULL, NULL"
        voided_by_staff = "'voided', 'bench', %(staff)s, x.at + interval '1 hour'"
        for label, count, day_offset, voided in [
            ("accepted drop-offs on the peak day", PEAK_DROPOFFS, 0, False),
            ("voided drop-offs on the peak day", VOIDED, 0, True),
            ("drop-offs the day before", QUIET_DROPOFFS, -1, False),
            ("drop-offs the day after", QUIET_DROPOFFS, 1, False),
        ]:
            step(
                label,
                cursor,
                f"""
                INSERT INTO recycling_dropoff
                    (station_id, member_id, cartons, earning_cartons, points, rule_id, emission_factor_id,
                     logged_by_id, occurred_at, recorded_at, status, void_reason,
                     voided_by_id, voided_at)
                SELECT s.id, m.id, x.cartons, x.cartons, x.cartons * 10, %(rule)s, %(factor)s, %(staff)s,
                       x.at, x.at,
                       {voided_by_staff if voided else accepted}
                FROM (
                    SELECT g,
                           floor(random() * %(stations)s)::int AS sn,
                           floor(random() * %(members)s)::int AS mn,
                           1 + floor(random() * random() * 12)::int AS cartons,
                           %(start)s + interval '1 day' * ({day_offset} + random()) AS at
                    FROM generate_series(1, {count}) g
                ) x
                JOIN bench_station s ON s.n = x.sn
                JOIN bench_member m ON m.n = x.mn
                """,
                params,
            )
        # Redemptions (collected at a random station) and donations (at a random home station),
        # each with its transfer; the rows say where they count, the transfers know no station.
        picked = """
            picked AS MATERIALIZED (
                SELECT g, floor(random() * %(stations)s)::int AS sn, floor(random() * %(members)s)::int AS mn,
                       1 + floor(random() * 5)::int AS quantity, %(start)s + interval '1 day' * random() AS at
                FROM generate_series(1, {count}) g
            ), posted AS (
                INSERT INTO recycling_transfer (debit_account_id, credit_account_id, amount, kind, idempotency_key,
                                                created_at)
                SELECT m.account_id, %({account})s, 20 * p.quantity, '{kind}', 'bench-{kind}-' || p.g, p.at
                FROM picked p JOIN bench_member m ON m.n = p.mn
                RETURNING id, idempotency_key
            ), spent AS (
                SELECT p.*, t.id AS transfer_id, m.id AS member_id, s.id AS station_id
                FROM picked p
                JOIN posted t ON t.idempotency_key = 'bench-{kind}-' || p.g
                JOIN bench_member m ON m.n = p.mn
                JOIN bench_station s ON s.n = p.sn
            )
        """
        step(
            "redemptions",
            cursor,
            "WITH "
            + picked.format(count=REDEMPTIONS, account="reward_account", kind="redemption")
            + """
            INSERT INTO rewards_redemption (member_id, reward_id, station_id, quantity, points, status, pickup_code,
                                            transfer_id, reserved_at, expires_at, collected_at, collected_by_id)
            SELECT member_id, %(reward)s, station_id, quantity, 20 * quantity, 'collected', '000000', transfer_id,
                   at, at + interval '7 days', at + interval '1 hour', %(staff)s
            FROM spent
            """,
            params,
        )
        step(
            "donations",
            cursor,
            "WITH "
            + picked.format(count=DONATIONS, account="campaign_account", kind="donation")
            + """
            INSERT INTO rewards_donation
                (member_id, campaign_id, notebooks, points, transfer_id, station_id, created_at)
            SELECT member_id, %(campaign)s, quantity, 20 * quantity, transfer_id, station_id, at FROM spent
            """,
            params,
        )
        step(
            "reversed redemptions",
            cursor,
            f"""
            WITH chosen AS (
                SELECT r.id, t.id AS transfer_id, t.debit_account_id, t.credit_account_id, t.amount, t.created_at,
                       t.idempotency_key
                FROM rewards_redemption r JOIN recycling_transfer t ON t.id = r.transfer_id
                WHERE t.idempotency_key LIKE 'bench-%%'
                ORDER BY r.id LIMIT {REVERSED}
            ), refunds AS (
                INSERT INTO recycling_transfer (debit_account_id, credit_account_id, amount, kind, idempotency_key,
                                                created_at, reverses_id)
                SELECT credit_account_id, debit_account_id, amount, 'reversal', idempotency_key || ':reversal',
                       created_at + interval '1 hour', transfer_id
                FROM chosen
                RETURNING id, reverses_id, created_at
            )
            UPDATE rewards_redemption r
            SET status = 'cancelled', collected_at = NULL, collected_by_id = NULL, ended_at = f.created_at,
                refund_transfer_id = f.id
            FROM refunds f WHERE r.transfer_id = f.reverses_id
            """,
            params,
        )
        for kind, count in [("reused", REUSED_MOVEMENTS), ("baled", BALED_MOVEMENTS)]:
            step(
                f"carton movements ({kind})",
                cursor,
                f"""
                INSERT INTO recycling_cartonmovement (station_id, kind, cartons, recorded_by_id, occurred_at,
                                                      idempotency_key)
                SELECT s.id, '{kind}', 1 + floor(random() * 10)::int, %(staff)s,
                       %(start)s + interval '1 day' * random(), 'bench-{kind}-' || x.g
                FROM (SELECT g, floor(random() * %(stations)s)::int AS sn FROM generate_series(1, {count}) g) x
                JOIN bench_station s ON s.n = x.sn
                """,
                params,
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# The same per-station figures as the service, by the plainest query: one GROUP BY per source
# table over the day's [start, end), joined on the station.
REFERENCE_SQL = """
SELECT s.id, s.city_id,
       COALESCE(d.cartons, 0), COALESCE(d.dropoffs, 0), COALESCE(d.members, 0), COALESCE(d.points, 0),
       COALESCE(t.redeemed, 0), COALESCE(t.donated, 0), COALESCE(m.reused, 0), ROUND(COALESCE(d.co2e, 0), 3)
FROM stations_station s
LEFT JOIN (
    SELECT d.station_id, SUM(d.cartons) AS cartons, COUNT(*) AS dropoffs, COUNT(DISTINCT d.member_id) AS members,
           SUM(d.points) AS points, SUM(d.cartons * f.kg_board_per_carton * f.kg_co2e_per_kg) AS co2e
    FROM recycling_dropoff d JOIN recycling_emissionfactor f ON f.id = d.emission_factor_id
    WHERE d.status = 'accepted' AND d.occurred_at >= %(start)s AND d.occurred_at < %(end)s
    GROUP BY d.station_id
) d ON d.station_id = s.id
LEFT JOIN (
    SELECT x.station_id,
           SUM(t.amount) FILTER (WHERE t.kind = 'redemption') AS redeemed,
           SUM(t.amount) FILTER (WHERE t.kind = 'donation') AS donated
    FROM (SELECT station_id, transfer_id FROM rewards_redemption
          UNION ALL SELECT station_id, transfer_id FROM rewards_donation) x
    JOIN recycling_transfer t ON t.id = x.transfer_id
    WHERE x.station_id IS NOT NULL AND t.created_at >= %(start)s AND t.created_at < %(end)s
      AND NOT EXISTS (SELECT 1 FROM recycling_transfer r WHERE r.reverses_id = t.id)
    GROUP BY x.station_id
) t ON t.station_id = s.id
LEFT JOIN (
    SELECT station_id, SUM(cartons) AS reused FROM recycling_cartonmovement
    WHERE kind = 'reused' AND occurred_at >= %(start)s AND occurred_at < %(end)s
    GROUP BY station_id
) m ON m.station_id = s.id
WHERE d.station_id IS NOT NULL OR t.station_id IS NOT NULL OR m.station_id IS NOT NULL
"""

# The city rows, by the same plain means: the city's distinct members and exact kg CO2e come from
# its drop-offs (a member may recycle at several of its stations), the rest from its stations'.
CITY_REFERENCE_SQL = """
SELECT st.city_id,
       COUNT(*) FILTER (WHERE st.dropoffs > 0), SUM(st.cartons), SUM(st.dropoffs), COALESCE(MAX(cm.members), 0),
       SUM(st.points), SUM(st.redeemed), SUM(st.donated), SUM(st.reused), ROUND(COALESCE(MAX(cm.co2e), 0), 3)
FROM (
    SELECT s.city_id, COALESCE(d.cartons, 0) AS cartons, COALESCE(d.dropoffs, 0) AS dropoffs,
           COALESCE(d.points, 0) AS points, COALESCE(t.redeemed, 0) AS redeemed,
           COALESCE(t.donated, 0) AS donated, COALESCE(m.reused, 0) AS reused
    FROM stations_station s
    LEFT JOIN (
        SELECT station_id, SUM(cartons) AS cartons, COUNT(*) AS dropoffs, SUM(points) AS points
        FROM recycling_dropoff
        WHERE status = 'accepted' AND occurred_at >= %(start)s AND occurred_at < %(end)s
        GROUP BY station_id
    ) d ON d.station_id = s.id
    LEFT JOIN (
        SELECT x.station_id,
               SUM(t.amount) FILTER (WHERE t.kind = 'redemption') AS redeemed,
               SUM(t.amount) FILTER (WHERE t.kind = 'donation') AS donated
        FROM (SELECT station_id, transfer_id FROM rewards_redemption
              UNION ALL SELECT station_id, transfer_id FROM rewards_donation) x
        JOIN recycling_transfer t ON t.id = x.transfer_id
        WHERE x.station_id IS NOT NULL AND t.created_at >= %(start)s AND t.created_at < %(end)s
          AND NOT EXISTS (SELECT 1 FROM recycling_transfer r WHERE r.reverses_id = t.id)
        GROUP BY x.station_id
    ) t ON t.station_id = s.id
    LEFT JOIN (
        SELECT station_id, SUM(cartons) AS reused FROM recycling_cartonmovement
        WHERE kind = 'reused' AND occurred_at >= %(start)s AND occurred_at < %(end)s
        GROUP BY station_id
    ) m ON m.station_id = s.id
    WHERE d.station_id IS NOT NULL OR t.station_id IS NOT NULL OR m.station_id IS NOT NULL
) st
LEFT JOIN (
    SELECT s.city_id, COUNT(DISTINCT d.member_id) AS members,
           SUM(d.cartons * f.kg_board_per_carton * f.kg_co2e_per_kg) AS co2e
    FROM recycling_dropoff d
    JOIN stations_station s ON s.id = d.station_id
    JOIN recycling_emissionfactor f ON f.id = d.emission_factor_id
    WHERE d.status = 'accepted' AND d.occurred_at >= %(start)s AND d.occurred_at < %(end)s
    GROUP BY s.city_id
) cm ON cm.city_id = st.city_id
GROUP BY st.city_id
"""


def timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main() -> int:
    ensure_database()
    setup_django()
    generate()

    from django.db import connection

    from recycling.days import day_bounds
    from recycling.models import DAILY_TOTAL_FIGURES, DailyCityTotal, DailyStationTotal, DropOff
    from recycling.totals import aggregate_day

    start, end = day_bounds(PEAK_DAY)
    accepted = DropOff.objects.filter(status="accepted", occurred_at__gte=start, occurred_at__lt=end).count()
    print(f"Peak day {PEAK_DAY}: {accepted:,} accepted drop-offs")

    def reference():
        """The day's station rows and city rows, as the service writes them, by plain GROUP BYs."""
        with connection.cursor() as cursor:
            cursor.execute(REFERENCE_SQL, {"start": start, "end": end})
            stations = cursor.fetchall()
            cursor.execute(CITY_REFERENCE_SQL, {"start": start, "end": end})
            return stations, cursor.fetchall()

    def vacuum():
        # What autovacuum does between runs in production (it may be off on a test server).
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE recycling_dailystationtotal, recycling_dailycitytotal")

    def empty_day():
        DailyCityTotal.objects.filter(day=PEAK_DAY).delete()
        DailyStationTotal.objects.filter(day=PEAK_DAY).delete()
        vacuum()

    def change_one_percent():
        # About what five minutes of a peak day change: 1 in 100 stations' figures.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE recycling_dailystationtotal SET cartons = 0 WHERE day = %s AND station_id %% 100 = 7",
                [PEAK_DAY],
            )
        vacuum()

    # Service and reference runs alternate, so that load from elsewhere on the machine weighs on
    # both alike; each figure is the best of RUNS.
    first_times, recompute_times, reference_times = [], [], []
    for _ in range(RUNS):
        empty_day()
        first_times.append(timed(lambda: aggregate_day(day=PEAK_DAY))[0])
        reference_times.append(timed(reference)[0])
        change_one_percent()
        seconds, totals = timed(lambda: aggregate_day(day=PEAK_DAY))
        recompute_times.append(seconds)
        seconds, (reference_rows, reference_city_rows) = timed(reference)
        reference_times.append(seconds)
    first_time, recompute_time, reference_time = min(first_times), min(recompute_times), min(reference_times)

    station_figures = ["station_id", "city_id", *DAILY_TOTAL_FIGURES]
    city_figures = ["city_id", "stations", *DAILY_TOTAL_FIGURES]
    written = sorted(DailyStationTotal.objects.filter(day=PEAK_DAY).values_list(*station_figures))
    written_cities = sorted(DailyCityTotal.objects.filter(day=PEAK_DAY).values_list(*city_figures))
    same = written == sorted(reference_rows) and written_cities == sorted(reference_city_rows)
    rows = [
        ("first computation of the day", first_time),
        ("recompute, 1% of stations changed", recompute_time),
    ]
    print()
    print(
        f"reference: raw SQL GROUP BYs giving the same station and city rows, fetched: {reference_time:.3f} s "
        f"(best of {2 * RUNS})"
    )
    print(
        f"{f'aggregate_day() (best of {RUNS})':<38} {'figure':>8} {'reference':>10} {'ratio':>6} {'target':>7}  result"
    )
    passes = same
    for label, seconds in rows:
        ratio = seconds / reference_time
        passes = passes and ratio <= TARGET_RATIO
        figure(
            f"aggregate_day, peak day: {label}",
            seconds,
            "s",
            reference=reference_time,
            target=f"ratio <= {TARGET_RATIO}",
            passed=same and ratio <= TARGET_RATIO,
        )
        print(
            f"{label:<38} {seconds:>7.3f}s {reference_time:>9.3f}s {ratio:>6.2f} {'<= ' + str(TARGET_RATIO):>7}  "
            f"{'pass' if ratio <= TARGET_RATIO else 'FAIL'}"
        )
    print(
        f"station rows: {totals.stations:,} written, {len(reference_rows):,} by the reference, "
        f"{'same numbers' if same else 'NUMBERS DIFFER'}; city rows: {totals.cities:,} written, "
        f"{len(reference_city_rows):,} by the reference"
    )
    print(
        f"RESULT totals_ratio={recompute_time / reference_time:.2f} "
        f"totals_first_ratio={first_time / reference_time:.2f} totals_seconds={recompute_time:.3f} "
        f"totals_first_seconds={first_time:.3f} reference_seconds={reference_time:.3f} same_numbers={same}"
    )
    return 0 if passes else 1


if __name__ == "__main__":
    sys.exit(main())
