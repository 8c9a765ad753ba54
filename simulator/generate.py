"""The campaign simulator: a national Green Recycling Box campaign, day by day, in the product's tables.

Phases of `simulate()`, all in one transaction (a failure leaves the database as it was):

1. reset (with --reset): empty the ledger and the activity tables (see reset_simulation()).
2. network: the 315 cities (simulator/cities.py), round(130,000 x scale) stations spread by
   city population (at least one per city), a staff login and an issuance account per station.
   Cities and stations that already exist (same code) are reused, e.g. the demo's HZ-00001.
3. catalog: the demo catalog (rewards.demo.load_demo_catalog) dated for the festivals, created
   if missing; an earning rule (10 points a carton, 20 cartons a day) if none
   is in force; the RecyclingCampaign rows of both years (2022 compared with 2021), their
   published targets scaled like the cartons.
4. per campaign year, day by day over 1-20 November: drop-offs whose national cartons follow
   the calibrated festival curve (simulator/calibration.py), spread over stations by weight;
   each station's first drop-off falls on an "opening day", so every station and city takes
   part at any scale. Members join at their first drop-off and come back to the same station
   (new members: 45% of drop-offs, so a member averages about two visits). Cartons per drop-off
   follow a geometric law (mean about 2.9, at most 50); the earning rule and its caps (daily,
   and weekly and monthly when the rule sets them) apply as in recycling.services.record_dropoff.
   A few drop-offs (0.3%) are voided soon after, with the reversal of their points. With
   plant_anomalies, the PLANTS of the year come first out of their day's cartons (see Plant). After a
   drop-off a member may reserve eggs or a tote bag (collected 85%, cancelled 5%, expired 10%,
   the last two refunded by a reversal) or donate notebooks, never spending points they do not
   have at that moment (refunds count only once they happened). Consumers sending parcels take
   recycled cartons (one carton, one parcel, one CartonMovement "reused") from the stations'
   stock of the day, and each station bales what it has left the morning after the campaign.
5. load: the rows, spooled to disk while generating (simulator/bulk.py), go into the tables in
   foreign-key order; accounts are written with their final balances, and rows that existed
   before (issuance, reward and campaign accounts, inventories, stock) get one set-based update.
6. totals: recycling.totals.aggregate_day for each day of the window, then
   recycling.totals.aggregate_campaign for the campaign(s) covering those days.

Randomness comes from random.Random seeded with (seed, year) and (seed, "network") and is drawn
in a fixed order, so the same seed on an emptied database gives the same rows with the same ids.
"""

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils.translation import gettext as _
from tqdm import tqdm

from ledger.models import Account
from recycling.days import SHANGHAI, day_bounds, month_start, week_start
from recycling.models import (
    MEMBER_CODE_ALPHABET,
    MEMBER_CODE_LENGTH,
    CartonInventory,
    DropOff,
    EarningRule,
    RecyclingCampaign,
)
from recycling.pricing import Earned, earning_transfer_key, price_dropoff, reversal_transfer_key, rule_in_force
from recycling.rules import create_recycling_campaign, update_recycling_campaign
from recycling.selectors import emission_factor_in_force
from recycling.totals import aggregate_campaign, aggregate_day, campaigns_containing
from rewards.demo import DemoCatalog, load_demo_catalog
from rewards.models import Reward, StationStock
from stations.models import City, Station, StationStaff

from . import bulk
from .calibration import CAMPAIGNS, DAY_WEIGHTS, STATIONS_AT_FULL_SCALE, CampaignYear, minimum_scale
from .cities import simulated_cities

MAXIMUM_SCALE = 2.0

SIMULATED_USER_PREFIX = "sim-"  # logins the simulator creates (staff: sim-staff-..., members: sim-m...)
SIMULATED_MEMBER_PREFIX = "sim-m"  # --reset removes these logins with their members
MOBILE_PREFIX = "170"  # simulated members' numbers: 170 + the member id on 8 digits

NEW_MEMBER_SHARE = 0.45  # of drop-offs: the member's first
VOID_RATE = 0.003
VOID_REASON = "重复登记"  # "logged twice": stored data, in the staff's language
# Cartons per drop-off: 1 + a geometric number (p = 0.42), at most 50; mean about 2.4 + a tail
# of people who bring a pile (2% bring 5 to 50 cartons): mean about 2.9.
_GEOMETRIC = [0.42 * 0.58 ** (k - 1) for k in range(1, 51)]
CARTON_WEIGHTS = [0.98 * g + (0.02 / 46 if k >= 5 else 0) for k, g in enumerate(_GEOMETRIC, start=1)]
CARTON_VALUES = list(range(1, 51))
# Hours of drop-offs (stations open 08:00-21:00): busiest after work.
HOUR_WEIGHTS = {8: 3, 9: 4, 10: 5, 11: 5, 12: 6, 13: 5, 14: 5, 15: 5, 16: 6, 17: 8, 18: 10, 19: 10, 20: 7}
STATION_ACTIVITY_SIGMA = 0.5  # log-normal spread of stations' activity within a city

# Spending after a drop-off, and what becomes of a reservation.
EGGS_SHARE, TOTE_BAG_SHARE, DONATION_SHARE = 0.12, 0.06, 0.04
COLLECTED, CANCELLED = 0.85, 0.05  # the rest expire
EGGS_STOCK, TOTE_BAG_STOCK = 60, 30  # per station when the simulator first stocks it
DEFAULT_POINTS_PER_CARTON, DEFAULT_DAILY_CAP = 10, 20

CATALOG_FROM = datetime(2021, 11, 1, tzinfo=SHANGHAI)
CATALOG_UNTIL = datetime(2022, 12, 1, tzinfo=SHANGHAI)
CATALOG_TARGET_NOTEBOOKS = 100_000

DAY = 86_400
HOUR = 3_600


