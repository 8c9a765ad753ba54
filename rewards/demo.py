"""The demo rewards catalog for `make run` (called by the load_demo_data command).

Priced for the demo earning rule of 10 points a carton: the campaign story's festival order
(snacks, instant coffee and a yoga mat) is 3 cartons, 30 points, which buys four eggs (20)
and a tote bag (10). A notebook for a rural school costs 50 points.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from recycling.days import SHANGHAI
from stations.models import Station

from .models import DonationCampaign, Reward
from .services import adjust_stock, create_campaign, create_reward

EGGS_PER_STATION = 50
TOTE_BAGS_PER_STATION = 20


@dataclass(frozen=True)
class DemoCatalog:
    eggs: Reward
    tote_bag: Reward
    campaign: DonationCampaign


@transaction.atomic
def load_demo_catalog(*, stations: list[Station]) -> DemoCatalog:
    """Create four eggs, a tote bag and a notebook campaign running the whole current year,
    with stock of both rewards at each given station. Everything goes through the services."""
    now = timezone.now()
    year = timezone.localtime(now, SHANGHAI).year
    start_of_year = datetime(year, 1, 1, tzinfo=SHANGHAI)
    eggs = create_reward(
        name="Four eggs",
        name_zh="四个鸡蛋",
        points_cost=20,
        daily_limit_per_member=2,
        active_from=start_of_year,
    )
    tote_bag = create_reward(name="Tote bag", name_zh="环保袋", points_cost=10, active_from=start_of_year)
    campaign = create_campaign(
        title="Notebooks for rural schools",
        title_zh="为乡村学校捐笔记本",
        beneficiary="乡村小学 / Rural primary schools",
        points_per_notebook=50,
        target_notebooks=1000,
        starts_at=start_of_year,
        ends_at=datetime(year + 1, 1, 1, tzinfo=SHANGHAI),
    )
    # Stock is stocked by someone allowed at every station; the demo acts as a superuser.
    stocker = get_user_model()(username="demo-loader", is_superuser=True)
    for station in stations:
        adjust_stock(station=station, reward=eggs, change=EGGS_PER_STATION, staff=stocker)
        adjust_stock(station=station, reward=tote_bag, change=TOTE_BAGS_PER_STATION, staff=stocker)
    return DemoCatalog(eggs=eggs, tote_bag=tote_bag, campaign=campaign)
