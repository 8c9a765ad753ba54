"""The chaos run's own database: created afresh, migrated and seeded through the services.

Each client process gets its own members and, at every station, its own staff login, so a
client's view of its reservations is complete; they all share the stations, their accounts
and their stock, where the concurrency is.
"""

from datetime import datetime

from recycling.days import SHANGHAI

CITIES = [("CA", "Chaos A", "混沌甲", "Chaos"), ("CB", "Chaos B", "混沌乙", "Chaos")]
STATIONS_PER_CITY = 3
MEMBERS_PER_CLIENT = 12
DAILY_CARTON_CAP = 200
POINTS_PER_CARTON = 10
STOCK = {"eggs": 100, "tote": 60}  # per station


def create_database(*, url: str) -> None:
    """Drop and create the database `url` names (only a greenbox_chaos* one)."""
    import environ
    import psycopg

    config = environ.Env.db_url_config(url)
    name = config["NAME"]
    if not name.startswith("greenbox_chaos"):
        raise SystemExit(f"refusing to drop {name!r}: the chaos run only drops greenbox_chaos* databases")
    with psycopg.connect(
        host=config["HOST"], port=config["PORT"] or 5432, user=config["USER"], dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def seed(*, clients: int, schedule_seconds: int) -> dict:
    """Migrate and seed; returns what the clients and the audit need (plain JSON values)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from api.services import create_api_token
    from recycling.models import EarningRule
    from recycling.services import register_member
    from rewards.demo import load_demo_catalog
    from stations.models import City, Station, StationStaff

    call_command("migrate", verbosity=0)
    User = get_user_model()
    start = datetime(2021, 1, 1, tzinfo=SHANGHAI)
    with transaction.atomic():
        stations = []
        for code, name, name_zh, province in CITIES:
            city = City.objects.create(code=code, name=name, name_zh=name_zh, province=province)
            for n in range(1, STATIONS_PER_CITY + 1):
                stations.append(
                    Station.objects.create(code=f"{code}-{n:05d}", name=f"{name} {n}", city=city, address="-")
                )
        EarningRule.objects.create(
            points_per_carton=POINTS_PER_CARTON, daily_carton_cap=DAILY_CARTON_CAP, valid_from=start
        )
        catalog = load_demo_catalog(
            stations=stations,
            available_from=start,
            campaign_until=datetime(2100, 1, 1, tzinfo=SHANGHAI),
            eggs_daily_limit=4,
            target_notebooks=100_000,
            eggs_per_station=STOCK["eggs"],
            tote_bags_per_station=STOCK["tote"],
        )
        eggs, tote, campaign = catalog.eggs, catalog.tote_bag, catalog.campaign

        per_client = []
        for c in range(clients):
            staff = {}
            for station in stations:
                user = User.objects.create_user(username=f"chaos-staff-{c}-{station.code.lower()}")
                StationStaff.objects.create(user=user, station=station)
                token = create_api_token(user=user, name=f"chaos device {c}", station=station).secret
                staff[str(station.pk)] = {"user": user.pk, "token": token}
            members = []
            for n in range(MEMBERS_PER_CLIENT):
                member = register_member(mobile=f"139{c:02d}{n:06d}")
                token = create_api_token(user=member.user, name=f"chaos member {c}-{n}").secret
                members.append({"user": member.user_id, "code": member.code, "token": token})
            per_client.append({"staff": staff, "members": members})

        # Beat runs the totals every few seconds (instead of every 5 minutes), and the recompute
        # of the days before today too, so tasks are queued and running while the faults hit.
        every, _created = IntervalSchedule.objects.get_or_create(
            every=schedule_seconds, period=IntervalSchedule.SECONDS
        )
        PeriodicTask.objects.filter(task="recycling.aggregate_today_totals").update(interval=every, crontab=None)
        PeriodicTask.objects.filter(task="recycling.aggregate_recent_days_totals").update(
            interval=every, crontab=None, kwargs='{"days": 2}'
        )
    return {
        "stations": [station.pk for station in stations],
        "rewards": [eggs.pk, tote.pk],
        "campaign": campaign.pk,
        "clients": per_client,
        "initial_stock": {f"{s.pk}:{r.pk}": STOCK[k] for s in stations for r, k in ((eggs, "eggs"), (tote, "tote"))},
    }