# Planted anomalies (simulate(plant_anomalies=True), as the demo does), so that the ops anomaly
# page has flags to show at a small scale. The dashboards judge a city's stations on a day only
# when at least 8 of them have cartons that day (MIN_STATIONS in dashboards/anomalies.py, which
# this app cannot import: tests/simulator checks that the demo's plants are flagged), and at
# 1/1000 every city has one station. So each planted city gets at least PLANTED_CITY_STATIONS
# stations, and on its planted day every one of them one ordinary drop-off of a carton or two,
# beside the plant at its second station (the first may be a demo login's). The planted
# drop-offs count towards the day's national cartons, which stay the calibrated figure.
PLANTED_CITY_STATIONS = 12
LATE_HOURS = 30  # a drop-off synced by a device that was offline over a day


@dataclass(frozen=True)
class Plant:
    """One planted anomaly of a campaign year, in the city of rank `city_rank` (0: the largest) on
    day `day_index` of the window: at its second station `pile` drop-offs of `pile_cartons`
    cartons each (the station-day and its staff login far above the city's); its first
    station's ordinary drop-off recorded LATE_HOURS late; with `collector`, a member whose 18
    cartons at the second station and one at each of two more reach the daily cap at three."""

    year: int
    day_index: int
    city_rank: int
    pile: int
    pile_cartons: int
    collector: bool = False


PLANTS = (
    # The campaign's last day, which the anomaly page shows first; and the day before.
    Plant(year=2022, day_index=19, city_rank=0, pile=5, pile_cartons=7, collector=True),
    Plant(year=2022, day_index=18, city_rank=1, pile=6, pile_cartons=7),
)
COLLECTOR_CARTONS = (18, 1, 1)  # at the plant's station, then at the city's third and fourth

# Tables the simulator writes explicit ids into (locked while it runs, sequences advanced after).
ID_TABLES = [
    "auth_user",
    "stations_station",
    "stations_stationstaff",
    "recycling_member",
    "recycling_account",
    "recycling_dropoff",
    "recycling_transfer",
    "recycling_cartonmovement",
    "recycling_cartoninventory",
    "rewards_redemption",
    "rewards_donation",
    "rewards_stationstock",
]
ACTIVITY_TABLES = [
    "idempotency_idempotencykey",  # the keys' stored results name the rows deleted below
    "events_deliveryattempt",  # the business events of the activity deleted below, and their deliveries
    "events_delivery",
    "events_event",
    "events_notice",
    "rewards_donationallocation",
    "rewards_notebookdelivery",
    "rewards_notebookpurchase",
    "rewards_donation",
    "rewards_redemption",
    "recycling_transfer",
    "recycling_dropoff",
    "recycling_cartonmovement",
    "recycling_cartoninventory",
    "recycling_dailystationtotal",
    "recycling_dailycitytotal",
    "recycling_campaignstationtotal",
]


class SimulationError(Exception):
    """Bad input or a database that cannot take the simulation; nothing has been written."""


@dataclass(frozen=True)
class SimulationResult:
    years: list[int]
    rows: dict[str, int]  # rows loaded per table


def years_to_simulate(year: int) -> list[int]:
    """--year 2021: 2021. --year 2022: 2022, after 2021 unless the database already holds 2021
    (2022 is compared with it)."""
    if year not in CAMPAIGNS:
        raise SimulationError(
            _("There is no %(year)s campaign to simulate; choose %(years)s.")
            % {"year": year, "years": ", ".join(str(y) for y in sorted(CAMPAIGNS))}
        )
    earlier = CAMPAIGNS[year].compared_with
    if earlier is not None and not campaign_in_database(earlier):
        return [earlier, year]
    return [year]


def campaign_in_database(year: int) -> bool:
    campaign = CAMPAIGNS[year]
    start, _end = day_bounds(campaign.start_day)
    _start, end = day_bounds(campaign.end_day)
    return DropOff.objects.filter(occurred_at__gte=start, occurred_at__lt=end).exists()


def check_scale(scale: float) -> None:
    if not minimum_scale() <= scale <= MAXIMUM_SCALE:
        raise SimulationError(
            _("The scale must be between %(min)s and %(max)s (1.0 is the national campaign); got %(scale)s.")
            % {"min": minimum_scale(), "max": MAXIMUM_SCALE, "scale": scale}
        )


def simulate(
    *, year: int, scale: float, seed: int, reset: bool = False, progress: bool = True, plant_anomalies: bool = False
) -> SimulationResult:
    """Simulate the campaign(s) of `year` at `scale` into the database, in one transaction;
    with plant_anomalies, the PLANTS of the years simulated too.

    Raises SimulationError, with nothing written, for a scale out of range, an unknown year, or
    a database that already holds a campaign to simulate (unless reset).
    """
    check_scale(scale)
    years_to_simulate(year)  # validates the year before anything is written
    rows: dict[str, int] = {}
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Check each bulk statement's foreign keys when it ends, rather than queueing
            # millions of deferred checks until the commit.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        if reset:
            reset_simulation()
        years = years_to_simulate(year)
        for simulated in years:
            if campaign_in_database(simulated):
                raise SimulationError(
                    _("The database already holds drop-offs of the %(year)s campaign; run again with --reset.")
                    % {"year": simulated}
                )
        bulk.lock_tables(ID_TABLES)
        first_start = CAMPAIGNS[years[0]].start_day
        plants = [plant for plant in PLANTS if plant.year in years] if plant_anomalies else []
        network = build_network(
            scale=scale,
            seed=seed,
            created=datetime.combine(first_start, time(), SHANGHAI),
            dense_city_ranks={plant.city_rank for plant in plants},
        )
        rows.update(network.rows)
        catalog = ensure_catalog()
        ensure_earning_rule(network=network, years=years)
        ensure_recycling_campaigns(scale=scale)
        for simulated in years:
            run = CampaignRun(
                campaign=CAMPAIGNS[simulated],
                scale=scale,
                seed=seed,
                network=network,
                catalog=catalog,
                progress=progress,
                plants=[plant for plant in plants if plant.year == simulated],
            )
            for table, count in run.run().items():
                rows[table] = rows.get(table, 0) + count
        bulk.advance_sequences(ID_TABLES)
    return SimulationResult(years=years, rows=rows)


