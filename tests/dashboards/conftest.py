"""Generated daily totals for the dashboards: two campaigns, cities of different sizes, stations
whose cartons are log-normal (a fixed size per station times a daily wobble), and one planted
station-day far above its city. The city rows are the sums of the station rows (distinct
members a little below the sum), as recycling.totals would write them, and the campaigns'
station totals are computed by recycling.totals.aggregate_campaign, as the pipeline does."""

import math
import random
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from recycling.models import DailyCityTotal, DailyStationTotal
from recycling.services import register_member
from recycling.totals import aggregate_campaign
from tests.factories import (
    CityFactory,
    RecyclingCampaignFactory,
    StaffUserFactory,
    StationFactory,
    StationStaffFactory,
    SuperuserFactory,
    UserFactory,
)

PLANTED_DAY = date(2022, 11, 11)


def ops_user(username: str = "ops-1", password: str = "ops-password-11"):
    user = UserFactory(username=username, password=password)
    user.groups.add(Group.objects.get_or_create(name="Ops")[0])
    return user


def signed_in(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def generate(
    *, cities: int, stations: int, days: int, seed: int = 11, plant: bool = True, first_station: int = 0
) -> SimpleNamespace:
    rng = random.Random(seed)
    first_year = RecyclingCampaignFactory(
        name="2021", start_day=date(2021, 11, 1), end_day=date(2021, 11, days), target_cartons=1
    )
    campaign = RecyclingCampaignFactory(
        name="2022",
        start_day=date(2022, 11, 1),
        end_day=date(2022, 11, days),
        target_cartons=50_000,
        compared_with=first_year,
    )
    city_list = [
        CityFactory(code=f"T{chr(65 + n // 26)}{chr(65 + n % 26)}", name=f"Town {n}", name_zh=f"镇{n}")
        for n in range(cities)
    ]
    station_list = []
    for n in range(stations):
        city = city_list[min(int(cities * rng.random() ** 1.5), cities - 1)]
        station_list.append(StationFactory(code=f"{city.code}-{first_station + n:05d}", city=city))
    sizes = {s.pk: math.exp(rng.gauss(0, 0.8)) for s in station_list}
    rows = []
    planted = None
    for year, scale in ((2021, 4.0), (2022, 6.0)):
        for d in range(days):
            day = date(year, 11, 1) + timedelta(days=d)
            for station in station_list:
                if rng.random() < 0.1:
                    continue  # a quiet day: no row
                cartons = max(0, round(sizes[station.pk] * scale * math.exp(rng.gauss(0, 0.3))))
                rows.append(
                    DailyStationTotal(
                        day=day,
                        station=station,
                        city_id=station.city_id,
                        cartons=cartons,
                        dropoffs=math.ceil(cartons / 2),
                        members=math.ceil(cartons / 3),
                        points_issued=cartons * 10,
                        points_redeemed=cartons * 2,
                        points_donated=cartons,
                        cartons_reused=cartons // 5,
                        co2e_kg=round(cartons * 0.264, 3),
                    )
                )
    if plant:
        biggest_city = max(city_list, key=lambda c: sum(1 for s in station_list if s.city_id == c.pk))
        victim = next(s for s in station_list if s.city_id == biggest_city.pk)
        row = next((r for r in rows if r.station_id == victim.pk and r.day == PLANTED_DAY), None)
        if row is None:
            row = DailyStationTotal(day=PLANTED_DAY, station=victim, city_id=victim.city_id)
            rows.append(row)
        row.cartons = 5_000
        planted = (victim.pk, PLANTED_DAY)
    DailyStationTotal.objects.bulk_create(rows)
    city_rows: dict = {}
    for r in rows:
        c = city_rows.setdefault(
            (r.day, r.city_id),
            DailyCityTotal(day=r.day, city_id=r.city_id, co2e_kg=0, stations=0),
        )
        c.stations += 1 if r.dropoffs else 0
        for name in ("cartons", "dropoffs", "points_issued", "points_redeemed", "points_donated", "cartons_reused"):
            setattr(c, name, (getattr(c, name) or 0) + getattr(r, name))
        c.members = (c.members or 0) + r.members
        c.co2e_kg += r.co2e_kg
    for c in city_rows.values():
        c.members = int(c.members * 0.9)  # distinct members of the city: fewer than the stations' sum
    DailyCityTotal.objects.bulk_create(city_rows.values())
    for recycling_campaign in (first_year, campaign):
        aggregate_campaign(campaign=recycling_campaign)
    return SimpleNamespace(
        campaign=campaign, compared=first_year, cities=city_list, stations=station_list, planted=planted
    )


@pytest.fixture
def national(db):
    return generate(cities=6, stations=80, days=12)


@pytest.fixture
def ops_client(db) -> Client:
    return signed_in(ops_user())


@pytest.fixture
def people(db):
    """A station staff user, a member, a staff user without a station and a superuser."""
    desk = StationStaffFactory()
    member = register_member(mobile="13812345678", password="member-password-1")
    return SimpleNamespace(
        station_staff=desk.user,
        member=member.user,
        staff=StaffUserFactory(),
        superuser=SuperuserFactory(),
    )
