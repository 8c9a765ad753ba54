"""Demo cities, stations, logins and a few drop-offs for `make run` (see load_demo_data)."""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from stations.models import City, Station, StationStaff

from .models import CartonMovement, EarningRule, Member
from .services import record_carton_movement, record_dropoff, register_member

DEMO_PASSWORD = "greenbox-demo"

CITIES = [
    ("HZ", "Hangzhou", "杭州", "浙江"),
    ("SH", "Shanghai", "上海", "上海"),
    ("BJ", "Beijing", "北京", "北京"),
]
STATIONS = [
    ("HZ-00001", "菜鸟驿站 文三路店", "HZ", "杭州市西湖区文三路 90 号", "30.2775", "120.1300"),
    ("HZ-00002", "菜鸟驿站 滨江星光店", "HZ", "杭州市滨江区江南大道 228 号", "30.2085", "120.2110"),
    ("SH-00001", "菜鸟驿站 徐汇漕溪店", "SH", "上海市徐汇区漕溪北路 398 号", "31.1890", "121.4370"),
    ("BJ-00001", "菜鸟驿站 海淀中关村店", "BJ", "北京市海淀区中关村大街 27 号", "39.9830", "116.3160"),
]
MEMBER_MOBILES = ["13812345678", "13987654321"]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    where: str


def demo_logins() -> list[DemoLogin]:
    """The demo logins, read from the database so the list is true for the data loaded."""
    User = get_user_model()
    logins = [DemoLogin(u.username, "ops (superuser)", "/admin/") for u in User.objects.filter(username="ops")]
    for role in StationStaff.objects.filter(user__username__startswith="staff-").select_related("user", "station"):
        logins.append(DemoLogin(role.user.username, "station staff", f"/desk/ ({role.station.code})"))
    for mobile in Member.objects.filter(mobile__in=MEMBER_MOBILES).values_list("mobile", flat=True):
        logins.append(DemoLogin(mobile, "member", "consumer pages (sign in with the mobile number)"))
    return logins


def load_demo_stations_and_members() -> list[Station]:
    """Cities, stations, one staff login per station, an ops superuser, two members with a
    few drop-offs, and a national earning rule of 10 points per carton. Returns the stations.

    The reference rows are one transaction; the drop-offs and the carton movement then go
    through their services, each its own durable transaction, as at a station's desk."""
    with transaction.atomic():
        stations, staff_users, members = _demo_network()
    # The festival order from the campaign story: snacks, instant coffee and a yoga mat.
    record_dropoff(
        station=stations[0], member_code=members[0].code, cartons=3, staff=staff_users[0], idempotency_key="demo-1"
    )
    record_dropoff(
        station=stations[0], member_code=members[1].code, cartons=2, staff=staff_users[0], idempotency_key="demo-2"
    )
    record_carton_movement(
        station=stations[0],
        kind=CartonMovement.Kind.REUSED,
        cartons=1,
        staff=staff_users[0],
        idempotency_key="demo-reuse-1",
    )
    return stations


def _demo_network() -> tuple[list[Station], list, list[Member]]:
    """The reference rows of the demo: cities, stations and their staff, ops, the rule, two
    members. The campaigns are the simulator's (simulator.generate.ensure_recycling_campaigns),
    whose targets are scaled like the simulated cartons."""
    User = get_user_model()
    cities = {
        code: City.objects.create(code=code, name=name, name_zh=name_zh, province=province)
        for code, name, name_zh, province in CITIES
    }
    stations = [
        Station.objects.create(
            code=code,
            name=name,
            city=cities[city],
            address=address,
            latitude=lat,
            longitude=lng,
            opening_hours="08:00-21:00",
        )
        for code, name, city, address, lat, lng in STATIONS
    ]
    EarningRule.objects.create(
        points_per_carton=10, daily_carton_cap=20, valid_from=datetime(2021, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    )
    User.objects.create_superuser(username="ops", password=DEMO_PASSWORD)
    staff_group = Group.objects.get(name="Station staff")
    staff_users = []
    for station in stations:
        user = User.objects.create_user(username=f"staff-{station.code.lower()}", password=DEMO_PASSWORD, is_staff=True)
        user.groups.add(staff_group)
        StationStaff.objects.create(user=user, station=station, role=StationStaff.Role.MANAGER)
        staff_users.append(user)
    members = [register_member(mobile=mobile, password=DEMO_PASSWORD) for mobile in MEMBER_MOBILES]
    return stations, staff_users, members
