"""Stateful property test: the ledger against a plain Python model of it.

A hypothesis RuleBasedStateMachine records drop-offs, voids them, reserves, collects, cancels
and expires rewards, donates, restocks, lets time pass and aggregates days, at random. A model
of balances, stock, statuses and daily totals predicts every outcome: the services must refuse
exactly when the model says so (with the same error) and a refusal must change nothing. After
every step the database equals the model and recycling.audit.ledger_violations() is empty;
after an aggregation the day's station and city totals equal the model's.

Why a Django TestCase (one transaction around the test) and not a TransactionTestCase:
- each example runs inside a savepoint that teardown() rolls back, so every example starts
  from the same empty database, fast; a TransactionTestCase would have to empty the tables
  between examples, and PostgreSQL refuses DELETE of ledger transfers (append-only trigger);
- the services run in durable transactions (idempotency.services.run_idempotent), which store a
  refusal under its key in the same transaction after rolling the write back to a savepoint;
  inside the example's transaction (tests/transactions.py) they are savepoints, so the refusal
  is kept (and replayed, which the "retry" rule checks) exactly as it is in autocommit;
- transaction.on_commit hooks never run, so voids, cancellations and expiries enqueue no Celery
  recompute on the broker; the "aggregate" rule calls recycling.totals.aggregate_day itself.

Times are fixed: a model clock from 1 March 2024 (Shanghai) that only moves forward, passed as
occurred_at to record_dropoff and as now= to the rewards services, which date their transfers
by it, so points redeemed and donated count on the model's day in the daily totals.
"""

import itertools
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ledger.audit import ledger_violations
from ledger.models import Account, Transfer
from recycling import errors as ledger_errors
from recycling.days import shanghai_day
from recycling.models import DailyCityTotal, DailyStationTotal, DropOff
from recycling.selectors import emission_factor_in_force
from recycling.services import record_dropoff, void_dropoff
from recycling.totals import aggregate_day
from rewards import errors
from rewards.models import Donation, Redemption, StationStock
from rewards.services import (
    adjust_stock,
    cancel_redemption,
    collect_redemption,
    donate,
    expire_reservations,
    reserve_reward,
)
from tests.factories import (
    CityFactory,
    DonationCampaignFactory,
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    StationFactory,
    StationStaffFactory,
    StationStockFactory,
)
from tests.transactions import example_transaction

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2024, 3, 1, 9, 0, tzinfo=SHANGHAI)
POINTS_PER_CARTON = 10
DAILY_CAP = 20
POINTS_PER_NOTEBOOK = 50
EXPIRY = timedelta(days=3)  # settings.GREENBOX_RESERVATION_EXPIRY_DAYS
MEMBERS = 3
STATIONS = 2
# (cost, daily limit per member): eggs with a limit of 2 a day, a tote bag without one.
REWARDS = [(20, 2), (10, None)]
INITIAL_STOCK = {(0, 0): 3, (0, 1): 2, (1, 0): 1}  # (station, reward) -> quantity; (1, 1) has no row
OPEN = (Redemption.Status.RESERVED, Redemption.Status.COLLECTED)

