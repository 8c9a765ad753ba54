"""Reference data of the rewards app, (re)created after every migrate like recycling's
(see recycling/reference_data.py): what the "Station staff" group may do with rewards, and
the hourly schedule that expires uncollected reservations.

Which stations staff act at is not a permission but their StationStaff rows; the admin
filters by those. The catalog and the campaigns are managed by superusers only.
"""

from core.periodic import ensure_periodic_task
from recycling.reference_data import grant_to_station_staff

STATION_STAFF_PERMISSIONS = [
    ("rewards", "view_reward"),
    ("rewards", "view_donationcampaign"),
    ("rewards", "view_stationstock"),
    ("rewards", "add_stationstock"),
    ("rewards", "change_stationstock"),
    ("rewards", "view_redemption"),
    ("rewards", "collect_redemption"),
]


def ensure_reference_data(**kwargs) -> None:
    """post_migrate handler of the rewards app."""
    grant_to_station_staff(STATION_STAFF_PERMISSIONS)
    ensure_periodic_task(name="Expire uncollected reservations", task="rewards.expire_reservations", every_minutes=60)
    ensure_periodic_task(
        name="Warn of reservations about to expire", task="rewards.notice_expiring_reservations", every_minutes=15
    )
