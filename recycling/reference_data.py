"""Reference data every GreenBox database holds: the "Station staff" group with its permissions,
the default emission factor, and the periodic schedules of the daily totals.

It is (re)created after every `migrate` by a post_migrate handler (as Django's sites framework
creates its default site), so it exists on a fresh database, after an upgrade, and after the
test suite empties the tables between transactional tests. Creation is idempotent and never
overwrites what ops changed.
"""

from datetime import date
from decimal import Decimal

from core.periodic import ensure_periodic_task

STATION_STAFF_GROUP = "Station staff"

STATION_STAFF_PERMISSIONS = [
    ("stations", "view_station"),
    ("recycling", "view_member"),
    ("recycling", "view_dropoff"),
    ("recycling", "add_dropoff"),
    ("recycling", "view_cartonmovement"),
    ("recycling", "add_cartonmovement"),
    ("recycling", "view_cartoninventory"),
]

DEFAULT_EMISSION_FACTOR = {
    "name": "US EPA WARM v15, corrugated containers, recycled",
    "kg_board_per_carton": Decimal("0.250"),
    "kg_co2e_per_kg": Decimal("3.461"),
    "basis": (
        "Net GHG emissions avoided by recycling corrugated containers, as EPA's Waste Reduction Model "
        "(WARM) version 15 gives them: 3.14 metric tons CO2e per short ton recycled, converted to "
        "3.14 / 0.907185 = 3.461 kg CO2e per kg. A typical e-commerce carton is taken to weigh 0.25 kg."
    ),
    "source": (
        "U.S. EPA, Documentation for Greenhouse Gas Emission and Energy Factors Used in the Waste Reduction "
        "Model (WARM), Version 15, Containers, Packaging, and Non-Durable Good Materials Chapters, "
        "Paper Products (November 2020)"
    ),
    "source_url": "https://www.epa.gov/warm",
    "valid_from": date(2000, 1, 1),
}


def grant_to_station_staff(permissions: list[tuple[str, str]]) -> None:
    """Add these (app_label, codename) permissions to the "Station staff" group, creating it if needed."""
    from django.contrib.auth.models import Group, Permission

    group, _created = Group.objects.get_or_create(name=STATION_STAFF_GROUP)
    for app_label, codename in permissions:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def ensure_reference_data(**kwargs) -> None:
    """post_migrate handler of the recycling app (permissions exist by then: auth's handler runs first)."""
    from .models import EmissionFactor

    grant_to_station_staff(STATION_STAFF_PERMISSIONS)
    if not EmissionFactor.objects.exists():
        EmissionFactor.objects.create(**DEFAULT_EMISSION_FACTOR)
    ensure_periodic_task(name="Today's totals", task="recycling.aggregate_today_totals", every_minutes=5)
    ensure_periodic_task(
        name="Recompute the three days before today", task="recycling.aggregate_recent_days_totals", daily_at_hour=2
    )
    ensure_periodic_task(name="Send members' notices", task="recycling.send_notices", every_minutes=5)