def reset_simulation() -> None:
    """Empty what a simulation writes, so that it can run again: the whole ledger and the
    activity tables (transfers are append-only: they can only be emptied all at once, with
    TRUNCATE), simulated members and their logins, the simulator's stock rows, and
    every balance (no transfers left, so all are 0). Cities, stations, staff, the catalog,
    earning rules and RecyclingCampaign rows stay, and the next run reuses them."""
    member_users = f"SELECT id FROM auth_user WHERE username LIKE '{SIMULATED_MEMBER_PREFIX}%%'"
    members = f"SELECT id FROM recycling_member WHERE user_id IN ({member_users})"
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(ACTIVITY_TABLES)} RESTART IDENTITY")
        # Plain SQL: the ORM's delete() would load a million members to collect related rows.
        cursor.execute(
            f"WITH gone AS (DELETE FROM recycling_member WHERE id IN ({members}) RETURNING account_id)"
            " DELETE FROM recycling_account WHERE id IN (SELECT account_id FROM gone)"
        )
        cursor.execute(f"DELETE FROM auth_user WHERE id IN ({member_users})")
    StationStock.objects.filter(reward__in=_catalog_rewards()).delete()
    Account.objects.exclude(balance=0).update(balance=0)


# --- Network: cities, stations, staff, issuance accounts ----------------------------------


@dataclass
class Network:
    city_ids: list[int]
    station_ids: list[int]
    station_city: list[int]  # index into city_ids
    staff: list[int]  # user id logging each station's cartons
    issuance: list[int]  # issuance account id of each station
    cumulative_weights: list[float]  # to pick a station for a drop-off
    rows: dict[str, int] = field(default_factory=dict)


def allocate_stations(total: int, weights: list[int]) -> list[int]:
    """Split `total` stations over cities in proportion to weight, at least one each (largest remainders)."""
    whole = sum(weights)
    quotas = [total * w / whole for w in weights]
    counts = [max(1, int(q)) for q in quotas]
    missing = total - sum(counts)
    if missing > 0:
        order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - int(quotas[i])), i))
        for i in order[:missing]:
            counts[i] += 1
    while missing < 0:  # the floor of one station per city overshot: take from the most over-served
        i = min((i for i in range(len(weights)) if counts[i] > 1), key=lambda i: (quotas[i] - counts[i], i))
        counts[i] -= 1
        missing += 1
    return counts


def upsert_cities() -> list[City]:
    """The 315 cities, largest first: existing ones (same division code, else same code) brought
    up to date (names from the administrative divisions, division code, coordinates, population),
    missing ones created."""
    data = simulated_cities()
    by_division = {
        city.division_code: city for city in City.objects.filter(division_code__in=[c.division_code for c in data])
    }
    by_code = {city.code: city for city in City.objects.filter(code__in=[c.code for c in data])}
    result, new = [], []
    for item in data:
        city = by_division.get(item.division_code) or by_code.get(item.code)
        if city is None:
            city = City(
                code=item.code,
                division_code=item.division_code,
                name=item.name,
                name_zh=item.name_zh,
                province=item.province,
                latitude=item.latitude,
                longitude=item.longitude,
                population=item.population,
            )
            new.append(city)
        else:
            fields = {"division_code": item.division_code, "name": item.name, "name_zh": item.name_zh}
            fields["province"] = item.province
            if city.population is None or city.latitude is None:
                fields.update(latitude=item.latitude, longitude=item.longitude, population=item.population)
            changed = [name for name, value in fields.items() if getattr(city, name) != value]
            if changed:
                for name in changed:
                    setattr(city, name, fields[name])
                city.save(update_fields=changed)
        result.append(city)
    City.objects.bulk_create(new)
    if new and new[0].pk is None:  # databases that return no ids from bulk inserts
        ids = dict(City.objects.filter(code__in=[c.code for c in new]).values_list("code", "id"))
        for city in new:
            city.pk = ids[city.code]
    return result


def build_network(*, scale: float, seed: int, created: datetime, dense_city_ranks: Collection[int] = ()) -> Network:
    """The cities and their stations; the cities of rank `dense_city_ranks` (0: the largest)
    with at least PLANTED_CITY_STATIONS stations, for planted anomalies."""
    rng = random.Random(f"{seed}:network")
    cities = upsert_cities()
    counts = allocate_stations(max(round(STATIONS_AT_FULL_SCALE * scale), len(cities)), [c.population for c in cities])
    for rank in dense_city_ranks:
        counts[rank] = max(counts[rank], PLANTED_CITY_STATIONS)
    existing_stations = dict(Station.objects.values_list("code", "id"))
    existing_staff = dict(
        StationStaff.objects.values("station_id").annotate(user=Min("user_id")).values_list("station_id", "user")
    )
    existing_issuance = dict(Station.objects.values_list("id", "issuance_account"))
    stations = bulk.Spool(
        "stations_station",
        [
            "id",
            "code",
            "name",
            "city_id",
            "address",
            "latitude",
            "longitude",
            "opening_hours",
            "is_active",
            "issuance_account_id",
        ],
    )
    issuance_of_existing: dict[int, int] = {}  # stations that exist without an issuance account yet
    users = bulk.Spool("auth_user", USER_COLUMNS)
    staff_rows = bulk.Spool("stations_stationstaff", ["id", "user_id", "station_id", "role"])
    accounts = bulk.Spool("recycling_account", ACCOUNT_COLUMNS)
    next_station, next_user = bulk.next_id("stations_station"), bulk.next_id("auth_user")
    next_staff, next_account = bulk.next_id("stations_stationstaff"), bulk.next_id("recycling_account")
    when = _utc_text(created)
    network = Network([c.pk for c in cities], [], [], [], [], [])
    weights = []
    total_population = sum(c.population for c in cities)
    for city_index, (city, count) in enumerate(zip(cities, counts, strict=True)):
        activity = [rng.lognormvariate(0, STATION_ACTIVITY_SIGMA) for _n in range(count)]
        city_weight = city.population / total_population / sum(activity)
        for number in range(1, count + 1):
            code = f"{city.code}-{number:05d}"
            station_id = existing_stations.get(code)
            latitude = float(city.latitude) + rng.gauss(0, 0.04)
            longitude = float(city.longitude) + rng.gauss(0, 0.05)
            issuance = existing_issuance.get(station_id)
            if issuance is None:
                issuance, next_account = next_account, next_account + 1
                accounts.add(issuance, Account.Kind.ISSUANCE, code, 0, 0, when)
                if station_id is not None:
                    issuance_of_existing[station_id] = issuance
            if station_id is None:
                station_id, next_station = next_station, next_station + 1
                stations.add(
                    station_id,
                    code,
                    f"菜鸟驿站 {city.name_zh}{number}号店",
                    city.pk,
                    f"{city.province}{city.name_zh}市 绿色回收路 {number} 号",
                    f"{latitude:.6f}",
                    f"{longitude:.6f}",
                    "08:00-21:00",
                    1,
                    issuance,
                )
            staff = existing_staff.get(station_id)
            if staff is None:
                staff, next_user = next_user, next_user + 1
                users.add(staff, "!", 0, f"{SIMULATED_USER_PREFIX}staff-{code.lower()}", "", "", "", 1, 1, when)
                staff_rows.add(next_staff, staff, station_id, StationStaff.Role.MANAGER)
                next_staff += 1
            network.station_ids.append(station_id)
            network.station_city.append(city_index)
            network.staff.append(staff)
            network.issuance.append(issuance)
            weights.append(city_weight * activity[number - 1])
    network.cumulative_weights = list(accumulate(weights))
    for spool in (accounts, users, stations, staff_rows):
        network.rows[spool.table] = spool.load()
        spool.close()
    if issuance_of_existing:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE stations_station s SET issuance_account_id = v.account"
                " FROM unnest(%s::bigint[], %s::bigint[]) AS v(station, account) WHERE s.id = v.station",
                [list(issuance_of_existing), list(issuance_of_existing.values())],
            )
    return network


