"""factory-boy factories for every model. They keep the ledger's invariants: a member always
has its points account, and nothing here posts a transfer (only services do)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from recycling.models import Account, EarningRule, Member
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


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member
        skip_postgeneration_save = True

    mobile = factory.Sequence(lambda n: f"139{n:08d}")
    user = factory.SubFactory(UserFactory, username=factory.SelfAttribute("..mobile"))

    @factory.post_generation
    def account(obj, create, extracted, **kwargs):
        if create:
            Account.objects.create(kind=Account.Kind.MEMBER, member=obj)


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
