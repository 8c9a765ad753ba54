"""factory-boy factories for every model. They keep the ledger's invariants: a member always
has its points account, and transfers are posted only through ledger.services or the services."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from api.models import ApiToken
from api.services import create_api_token
from audit.models import AuditEvent, HourlyCount
from audit.services import record_event
from idempotency.models import IdempotencyKey
from ledger.models import Account, Transfer
from ledger.services import lock_accounts, post_transfer
from recycling.ledger import issuance_account, open_member_account
from recycling.models import (
    CampaignStationTotal,
    CartonInventory,
    CartonMovement,
    DailyCityTotal,
    DailyStationTotal,
    DropOff,
    EarningRule,
    EmissionFactor,
    FlagReview,
    Member,
    RecyclingCampaign,
)
from rewards.models import DonationCampaign, Reward, StationStock
from rewards.services import donate, reserve_reward
from stations.models import City, Station, StationStaff


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct-horse-battery")


class StaffUserFactory(UserFactory):
    """A user in the "Station staff" group who can sign in to the admin."""

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True

    @factory.post_generation
    def station_staff_group(obj, create, extracted, **kwargs):
        if create:
            obj.groups.add(Group.objects.get(name="Station staff"))


class CityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = City
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: "C" + "".join(chr(65 + int(d)) for d in f"{n:03d}"))
    name = factory.Sequence(lambda n: f"City {n}")
    name_zh = factory.Sequence(lambda n: f"城市{n}")
    province = "Zhejiang"


class StationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Station

    city = factory.SubFactory(CityFactory)
    code = factory.Sequence(lambda n: f"ST-{n:05d}")
    name = factory.Sequence(lambda n: f"Cainiao Station {n}")
    address = factory.Sequence(lambda n: f"{n} Wensan Road")
    opening_hours = "08:00-21:00"
    is_active = True


class StationStaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StationStaff

    user = factory.SubFactory(StaffUserFactory)
    station = factory.SubFactory(StationFactory)
    role = StationStaff.Role.STAFF


class StationManagerFactory(StationStaffFactory):
    """The station's manager: voids any of its drop-offs, adjusts its stock, bales its cartons."""

    role = StationStaff.Role.MANAGER


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member
        skip_postgeneration_save = True

    mobile = factory.Sequence(lambda n: f"139{n:08d}")
    # A random handle as register_member() gives: the number is never a username.
    user = factory.SubFactory(UserFactory, username=factory.Sequence(lambda n: f"member-{n:06d}"))
    account = factory.LazyFunction(open_member_account)


class EarningRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EarningRule

    points_per_carton = 10
    daily_carton_cap = 20
    city = None
    valid_from = datetime(2020, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    valid_to = None


class AccountFactory(factory.django.DjangoModelFactory):
    """A reward or campaign account (member and issuance accounts come with their owners)."""

    class Meta:
        model = Account

    kind = Account.Kind.REWARD
    name = factory.Sequence(lambda n: f"Reward account {n}")
    balance_must_not_go_negative = True


class DropOffFactory(factory.django.DjangoModelFactory):
    """A drop-off row written directly, without the service. It earns 0 points by default, so
    (having no transfers) it keeps the points ledger's invariants, though not the station's carton
    inventory, which only the service moves; pass points= to build a ledger violation."""

    class Meta:
        model = DropOff

    station = factory.SubFactory(StationFactory)
    member = factory.SubFactory(MemberFactory)
    cartons = 1
    earning_cartons = 0
    points = 0
    rule = factory.SubFactory(EarningRuleFactory)
    emission_factor = factory.LazyFunction(lambda: EmissionFactor.objects.earliest("valid_from"))
    logged_by = factory.SubFactory(StaffUserFactory)


class SuperuserFactory(UserFactory):
    """A superuser: sees and may do everything the admin allows anyone."""

    username = factory.Sequence(lambda n: f"admin{n}")
    is_staff = True
    is_superuser = True


class RewardFactory(factory.django.DjangoModelFactory):
    """A goods reward (20 points, available since 2020, no daily limit) with its ledger account."""

    class Meta:
        model = Reward

    name = factory.Sequence(lambda n: f"Reward {n}")
    name_zh = factory.Sequence(lambda n: f"奖品{n}")
    kind = Reward.Kind.GOODS
    points_cost = 20
    active_from = datetime(2020, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    account = factory.SubFactory(AccountFactory, kind=Account.Kind.REWARD, name=factory.SelfAttribute("..name"))


class DonationCampaignFactory(factory.django.DjangoModelFactory):
    """A notebook campaign open from 2020 to 2100, 50 points a notebook, with its ledger account."""

    class Meta:
        model = DonationCampaign

    title = factory.Sequence(lambda n: f"Notebooks {n}")
    title_zh = factory.Sequence(lambda n: f"笔记本{n}")
    beneficiary = "Rural primary school"
    points_per_notebook = 50
    target_notebooks = 1000
    starts_at = datetime(2020, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    ends_at = datetime(2100, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    account = factory.SubFactory(AccountFactory, kind=Account.Kind.CAMPAIGN, name=factory.SelfAttribute("..title"))


class StationStockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StationStock

    station = factory.SubFactory(StationFactory)
    reward = factory.SubFactory(RewardFactory)
    quantity = 10


class RedemptionFactory(factory.Factory):
    """A reservation made through rewards.services.reserve_reward (it posts the debit transfer),
    so the member must have the points and the station the stock."""

    class Meta:
        model = dict  # built by the service, see _create

    member = factory.SubFactory(MemberFactory)
    reward = factory.SubFactory(RewardFactory)
    station = factory.SubFactory(StationFactory)
    quantity = 1
    idempotency_key = factory.Sequence(lambda n: f"factory-redemption-{n}")

    @classmethod
    def _create(cls, model_class, **kwargs):
        return reserve_reward(**kwargs).redemption


class DonationFactory(factory.Factory):
    """A donation made through rewards.services.donate (it posts the transfer), so the member
    must have the points."""

    class Meta:
        model = dict  # built by the service, see _create

    member = factory.SubFactory(MemberFactory)
    campaign = factory.SubFactory(DonationCampaignFactory)
    notebooks = 1
    idempotency_key = factory.Sequence(lambda n: f"factory-donation-{n}")

    @classmethod
    def _create(cls, model_class, **kwargs):
        return donate(**kwargs).donation


class EmissionFactorFactory(factory.django.DjangoModelFactory):
    """A factor of 0.2 kg board x 2 kg CO2e/kg = 0.4 kg CO2e per carton, from 2001 on (one day later
    per factor, valid_from being unique). It overtakes the default factor of 2000 for new drop-offs."""

    class Meta:
        model = EmissionFactor

    name = factory.Sequence(lambda n: f"Factor {n}")
    kg_board_per_carton = Decimal("0.200")
    kg_co2e_per_kg = Decimal("2.000")
    basis = "Recycling instead of landfill."
    source = "Test source"
    source_url = "https://example.org/factor"
    valid_from = factory.Sequence(lambda n: date(2001, 1, 1) + timedelta(days=n))


class CartonInventoryFactory(factory.django.DjangoModelFactory):
    """Cartons on hand at a station, set directly (drop-offs through the service add to it)."""

    class Meta:
        model = CartonInventory
        django_get_or_create = ("station",)

    station = factory.SubFactory(StationFactory)
    on_hand = 0


class CartonMovementFactory(factory.django.DjangoModelFactory):
    """A movement row written directly, without the service: the station's inventory is not
    changed. Use recycling.services.record_carton_movement when the inventory matters."""

    class Meta:
        model = CartonMovement

    station = factory.SubFactory(StationFactory)
    kind = CartonMovement.Kind.REUSED
    cartons = 1
    recorded_by = factory.SubFactory(StaffUserFactory)


class RecyclingCampaignFactory(factory.django.DjangoModelFactory):
    """An eleven-day campaign (1 to 11 November 2024) with a target of 1000 cartons."""

    class Meta:
        model = RecyclingCampaign

    name = factory.Sequence(lambda n: f"Double 11 campaign {n}")
    start_day = date(2024, 11, 1)
    end_day = date(2024, 11, 11)
    target_cartons = 1000
    compared_with = None


class DailyStationTotalFactory(factory.django.DjangoModelFactory):
    """A station's totals for a day, written directly (recycling.totals computes the real ones)."""

    class Meta:
        model = DailyStationTotal

    day = date(2024, 11, 11)
    station = factory.SubFactory(StationFactory)
    city = factory.SelfAttribute("station.city")
    cartons = 10
    dropoffs = 2
    members = 2


class DailyCityTotalFactory(factory.django.DjangoModelFactory):
    """A city's totals for a day, written directly (recycling.totals computes the real ones)."""

    class Meta:
        model = DailyCityTotal

    day = date(2024, 11, 11)
    city = factory.SubFactory(CityFactory)
    cartons = 10
    dropoffs = 2
    members = 2
    stations = 1


class CampaignStationTotalFactory(factory.django.DjangoModelFactory):
    """A station's totals over a campaign, written directly (recycling.totals.aggregate_campaign
    computes the real ones)."""

    class Meta:
        model = CampaignStationTotal

    campaign = factory.SubFactory(RecyclingCampaignFactory)
    station = factory.SubFactory(StationFactory)
    city = factory.SelfAttribute("station.city")
    cartons = 100
    dropoffs = 20
    points_issued = 1000
    days_active = 10
    rank = factory.Sequence(lambda n: n + 1)


def _issuance_account(station: Station) -> Account:
    with transaction.atomic():
        return issuance_account(station=station)


class TransferFactory(factory.django.DjangoModelFactory):
    """A transfer posted through ledger.services (accounts locked, cached balances moved), so the
    ledger stays balanced; by default points issued by a station to a member with no drop-off."""

    class Meta:
        model = Transfer

    debit_account = factory.LazyFunction(lambda: _issuance_account(StationFactory()))
    credit_account = factory.LazyFunction(lambda: MemberFactory().account)
    amount = 10
    kind = Transfer.Kind.EARNING
    idempotency_key = factory.Sequence(lambda n: f"factory-transfer-{n}")

    @classmethod
    def _create(cls, model_class, *, debit_account, credit_account, **kwargs):
        with transaction.atomic():
            locked = lock_accounts(debit_account, credit_account)
            return post_transfer(debit=locked[debit_account.pk], credit=locked[credit_account.pk], **kwargs)


class IdempotencyKeyFactory(factory.django.DjangoModelFactory):
    """A keyed write's first outcome, a success, stored under its key in a station's scope (a
    refusal: refusal_code and refusal_message, with result=None)."""

    class Meta:
        model = IdempotencyKey

    scope = factory.Sequence(lambda n: f"station:{n + 1}")
    key = factory.Sequence(lambda n: f"key-{n}")
    operation = "dropoff"
    fingerprint = factory.Sequence(lambda n: f"{n:064x}")
    result = factory.LazyAttribute(lambda key: {"dropoff": 1, "balance": 10})


class AuditEventFactory(factory.django.DjangoModelFactory):
    """An audit event written through audit.services.record_event (the log is append-only)."""

    class Meta:
        model = AuditEvent

    action = AuditEvent.Action.DROPOFF_VOIDED
    user = factory.SubFactory(UserFactory)
    details = factory.LazyFunction(dict)

    @classmethod
    def _create(cls, model_class, **kwargs):
        return record_event(**kwargs)


class ApiTokenFactory(factory.django.DjangoModelFactory):
    """An API token made by api.services.create_api_token; its secret is on `.secret` (shown once)."""

    class Meta:
        model = ApiToken

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"device {n}")
    station = None

    @classmethod
    def _create(cls, model_class, **kwargs):
        created = create_api_token(**kwargs)
        created.token.secret = created.secret
        return created.token


class HourlyCountFactory(factory.django.DjangoModelFactory):
    """An hour's count of one kind (audit.services.count_per_hour upserts them)."""

    class Meta:
        model = HourlyCount
        django_get_or_create = ("kind", "hour")

    kind = HourlyCount.Kind.ANONYMOUS_REFUSAL
    hour = factory.Sequence(lambda n: datetime(2026, 11, 1, tzinfo=ZoneInfo("UTC")) + timedelta(hours=n))
    count = 1


class FlagReviewFactory(factory.django.DjangoModelFactory):
    """A decision on an anomaly flag written directly; recycling.reviews writes them with their
    audit events."""

    class Meta:
        model = FlagReview

    kind = FlagReview.Kind.LATE_RECORD
    subject = factory.Sequence(str)
    decision = FlagReview.Decision.REVIEWED
    note = "Checked with the station."
    decided_by = factory.SubFactory(UserFactory)