# --- Catalog, earning rule, campaign records ----------------------------------------------


def _catalog_rewards():
    return Reward.objects.filter(kind=Reward.Kind.GOODS, active_from=CATALOG_FROM, active_until=CATALOG_UNTIL)


def ensure_catalog() -> DemoCatalog:
    """The demo catalog for the festivals (available 1 Nov 2021 to 1 Dec 2022), created if missing.
    The simulator stocks the stations itself, in bulk."""
    return load_demo_catalog(
        available_from=CATALOG_FROM,
        rewards_until=CATALOG_UNTIL,
        campaign_until=CATALOG_UNTIL,
        target_notebooks=CATALOG_TARGET_NOTEBOOKS,
    )


def _rule_resolver() -> Callable[[int, datetime], EarningRule | None]:
    """recycling.pricing.rule_in_force over every rule, read once."""
    rules = list(EarningRule.objects.all())
    return lambda city_id, at: rule_in_force(rules, city_id=city_id, at=at)


def ensure_earning_rule(*, network: Network, years: list[int]) -> None:
    """A national rule of 10 points a carton (20 cartons a day) from 1 January 2021, if some city
    has no rule in force on some campaign day."""
    resolve = _rule_resolver()
    noon = [datetime.combine(day, time(12), SHANGHAI) for year in years for day in CAMPAIGNS[year].days]
    if all(resolve(city_id, at) for city_id in network.city_ids for at in noon):
        return
    EarningRule.objects.create(
        points_per_carton=DEFAULT_POINTS_PER_CARTON,
        daily_carton_cap=DEFAULT_DAILY_CAP,
        valid_from=datetime(2021, 1, 1, tzinfo=SHANGHAI),
    )


def ensure_recycling_campaigns(*, scale: float) -> None:
    """The RecyclingCampaign of each year (found by its window), 2022 compared with 2021, with the
    published target scaled like the simulated cartons (round(target x scale)): the dashboards'
    share of the target and target line then read as the real campaign's at any scale. An
    existing campaign's target is set to the scaled one (it describes the activity simulated
    now); both through recycling.rules, as the admin's campaign page does, audited."""
    records = {}
    for year in sorted(CAMPAIGNS):
        campaign = CAMPAIGNS[year]
        target = max(1, round(campaign.target_cartons * scale))
        record = RecyclingCampaign.objects.filter(start_day=campaign.start_day, end_day=campaign.end_day).first()
        if record is None:
            record = create_recycling_campaign(
                name=campaign.name,
                start_day=campaign.start_day,
                end_day=campaign.end_day,
                target_cartons=target,
                compared_with=records.get(campaign.compared_with),
            )
        elif record.target_cartons != target:
            record = update_recycling_campaign(campaign=record, target_cartons=target)
        records[year] = record


# --- One campaign year ---------------------------------------------------------------------

USER_COLUMNS = [
    "id",
    "password",
    "is_superuser",
    "username",
    "first_name",
    "last_name",
    "email",
    "is_staff",
    "is_active",
    "date_joined",
]
ACCOUNT_COLUMNS = ["id", "kind", "name", "balance", "balance_must_not_go_negative", "created_at"]


def _utc_text(moment: datetime) -> str:
    """A datetime as naive UTC text, which PostgreSQL reads in UTC (the session time zone is UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class Clock:
    """Seconds since the campaign's first Shanghai midnight, formatted fast as naive UTC text."""

    def __init__(self, start_day: date, days: int = 40):
        self.start = datetime.combine(start_day, time(), SHANGHAI)
        start_utc = self.start.astimezone(UTC)
        self._offset = start_utc.hour * HOUR + start_utc.minute * 60
        self._dates = [(start_utc.date() + timedelta(days=n)).isoformat() for n in range(days)]
        self._times = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]

    def text(self, seconds: int) -> str:
        day, second = divmod(seconds + self._offset, DAY)
        return f"{self._dates[day]} {self._times[second]}"

    def at(self, seconds: int) -> datetime:
        return self.start + timedelta(seconds=seconds)