index = st.integers(0, 1000)  # an index into a list of the model, taken modulo its length


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Everything an example writes is rolled back in teardown().
        self._atomic = example_transaction()  # the services' durable transactions nest in it
        self._atomic.__enter__()
        self.keys = itertools.count()
        EarningRuleFactory(points_per_carton=POINTS_PER_CARTON, daily_carton_cap=DAILY_CAP)
        factor = emission_factor_in_force(at=START)
        self.co2e_mg_per_carton = int(factor.kg_board_per_carton * factor.kg_co2e_per_kg * 1_000_000)
        self.city = CityFactory()
        desks = [StationStaffFactory(station=StationFactory(city=self.city)) for _ in range(STATIONS)]
        self.stations = [desk.station for desk in desks]
        self.staff = [desk.user for desk in desks]
        self.members = [MemberFactory() for _ in range(MEMBERS)]
        self.rewards = [RewardFactory(points_cost=cost, daily_limit_per_member=limit) for cost, limit in REWARDS]
        for (s, r), quantity in INITIAL_STOCK.items():
            StationStockFactory(station=self.stations[s], reward=self.rewards[r], quantity=quantity)
        self.campaign = DonationCampaignFactory(points_per_notebook=POINTS_PER_NOTEBOOK)

        # The model.
        self.clock = START
        self.balance = [0] * MEMBERS
        self.earned = defaultdict(int)  # (member, day) -> cartons that earned points
        self.home = [None] * MEMBERS  # station index where the member first left cartons
        self.stock = defaultdict(int, INITIAL_STOCK)  # (station, reward) -> quantity
        self.dropoffs = []  # dicts: pk, member, station, cartons, points, earning, day, status
        self.redemptions = []  # dicts: pk, member, reward, station, quantity, points, status, ...
        self.donations = []  # dicts: points, station, day
        self.reserve_requests = []  # (kwargs, outcome): outcome a redemption pk or an error class

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- Helpers -------------------------------------------------------------------------

    def key(self) -> str:
        return f"machine-{next(self.keys)}"

    def snapshot(self) -> dict:
        """What a refusal must leave as it was (the idempotency key that remembers it aside)."""
        return {
            "balances": dict(Account.objects.values_list("pk", "balance")),
            "stock": dict(StationStock.objects.values_list("pk", "quantity")),
            "transfers": Transfer.objects.count(),
            "dropoffs": list(DropOff.objects.order_by("pk").values_list("pk", "status")),
            "redemptions": list(Redemption.objects.order_by("pk").values_list("pk", "status")),
            "donations": Donation.objects.count(),
        }

    def call(self, refusal: type[Exception] | None, service, **kwargs):
        """Call the service; it must refuse with exactly `refusal` (and change nothing), or succeed."""
        if refusal is None:
            return service(**kwargs)
        before = self.snapshot()
        try:
            service(**kwargs)
        except ledger_errors.DomainError as error:
            assert error.code == refusal.code, f"expected {refusal.code}, got {error.code}: {error.message}"
        else:
            raise AssertionError(f"{service.__name__} should have refused with {refusal.code}")
        assert self.snapshot() == before, "a refusal changed something"
        return None

    # --- Rules ---------------------------------------------------------------------------

    @rule(hours=st.sampled_from([1, 5, 13, 30]))
    def time_passes(self, hours):
        self.clock += timedelta(hours=hours)

    @rule(
        member=st.integers(0, MEMBERS - 1),
        station=st.integers(0, STATIONS - 1),
        cartons=st.one_of(st.integers(1, 50), st.integers(8, 14)),
    )
    def record_dropoff(self, member, station, cartons):
        day = shanghai_day(self.clock)
        earning = max(0, min(cartons, DAILY_CAP - self.earned[member, day]))
        result = record_dropoff(
            station=self.stations[station],
            member_code=self.members[member].code,
            cartons=cartons,
            staff=self.staff[station],
            idempotency_key=self.key(),
            occurred_at=self.clock,
        )
        points = earning * POINTS_PER_CARTON
        assert (result.dropoff.earning_cartons, result.dropoff.points) == (earning, points)
        self.earned[member, day] += earning
        self.balance[member] += points
        assert result.balance == self.balance[member]
        if self.home[member] is None:
            self.home[member] = station
        self.dropoffs.append(
            {
                "pk": result.dropoff.pk,
                "member": member,
                "station": station,
                "cartons": cartons,
                "earning": earning,
                "points": points,
                "day": day,
                "status": DropOff.Status.ACCEPTED,
            }
        )

    @precondition(lambda self: self.dropoffs)
    @rule(i=index)
    def void(self, i):
        dropoff = self.dropoffs[i % len(self.dropoffs)]
        member = dropoff["member"]
        if dropoff["status"] == DropOff.Status.VOIDED:
            refusal = ledger_errors.AlreadyVoided
        elif self.balance[member] < dropoff["points"]:
            refusal = ledger_errors.InsufficientPoints  # the member spent them
        else:
            refusal = None
        self.call(
            refusal,
            void_dropoff,
            dropoff_id=dropoff["pk"],
            staff=self.staff[dropoff["station"]],
            reason="logged in error",
        )
        if refusal is None:
            dropoff["status"] = DropOff.Status.VOIDED
            self.balance[member] -= dropoff["points"]
            self.earned[member, dropoff["day"]] -= dropoff["earning"]

    @rule(
        member=st.integers(0, MEMBERS - 1),
        reward=st.integers(0, len(REWARDS) - 1),
        station=st.integers(0, STATIONS - 1),
        quantity=st.integers(1, 3),
    )
    def reserve(self, member, reward, station, quantity):
        cost, limit = REWARDS[reward]
        day = shanghai_day(self.clock)
        already = sum(
            r["quantity"]
            for r in self.redemptions
            if (r["member"], r["reward"], r["day"]) == (member, reward, day) and r["status"] in OPEN
        )
        if limit is not None and already + quantity > limit:
            refusal = errors.DailyLimitReached
        elif self.stock[station, reward] < quantity:
            refusal = errors.OutOfStock
        elif self.balance[member] < cost * quantity:
            refusal = ledger_errors.InsufficientPoints
        else:
            refusal = None
        kwargs = {
            "member": self.members[member],
            "reward": self.rewards[reward],
            "station": self.stations[station],
            "quantity": quantity,
            "idempotency_key": self.key(),
            "now": self.clock,
        }
        result = self.call(refusal, reserve_reward, **kwargs)
        if refusal is not None:
            self.reserve_requests.append((kwargs, refusal))
            return
        redemption = result.redemption
        self.balance[member] -= cost * quantity
        self.stock[station, reward] -= quantity
        assert (redemption.points, result.balance) == (cost * quantity, self.balance[member])
        self.redemptions.append(
            {
                "pk": redemption.pk,
                "member": member,
                "reward": reward,
                "station": station,
                "quantity": quantity,
                "points": cost * quantity,
                "status": Redemption.Status.RESERVED,
                "day": day,
                "expires_at": self.clock + EXPIRY,
                "pickup_code": redemption.pickup_code,
            }
        )
        self.reserve_requests.append((kwargs, redemption.pk))

    @precondition(lambda self: self.reserve_requests)
    @rule(i=index)
    def retry_reserve(self, i):
        """The same request again (a client retrying): the first outcome, and nothing changes."""
        kwargs, outcome = self.reserve_requests[i % len(self.reserve_requests)]
        if isinstance(outcome, int):
            before = self.snapshot()
            result = reserve_reward(**kwargs)
            assert (result.replayed, result.redemption.pk) == (True, outcome)
            assert self.snapshot() == before
        else:
            self.call(outcome, reserve_reward, **kwargs)  # the first refusal, even if it would pass now

    @precondition(lambda self: self.redemptions)
    @rule(i=index, right_code=st.booleans())
    def collect(self, i, right_code):
        redemption = self.redemptions[i % len(self.redemptions)]
        status = redemption["status"]
        if status == Redemption.Status.COLLECTED:
            refusal = errors.AlreadyCollected
        elif status != Redemption.Status.RESERVED or self.clock >= redemption["expires_at"]:
            refusal = errors.ReservationClosed
        elif not right_code:
            refusal = errors.WrongPickupCode
        else:
            refusal = None
        code = redemption["pickup_code"]
        self.call(
            refusal,
            collect_redemption,
            redemption_id=redemption["pk"],
            pickup_code=code if right_code else f"{(int(code) + 1) % 1_000_000:06d}",
            staff=self.staff[redemption["station"]],
            now=self.clock,
        )
        if refusal is None:
            redemption["status"] = Redemption.Status.COLLECTED

    @precondition(lambda self: self.redemptions)
    @rule(i=index, own=st.booleans())
    def cancel(self, i, own):
        redemption = self.redemptions[i % len(self.redemptions)]
        member = redemption["member"] if own else (redemption["member"] + 1) % MEMBERS
        if not own:
            refusal = errors.NotYourRedemption
        elif redemption["status"] == Redemption.Status.COLLECTED:
            refusal = errors.AlreadyCollected
        else:
            refusal = None  # cancelling a cancelled or expired one is a no-op, not a refusal
        self.call(
            refusal, cancel_redemption, redemption_id=redemption["pk"], member=self.members[member], now=self.clock
        )
        if refusal is None and redemption["status"] == Redemption.Status.RESERVED:
            self._end(redemption, Redemption.Status.CANCELLED)

    @rule(i=index)
    def expire(self, i):
        """Expire with a `now` past a reservation's deadline (or just now, when there is none)."""
        if self.redemptions:
            deadline = self.redemptions[i % len(self.redemptions)]["expires_at"]
            self.clock = max(self.clock, deadline + timedelta(minutes=1))
        due = [
            r for r in self.redemptions if r["status"] == Redemption.Status.RESERVED and r["expires_at"] <= self.clock
        ]
        assert expire_reservations(now=self.clock) == len(due)
        for redemption in due:
            self._end(redemption, Redemption.Status.EXPIRED)

    def _end(self, redemption: dict, status: str) -> None:
        redemption["status"] = status
        self.balance[redemption["member"]] += redemption["points"]
        self.stock[redemption["station"], redemption["reward"]] += redemption["quantity"]

    @rule(member=st.integers(0, MEMBERS - 1), notebooks=st.integers(1, 3))
    def donate(self, member, notebooks):
        points = notebooks * POINTS_PER_NOTEBOOK
        refusal = ledger_errors.InsufficientPoints if self.balance[member] < points else None
        result = self.call(
            refusal,
            donate,
            member=self.members[member],
            campaign=self.campaign,
            notebooks=notebooks,
            idempotency_key=self.key(),
            now=self.clock,
        )
        if refusal is None:
            self.balance[member] -= points
            assert (result.donation.points, result.balance) == (points, self.balance[member])
            self.donations.append({"points": points, "station": self.home[member], "day": shanghai_day(self.clock)})

    @rule(station=st.integers(0, STATIONS - 1), reward=st.integers(0, len(REWARDS) - 1), change=st.integers(1, 4))
    def restock(self, station, reward, change):
        stock = adjust_stock(
            station=self.stations[station], reward=self.rewards[reward], change=change, staff=self.staff[station]
        )
        self.stock[station, reward] += change
        assert stock.quantity == self.stock[station, reward]

    @rule(i=index)
    def aggregate(self, i):
        days = sorted({d["day"] for d in self.dropoffs} | {shanghai_day(self.clock)})
        day = days[i % len(days)]
        aggregate_day(day=day)
        stations = {
            self.stations.index(total.station): self._figures(total)
            for total in DailyStationTotal.objects.filter(day=day, station__in=self.stations).select_related("station")
        }
        city = [
            {**self._figures(total), "stations": total.stations}
            for total in DailyCityTotal.objects.filter(day=day, city=self.city)
        ]
        expected_stations, expected_city = self.expected_totals(day)
        assert stations == expected_stations
        assert city == expected_city

    # --- The model's daily totals --------------------------------------------------------

    @staticmethod
    def _figures(total) -> dict:
        fields = ["cartons", "dropoffs", "members", "points_issued", "points_redeemed", "points_donated"]
        return {
            **{f: getattr(total, f) for f in fields},
            "cartons_reused": total.cartons_reused,
            "co2e_kg": total.co2e_kg,
        }

    def _co2e_kg(self, cartons: int) -> Decimal:
        """Exact milligrams, rounded half up to the gram once (as recycling.totals does)."""
        return Decimal((cartons * self.co2e_mg_per_carton + 500) // 1000) / 1000

    def expected_totals(self, day) -> tuple[dict, list]:
        accepted = [d for d in self.dropoffs if d["day"] == day and d["status"] == DropOff.Status.ACCEPTED]
        redeemed = [r for r in self.redemptions if r["day"] == day and r["status"] in OPEN]
        donated = [d for d in self.donations if d["day"] == day and d["station"] is not None]
        stations = {}
        for s in range(STATIONS):
            here = [d for d in accepted if d["station"] == s]
            figures = {
                "cartons": sum(d["cartons"] for d in here),
                "dropoffs": len(here),
                "members": len({d["member"] for d in here}),
                "points_issued": sum(d["points"] for d in here),
                "points_redeemed": sum(r["points"] for r in redeemed if r["station"] == s),
                "points_donated": sum(d["points"] for d in donated if d["station"] == s),
                "cartons_reused": 0,
                "co2e_kg": self._co2e_kg(sum(d["cartons"] for d in here)),
            }
            if here or figures["points_redeemed"] or figures["points_donated"]:
                stations[s] = figures
        if not stations:
            return stations, []
        city = {
            field: sum(figures[field] for figures in stations.values())
            for field in ["cartons", "dropoffs", "points_issued", "points_redeemed", "points_donated", "cartons_reused"]
        }
        city |= {
            "members": len({d["member"] for d in accepted}),
            "co2e_kg": self._co2e_kg(city["cartons"]),
            "stations": sum(1 for figures in stations.values() if figures["dropoffs"]),
        }
        return stations, [city]

    # --- After every step ----------------------------------------------------------------

    @invariant()
    def database_equals_model(self):
        balances = dict(Account.objects.filter(member__in=self.members).values_list("member", "balance"))
        assert [balances[m.pk] for m in self.members] == self.balance
        stock = {
            (self.stations.index(row.station), self.rewards.index(row.reward)): row.quantity
            for row in StationStock.objects.filter(station__in=self.stations).select_related("station", "reward")
        }
        expected_stock = {
            (s, r): self.stock[s, r]
            for s in range(STATIONS)
            for r in range(len(REWARDS))
            if self.stock[s, r] or (s, r) in stock
        }
        assert stock == expected_stock
        assert dict(DropOff.objects.filter(station__in=self.stations).values_list("pk", "status")) == {
            d["pk"]: d["status"] for d in self.dropoffs
        }
        assert dict(Redemption.objects.filter(station__in=self.stations).values_list("pk", "status")) == {
            r["pk"]: r["status"] for r in self.redemptions
        }
        assert Account.objects.get(pk=self.campaign.account_id).balance == sum(d["points"] for d in self.donations)

    @invariant()
    def ledger_is_consistent(self):
        assert ledger_violations() == []


# The machine's drop-offs fall on fixed dates: the drop-off time window
# (tests/recycling/test_dropoff_time.py) is lifted to a century.
@override_settings(GREENBOX_DROPOFF_MAX_AGE_HOURS=100 * 365 * 24)
class TestLedgerStateMachine(TestCase, LedgerMachine.TestCase):
    """Runs the machine: 25 random programs of up to 30 steps each (see the module docstring)."""

    settings = settings(
        max_examples=25,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
