"""The simulate_campaign command at small scale, on whatever database the suite runs on.

Small-scale tolerance: the national cartons of each day are calibration targets rounded to
whole cartons, and reuse is limited by what each (tiny) station holds that day, so at 1/2000
of the campaign the figures can drift by a few percent where at full scale they are within
a fraction of one; the tests allow 5% and the command's own acceptance at scale 1.0 is 5%.
The station figure does not scale below 315/130,000 (every city keeps a station) and is
reported as such, not compared.
"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import translation

from ledger.audit import ledger_violations
from ledger.models import Account, Transfer
from recycling.models import DAILY_TOTAL_FIGURES, CartonMovement, DailyCityTotal, DropOff, Member, RecyclingCampaign
from rewards.models import Donation, Redemption, StationStock
from simulator.calibration import calibration_figures
from stations.models import City, Station

SCALE = 0.0005

pytestmark = pytest.mark.django_db

# Tables compared between runs; computed_at (when daily totals were computed) is left out.
SNAPSHOT = {
    "stations_city": "*",
    "stations_station": "*",
    "auth_user": "id, username, date_joined, is_staff",
    "recycling_member": "*",
    "recycling_account": "*",
    "recycling_dropoff": "*",
    "recycling_transfer": "*",
    "recycling_cartonmovement": "*",
    "recycling_cartoninventory": "*",
    "rewards_redemption": "*",
    "rewards_donation": "*",
    "rewards_stationstock": "*",
    "recycling_dailystationtotal": ", ".join(["day", "station_id", "city_id", *DAILY_TOTAL_FIGURES]),
    "recycling_dailycitytotal": ", ".join(["day", "city_id", "stations", *DAILY_TOTAL_FIGURES]),
}


def simulate(**options) -> str:
    out = StringIO()
    call_command("simulate_campaign", scale=SCALE, no_progress=True, stdout=out, **options)
    return out.getvalue()


def snapshot() -> dict[str, list[tuple]]:
    with connection.cursor() as cursor:
        tables = {}
        for table, columns in SNAPSHOT.items():
            cursor.execute(f"SELECT {columns} FROM {table} ORDER BY 1, 2")
            tables[table] = cursor.fetchall()
    return tables


def test_a_small_campaign_keeps_the_ledger_and_reproduces_the_figures():
    """--year 2022 at 1/2000 simulates 2021 and 2022: the ledger audit passes, every city and
    station takes part, and the published figures hold (scaled back) within 5%."""
    output = simulate(year=2022, seed=42)

    assert ledger_violations() == []
    assert City.objects.count() == 315
    assert Station.objects.count() == 315  # one per city: 130,000 x 1/2000 = 65 would leave cities out
    assert DropOff.objects.filter(status=DropOff.Status.VOIDED).exists()
    assert Transfer.objects.filter(kind=Transfer.Kind.REVERSAL).exists()
    assert set(Redemption.objects.values_list("status", flat=True)) == {"collected", "cancelled", "expired"}
    assert Donation.objects.exists()
    assert CartonMovement.objects.filter(kind=CartonMovement.Kind.REUSED).exists()
    assert not Account.objects.filter(kind=Account.Kind.MEMBER, balance__lt=0).exists()
    assert not StationStock.objects.filter(quantity__lt=0).exists()
    assert DailyCityTotal.objects.values("day").distinct().count() == 40
    campaign_2022 = RecyclingCampaign.objects.get(start_day__year=2022)
    assert campaign_2022.compared_with.start_day.year == 2021
    assert campaign_2022.target_cartons == 3_000  # 6,000,000 at 1/2000, like the cartons
    compared = 0
    for figure in calibration_figures(scale=SCALE):
        assert figure.label in output
        if figure.note:
            continue
        assert abs(figure.relative_error) <= 0.05, figure
        compared += 1
    assert compared == 5


def test_the_same_seed_gives_the_same_rows():
    """Two runs with the same seed, the second after --reset, leave identical tables (ids included);
    another seed gives other rows."""
    simulate(year=2022, seed=7)
    first = snapshot()
    simulate(year=2022, seed=7, reset=True)
    assert snapshot() == first
    simulate(year=2022, seed=8, reset=True)
    assert snapshot()["recycling_dropoff"] != first["recycling_dropoff"]
    assert ledger_violations() == []


def test_reset_replaces_the_campaigns_instead_of_adding_to_them():
    """A run with --reset on a simulated database leaves one campaign of each year, not two."""
    simulate(year=2022, seed=1)
    counts = (DropOff.objects.count(), Member.objects.count(), Transfer.objects.count(), Station.objects.count())
    simulate(year=2022, seed=1, reset=True)
    assert (
        DropOff.objects.count(),
        Member.objects.count(),
        Transfer.objects.count(),
        Station.objects.count(),
    ) == counts
    assert RecyclingCampaign.objects.count() == 2
    assert ledger_violations() == []


def test_2021_alone_then_2022_compares_with_it():
    """--year 2021 simulates 2021 only; a later --year 2022 adds 2022 and finds +50% on it."""
    simulate(year=2021, seed=3)
    assert not DropOff.objects.filter(occurred_at__year=2022).exists()
    growth = next(f for f in calibration_figures(scale=SCALE) if "2021" in f.label)
    assert growth.simulated is None  # no 2022 yet

    simulate(year=2022, seed=3)
    growth = next(f for f in calibration_figures(scale=SCALE) if "2021" in f.label)
    assert abs(growth.relative_error) <= 0.05
    assert ledger_violations() == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scale": 0}, "scale must be between"),
        ({"scale": -1}, "scale must be between"),
        ({"scale": 1000}, "scale must be between"),
        ({"year": 2020}, "no 2020 campaign"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(options, message):
    """A scale out of range or an unknown year is a CommandError naming the problem; no row is written."""
    with translation.override("en"), pytest.raises(CommandError, match=message):
        call_command("simulate_campaign", **{"scale": SCALE, "no_progress": True, **options})
    assert not City.objects.exists()
    assert not Station.objects.exists()
    assert not DropOff.objects.exists()


def test_a_database_holding_the_campaign_is_refused_without_reset():
    """Running again without --reset is refused with a hint, and changes nothing."""
    simulate(year=2022, seed=5)
    before = snapshot()
    with pytest.raises(CommandError, match="--reset"):
        simulate(year=2022, seed=6)
    assert snapshot() == before


def test_the_simulator_prices_under_the_rules_weekly_and_monthly_caps():
    """A rule with a weekly and a monthly cap in force: the simulated drop-offs are priced with
    them (recycling.pricing.price_dropoff, as the service does), so no member-week earns more
    than the weekly cap nor member-month more than the monthly one, and the ledger audit, which
    recomputes every price, passes."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from recycling.models import EarningRule

    EarningRule.objects.create(
        points_per_carton=10,
        daily_carton_cap=5,
        weekly_carton_cap=7,
        monthly_carton_cap=9,
        valid_from=datetime(2021, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")),
    )
    simulate(year=2022, seed=7)

    assert ledger_violations() == []
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT MAX(cartons) FROM (
                   SELECT SUM(earning_cartons) AS cartons FROM recycling_dropoff WHERE status = 'accepted'
                   GROUP BY member_id, date_trunc('week', occurred_at AT TIME ZONE 'Asia/Shanghai')) w"""
        )
        (weekly,) = cursor.fetchone()
        cursor.execute(
            """SELECT MAX(cartons) FROM (
                   SELECT SUM(earning_cartons) AS cartons FROM recycling_dropoff WHERE status = 'accepted'
                   GROUP BY member_id, date_trunc('month', occurred_at AT TIME ZONE 'Asia/Shanghai')) m"""
        )
        (monthly,) = cursor.fetchone()
    assert weekly == 7
    assert monthly == 9