class CampaignRun:
    """Generates one campaign year into spools, then loads them and aggregates the days."""

    def __init__(
        self,
        *,
        campaign: CampaignYear,
        scale: float,
        seed: int,
        network: Network,
        catalog: DemoCatalog,
        progress: bool,
        plants: Collection[Plant] = (),
    ):
        self.campaign = campaign
        self.plants = {plant.day_index: plant for plant in plants}
        self.scale = scale
        self.network = network
        self.catalog = catalog
        self.progress = progress
        self.rng = random.Random(f"{seed}:{campaign.year}")
        self.clock = Clock(campaign.start_day)
        self.key = f"sim-{campaign.year}"
        self.spools = {
            "users": bulk.Spool("auth_user", USER_COLUMNS),
            "members": bulk.Spool(
                "recycling_member", ["id", "user_id", "mobile", "code", "joined_at", "home_station_id", "account_id"]
            ),
            "accounts": bulk.Spool("recycling_account", ACCOUNT_COLUMNS),
            "dropoffs": bulk.Spool(
                "recycling_dropoff",
                [
                    "id",
                    "station_id",
                    "member_id",
                    "cartons",
                    "earning_cartons",
                    "points",
                    "rule_id",
                    "emission_factor_id",
                    "logged_by_id",
                    "occurred_at",
                    "recorded_at",
                    "status",
                    "void_reason",
                    "voided_by_id",
                    "voided_at",
                    "earning_transfer_id",
                    "reversal_transfer_id",
                ],
            ),
            "transfers": bulk.Spool(
                "recycling_transfer",
                [
                    "id",
                    "debit_account_id",
                    "credit_account_id",
                    "amount",
                    "kind",
                    "idempotency_key",
                    "created_at",
                    "reverses_id",
                ],
            ),
            "redemptions": bulk.Spool(
                "rewards_redemption",
                [
                    "id",
                    "member_id",
                    "reward_id",
                    "station_id",
                    "quantity",
                    "points",
                    "status",
                    "pickup_code",
                    "transfer_id",
                    "refund_transfer_id",
                    "reserved_at",
                    "expires_at",
                    "collected_at",
                    "collected_by_id",
                    "ended_at",
                ],
            ),
            "donations": bulk.Spool(
                "rewards_donation",
                ["id", "member_id", "campaign_id", "notebooks", "points", "transfer_id", "station_id", "created_at"],
            ),
            "movements": bulk.Spool(
                "recycling_cartonmovement",
                ["id", "station_id", "kind", "cartons", "recorded_by_id", "occurred_at"],
            ),
            "inventories": bulk.Spool("recycling_cartoninventory", ["id", "station_id", "on_hand"]),
            "stock": bulk.Spool("rewards_stationstock", ["id", "station_id", "reward_id", "quantity", "updated_at"]),
        }

    def run(self) -> dict[str, int]:
        try:
            self.generate()
            rows = self.load()
            self.aggregate()
        finally:
            for spool in self.spools.values():
                spool.close()
        return rows

    # Generation ----------------------------------------------------------------------------

    def generate(self) -> None:
        network, campaign, rng = self.network, self.campaign, self.rng
        stations = len(network.station_ids)
        self.first = {
            "user": bulk.next_id("auth_user"),
            "member": bulk.next_id("recycling_member"),
            "account": bulk.next_id("recycling_account"),
        }
        self.ids = {
            name: bulk.next_id(table)
            for name, table in [
                ("dropoff", "recycling_dropoff"),
                ("transfer", "recycling_transfer"),
                ("redemption", "rewards_redemption"),
                ("donation", "rewards_donation"),
                ("movement", "recycling_cartonmovement"),
                ("inventory", "recycling_cartoninventory"),
                ("stock", "rewards_stationstock"),
            ]
        }
        # Per member (by index from self.first): balance spendable now, join time, refunds to come.
        self.balance: list[int] = []
        self.joined: list[int] = []
        self.refunds: dict[int, list[tuple[int, int]]] = {}
        self.earned_week: dict[tuple[int, date], int] = {}  # (member, Monday): earning cartons
        self.earned_month: dict[tuple[int, date], int] = {}  # (member, first of the month)
        self.pools: list[list[int]] = [[] for _s in range(stations)]
        self.issued = [0] * stations  # points issued per station (its issuance account goes down by them)
        self.spent = {
            self.catalog.eggs.account_id: 0,
            self.catalog.tote_bag.account_id: 0,
            self.catalog.campaign.account_id: 0,
        }
        self.used = [False] * stations
        self._load_inventories_and_stock()

        day_cartons = campaign.day_cartons(self.scale)
        openings: list[list[int]] = [[] for _d in day_cartons]
        for station, day in enumerate(rng.choices(range(len(day_cartons)), weights=DAY_WEIGHTS, k=stations)):
            openings[day].append(station)
        resolve = _rule_resolver()
        days = tqdm(
            list(enumerate(campaign.days)),
            desc=_("%(year)s: drop-offs, rewards, reuse") % {"year": campaign.year},
            unit=_("day"),
            disable=not self.progress,
        )
        for index, day in days:
            noon = datetime.combine(day, time(12), SHANGHAI)
            factor = emission_factor_in_force(at=noon)
            if factor is None:
                raise SimulationError(_("No emission factor is in force on %(day)s.") % {"day": day})
            rules = [resolve(city_id, noon) for city_id in network.city_ids]
            self._day(index, day_cartons[index], openings[index], rules, factor.pk, on=day)
        self._bale(len(day_cartons))
        self._finish_accounts_and_stock()

    def _load_inventories_and_stock(self) -> None:
        index = {station_id: i for i, station_id in enumerate(self.network.station_ids)}
        stations = len(index)
        self.inventory = [0] * stations
        self.inventory_before: dict[int, tuple[int, int]] = {}  # station index -> (row id, on hand)
        # Whole tables rather than IN (130,000 ids): one scan beats a huge parameter list.
        for pk, station_id, on_hand in CartonInventory.objects.values_list("pk", "station_id", "on_hand"):
            if station_id not in index:
                continue
            self.inventory[index[station_id]] = on_hand
            self.inventory_before[index[station_id]] = (pk, on_hand)
        rewards = [self.catalog.eggs, self.catalog.tote_bag]
        default = {self.catalog.eggs.pk: EGGS_STOCK, self.catalog.tote_bag.pk: TOTE_BAG_STOCK}
        self.stock_before: dict[tuple[int, int], int] = {}  # (station index, reward id) -> row id
        self.available = {reward.pk: [default[reward.pk]] * stations for reward in rewards}
        self.collected = {reward.pk: [0] * stations for reward in rewards}
        for pk, station_id, reward_id, quantity in StationStock.objects.filter(reward__in=rewards).values_list(
            "pk", "station_id", "reward_id", "quantity"
        ):
            if station_id not in index:
                continue
            self.available[reward_id][index[station_id]] = quantity
            self.stock_before[(index[station_id], reward_id)] = pk

    def _planted(self, plant: Plant) -> list[tuple[int, int, bool, int]]:
        """The drop-offs of a plant (see Plant), as _day's drops: the last item says who (1: the
        collector), or that it is recorded late (2); 0 is an ordinary drop-off."""
        rng, network = self.rng, self.network
        city_stations = [s for s, city in enumerate(network.station_city) if city == plant.city_rank]
        drops = [(s, rng.choice((1, 1, 2)), False, 0) for s in city_stations]
        drops[0] = (*drops[0][:3], 2)  # the first station's ordinary drop-off is synced late
        pile = city_stations[1]
        drops += [(pile, plant.pile_cartons, False, 0)] * plant.pile
        if plant.collector:
            at = (pile, *city_stations[2:4])
            drops += [(s, size, False, 1) for s, size in zip(at, COLLECTOR_CARTONS, strict=True)]
        return drops

    def _day(self, day: int, cartons: int, openings: list[int], rules: list, factor_id: int, *, on: date) -> None:
        rng, network = self.rng, self.network
        stations = len(network.station_ids)
        # (station index, cartons, voided, planted: 0, or 1 for the planted collector, 2 for a late record)
        drops: list[tuple[int, int, bool, int]] = []
        budget = cartons
        if day in self.plants:
            drops += self._planted(self.plants[day])
            budget -= sum(size for _s, size, _v, _p in drops)
        for station, size in zip(
            openings, rng.choices(CARTON_VALUES, weights=CARTON_WEIGHTS, k=len(openings)), strict=True
        ):
            drops.append((station, size, False, 0))
            budget -= size
        carton_cum = list(accumulate(CARTON_WEIGHTS))
        while budget > 0:
            batch = max(16, int(budget / 2.5))
            picked = rng.choices(range(stations), cum_weights=network.cumulative_weights, k=batch)
            sizes = rng.choices(CARTON_VALUES, cum_weights=carton_cum, k=batch)
            for station, size in zip(picked, sizes, strict=True):
                size = min(size, budget)
                drops.append((station, size, False, 0))
                budget -= size
                if not budget:
                    break
        voided = int(len(drops) * VOID_RATE + rng.random())  # rounded at random: some even on small days
        for station, size in zip(
            rng.choices(range(stations), cum_weights=network.cumulative_weights, k=voided),
            rng.choices(CARTON_VALUES, cum_weights=carton_cum, k=voided),
            strict=True,
        ):
            drops.append((station, size, True, 0))
        hours = list(HOUR_WEIGHTS)
        at = rng.choices(hours, weights=list(HOUR_WEIGHTS.values()), k=len(drops))
        start = day * DAY
        timed = sorted(
            (start + hour * HOUR + rng.randrange(HOUR), station, size, void, planted)
            for (station, size, void, planted), hour in zip(drops, at, strict=True)
        )
        accepted = self._dropoffs(timed, rules, factor_id, on=on)
        self._reuse(day, round(cartons * self.campaign.reuse_rate), accepted)

    def _dropoffs(self, timed, rules, factor_id: int, *, on: date) -> list[tuple[int, int, int]]:
        rng, network, clock, spools = self.rng, self.network, self.clock, self.spools
        random_, randrange = rng.random, rng.randrange
        users, members, dropoffs, transfers = (spools[n] for n in ("users", "members", "dropoffs", "transfers"))
        balance, joined, pools, refunds = self.balance, self.joined, self.pools, self.refunds
        first_user, first_member, first_account = self.first["user"], self.first["member"], self.first["account"]
        # Earning cartons per member today, and in this ISO week and month (the caps' periods).
        earned_today: dict[int, int] = {}
        earned_week, earned_month = self.earned_week, self.earned_month
        week, month = week_start(on), month_start(on)
        eggs_today: dict[int, int] = {}
        accepted = []
        dropoff_id, transfer_id = self.ids["dropoff"], self.ids["transfer"]
        rows = {"users": 0, "dropoffs": 0, "transfers": 0}
        collector = None  # the planted collector's member index, once created
        for t, s, cartons, voided, planted in timed:
            station_id = network.station_ids[s]
            staff = network.staff[s]
            pool = pools[s]
            when = clock.text(t)
            recorded = clock.text(t + LATE_HOURS * HOUR) if planted == 2 else when
            if planted == 1 and collector is not None:
                m = collector
            elif planted == 1 or not pool or random_() < NEW_MEMBER_SHARE:
                m = len(balance)
                balance.append(0)
                joined_at = t - randrange(60, 1800)
                joined.append(joined_at)
                pool.append(m)
                joined_text = clock.text(joined_at)
                code = "".join(rng.choices(MEMBER_CODE_ALPHABET, k=MEMBER_CODE_LENGTH))
                users.write(
                    f"{first_user + m}\t!\t0\t{SIMULATED_MEMBER_PREFIX}{first_member + m}\t\t\t\t0\t1\t{joined_text}\n"
                )
                members.write(
                    f"{first_member + m}\t{first_user + m}\t{MOBILE_PREFIX}{first_member + m:08d}\t"
                    f"{code}\t{joined_text}\t{station_id}\t{first_account + m}\n"
                )
                rows["users"] += 1
                if planted == 1:
                    collector = m
            else:
                m = pool[int(random_() * len(pool))]
            self.used[s] = True
            rule = rules[network.station_city[s]]
            already = earned_today.get(m, 0)
            before = Earned(day=already, week=earned_week.get((m, week), 0), month=earned_month.get((m, month), 0))
            price = price_dropoff(cartons=cartons, earned_before=before, rule=rule)
            earning, points = price.earning_cartons, price.points
            account = first_account + m
            if voided:
                voided_at = t + randrange(300, HOUR)
                links = f"{transfer_id}\t{transfer_id + 1}" if points else "\\N\t\\N"
                dropoffs.write(
                    f"{dropoff_id}\t{station_id}\t{first_member + m}\t{cartons}\t{earning}\t{points}\t"
                    f"{rule.pk}\t{factor_id}\t{staff}\t{when}\t{when}\t"
                    f"voided\t{VOID_REASON}\t{staff}\t{clock.text(voided_at)}\t{links}\n"
                )
                if points:
                    transfers.write(
                        f"{transfer_id}\t{network.issuance[s]}\t{account}\t{points}\tearning\t"
                        f"{earning_transfer_key(dropoff_id=dropoff_id)}\t{when}\t\\N\n"
                        f"{transfer_id + 1}\t{account}\t{network.issuance[s]}\t{points}\treversal\t"
                        f"{reversal_transfer_key(dropoff_id=dropoff_id)}\t{clock.text(voided_at)}\t{transfer_id}\n"
                    )
                    transfer_id += 2
                    rows["transfers"] += 2
                dropoff_id += 1
                rows["dropoffs"] += 1
                continue
            earned_today[m] = already + earning
            earned_week[(m, week)] = before.week + earning
            earned_month[(m, month)] = before.month + earning
            earning_link = transfer_id if points else "\\N"
            dropoffs.write(
                f"{dropoff_id}\t{station_id}\t{first_member + m}\t{cartons}\t{earning}\t{points}\t"
                f"{rule.pk}\t{factor_id}\t{staff}\t{when}\t{recorded}\t"
                f"accepted\t\t\\N\t\\N\t{earning_link}\t\\N\n"
            )
            if points:
                transfers.write(
                    f"{transfer_id}\t{network.issuance[s]}\t{account}\t{points}\tearning\t"
                    f"{earning_transfer_key(dropoff_id=dropoff_id)}\t{when}\t\\N\n"
                )
                transfer_id += 1
                rows["transfers"] += 1
                self.issued[s] += points
                balance[m] += points
            dropoff_id += 1
            rows["dropoffs"] += 1
            self.inventory[s] += cartons
            accepted.append((t, s, cartons))
            if m in refunds:
                due = [refund for refund in refunds[m] if refund[0] <= t]
                if due:
                    balance[m] += sum(amount for _at, amount in due)
                    refunds[m] = [refund for refund in refunds[m] if refund[0] > t]
            self.ids["dropoff"], self.ids["transfer"] = dropoff_id, transfer_id
            self._spend(t, s, m, eggs_today)
            transfer_id = self.ids["transfer"]
        self.ids["dropoff"], self.ids["transfer"] = dropoff_id, transfer_id
        for name, count in rows.items():
            spools[name].count(count)
        spools["members"].count(rows["users"])
        return accepted

    def _spend(self, t: int, s: int, m: int, eggs_today: dict[int, int]) -> None:
        """What a member does with their points right after leaving cartons."""
        random_ = self.rng.random
        eggs, tote_bag = self.catalog.eggs, self.catalog.tote_bag
        if (
            self.balance[m] >= eggs.points_cost
            and random_() < EGGS_SHARE
            and eggs_today.get(m, 0) < eggs.daily_limit_per_member
            and self.available[eggs.pk][s] > 0
        ):
            eggs_today[m] = eggs_today.get(m, 0) + 1
            self._reserve(t, s, m, eggs)
        if self.balance[m] >= tote_bag.points_cost and random_() < TOTE_BAG_SHARE and self.available[tote_bag.pk][s]:
            self._reserve(t, s, m, tote_bag)
        notebooks = self.catalog.campaign
        if self.balance[m] >= notebooks.points_per_notebook and random_() < DONATION_SHARE:
            self._donate(t, s, m, min(2, self.balance[m] // notebooks.points_per_notebook))

    def _reserve(self, t: int, s: int, m: int, reward: Reward) -> None:
        rng, clock, spools, network = self.rng, self.clock, self.spools, self.network
        reserved = t + rng.randrange(30, 900)
        expires = reserved + settings.GREENBOX_RESERVATION_EXPIRY_DAYS * DAY
        transfer_id, redemption_id = self.ids["transfer"], self.ids["redemption"]
        account = self.first["account"] + m
        member_id = self.first["member"] + m
        station_id = network.station_ids[s]
        request_key = f"{self.key}-reserve-{redemption_id}"
        cost = reward.points_cost
        reserved_text = clock.text(reserved)
        spools["transfers"].write(
            f"{transfer_id}\t{account}\t{reward.account_id}\t{cost}\tredemption\t"
            f"reserve:{request_key}\t{reserved_text}\t\\N\n"
        )
        outcome = rng.random()
        code = f"{rng.randrange(1_000_000):06d}"
        if outcome < COLLECTED:
            collected = reserved + rng.randrange(600, 2 * DAY)
            status, ended = "collected", None
            tail = f"{clock.text(collected)}\t{network.staff[s]}\t\\N"
            self.collected[reward.pk][s] += 1
            self.spent[reward.account_id] += cost
            transfers, refund = 1, "\\N"
        else:
            if outcome < COLLECTED + CANCELLED:
                status, ended = "cancelled", reserved + rng.randrange(600, 2 * DAY)
            else:
                status, ended = "expired", expires + rng.randrange(60, 600)
            tail = f"\\N\t\\N\t{clock.text(ended)}"
            spools["transfers"].write(
                f"{transfer_id + 1}\t{reward.account_id}\t{account}\t{cost}\treversal\t"
                f"redemption:{redemption_id}:reversal\t{clock.text(ended)}\t{transfer_id}\n"
            )
            self.refunds.setdefault(m, []).append((ended, cost))
            transfers, refund = 2, transfer_id + 1
        spools["redemptions"].write(
            f"{redemption_id}\t{member_id}\t{reward.pk}\t{station_id}\t1\t{cost}\t{status}\t"
            f"{code}\t{transfer_id}\t{refund}\t{reserved_text}\t{clock.text(expires)}\t{tail}\n"
        )
        for name, count in (("transfers", transfers), ("redemptions", 1)):
            spools[name].count(count)
        self.available[reward.pk][s] -= 1
        self.balance[m] -= cost
        self.ids["transfer"] += transfers
        self.ids["redemption"] += 1

    def _donate(self, t: int, s: int, m: int, notebooks: int) -> None:
        rng, clock, spools = self.rng, self.clock, self.spools
        campaign = self.catalog.campaign
        at = clock.text(t + rng.randrange(30, 900))
        transfer_id, donation_id = self.ids["transfer"], self.ids["donation"]
        member_id = self.first["member"] + m
        points = notebooks * campaign.points_per_notebook
        request_key = f"{self.key}-donate-{donation_id}"
        spools["transfers"].write(
            f"{transfer_id}\t{self.first['account'] + m}\t{campaign.account_id}\t{points}\t"
            f"donation\tdonate:{request_key}\t{at}\t\\N\n"
        )
        spools["donations"].write(
            f"{donation_id}\t{member_id}\t{campaign.pk}\t{notebooks}\t{points}\t{transfer_id}\t"
            f"{self.network.station_ids[s]}\t{at}\n"
        )
        for name in ("transfers", "donations"):
            spools[name].count(1)
        self.balance[m] -= points
        self.spent[campaign.account_id] += points
        self.ids["transfer"] += 1
        self.ids["donation"] += 1

    def _reuse(self, day: int, parcels: int, accepted: list[tuple[int, int, int]]) -> None:
        """Consumers sending parcels take one recycled carton each, from cartons left that day
        (a station gives out only what it holds)."""
        if not accepted or not parcels:
            return
        rng, clock, network, spool = self.rng, self.clock, self.network, self.spools["movements"]
        day_end = (day + 1) * DAY - 1
        movement_id = self.ids["movement"]
        written = 0
        picks = rng.choices(accepted, cum_weights=list(accumulate(c for _t, _s, c in accepted)), k=parcels)
        picks.sort()
        for t, s, _cartons in picks:
            if self.inventory[s] <= 0:
                continue
            self.inventory[s] -= 1
            at = min(t + rng.randrange(300, 4 * HOUR), day_end)
            spool.write(f"{movement_id}\t{network.station_ids[s]}\treused\t1\t{network.staff[s]}\t{clock.text(at)}\n")
            movement_id += 1
            written += 1
        spool.count(written)
        self.ids["movement"] = movement_id

    def _bale(self, days: int) -> None:
        """The morning after the campaign each station bales the cartons it still holds."""
        clock, network, spool = self.clock, self.network, self.spools["movements"]
        movement_id = self.ids["movement"]
        at = clock.text(days * DAY + 8 * HOUR)
        for s, on_hand in enumerate(self.inventory):
            while on_hand > 0:
                bale = min(on_hand, 10_000)
                spool.write(f"{movement_id}\t{network.station_ids[s]}\tbaled\t{bale}\t{network.staff[s]}\t{at}\n")
                spool.count(1)
                movement_id += 1
                on_hand -= bale
            self.inventory[s] = 0
        self.ids["movement"] = movement_id

    def _finish_accounts_and_stock(self) -> None:
        """Member accounts with their final balances (refunds still to come included); carton
        inventories and stock of stations that had none; deltas for the rows that exist."""
        clock, spools, network = self.clock, self.spools, self.network
        first_account = self.first["account"]
        accounts = spools["accounts"]
        for m, balance in enumerate(self.balance):
            final = balance + sum(amount for _at, amount in self.refunds.get(m, ()))
            accounts.write(f"{first_account + m}\tmember\t\t{final}\t1\t{clock.text(self.joined[m])}\n")
        accounts.count(len(self.balance))
        inventory_id, stock_id = self.ids["inventory"], self.ids["stock"]
        stocked_at = clock.text(0)
        for s, used in enumerate(self.used):
            if used and s not in self.inventory_before:
                spools["inventories"].add(inventory_id, network.station_ids[s], self.inventory[s])
                inventory_id += 1
            for reward in (self.catalog.eggs, self.catalog.tote_bag):
                if (s, reward.pk) not in self.stock_before:
                    initial = EGGS_STOCK if reward.pk == self.catalog.eggs.pk else TOTE_BAG_STOCK
                    spools["stock"].add(
                        stock_id, network.station_ids[s], reward.pk, initial - self.collected[reward.pk][s], stocked_at
                    )
                    stock_id += 1

    # Loading and totals ---------------------------------------------------------------------

    def load(self) -> dict[str, int]:
        order = [
            "users",
            "accounts",
            "members",
            "transfers",
            "dropoffs",
            "redemptions",
            "donations",
            "movements",
            "inventories",
            "stock",
        ]
        rows = {}
        steps = tqdm(
            order,
            desc=_("%(year)s: loading") % {"year": self.campaign.year},
            unit=_("table"),
            disable=not self.progress,
        )
        with bulk.foreign_keys_validated_once({self.spools[name].table for name in order} - {"auth_user"}):
            for name in steps:
                spool = self.spools[name]
                rows[spool.table] = rows.get(spool.table, 0) + spool.load()
        network = self.network
        issued = {network.issuance[s]: -points for s, points in enumerate(self.issued) if points}
        bulk.apply_deltas(table="recycling_account", column="balance", deltas={**issued, **self.spent})
        bulk.apply_deltas(
            table="recycling_cartoninventory",
            column="on_hand",
            deltas={pk: self.inventory[s] - on_hand for s, (pk, on_hand) in self.inventory_before.items()},
        )
        collected = {pk: -self.collected[reward_id][s] for (s, reward_id), pk in self.stock_before.items()}
        bulk.apply_deltas(table="rewards_stationstock", column="quantity", deltas=collected)
        bulk.analyze(
            [
                "auth_user",
                "recycling_member",
                "recycling_account",
                "recycling_dropoff",
                "recycling_transfer",
                "recycling_cartonmovement",
                "rewards_redemption",
                "rewards_donation",
            ]
        )
        return rows

    def aggregate(self) -> None:
        days = tqdm(
            self.campaign.days,
            desc=_("%(year)s: daily totals") % {"year": self.campaign.year},
            unit=_("day"),
            disable=not self.progress,
        )
        for day in days:
            aggregate_day(day=day)
        for campaign in campaigns_containing(first=self.campaign.days[0], last=self.campaign.days[-1]):
            aggregate_campaign(campaign=campaign)
