"""The demo rewards catalog: for `make run` (the load_demo_data command), the simulator and the
chaos run's seed.

Priced for the demo earning rule of 10 points a carton: the campaign story's festival order
(snacks, instant coffee and a yoga mat) is 3 cartons, 30 points, which buys four eggs (20)
and a tote bag (10). A notebook for a rural school costs 50 points.
"""

from collections.abc import Iterable
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
def load_demo_catalog(
    *,
    stations: Iterable[Station] = (),
    available_from: datetime | None = None,
    rewards_until: datetime | None = None,
    campaign_until: datetime | None = None,
    eggs_daily_limit: int = 2,
    target_notebooks: int = 1000,
    eggs_per_station: int = EGGS_PER_STATION,
    tote_bags_per_station: int = TOTE_BAGS_PER_STATION,
) -> DemoCatalog:
    """The demo catalog: four eggs, a tote bag and a notebook campaign, with stock of both
    rewards at each of `stations`; the one catalog of `make run`, the simulator and the chaos run.

    The rewards are available from `available_from` (by default the start of the current
    Shanghai year) until `rewards_until` (no end by default), the campaign runs from then until
    `campaign_until` (by default the start of the next year). A catalog already there with the
    same dates is reused, not created twice; everything is written through the services.
    """
    if available_from is None:
        year = timezone.localtime(timezone.now(), SHANGHAI).year
        available_from = datetime(year, 1, 1, tzinfo=SHANGHAI)
    if campaign_until is None:
        campaign_until = datetime(available_from.year + 1, 1, 1, tzinfo=SHANGHAI)
    existing = {
        reward.name: reward
        for reward in Reward.objects.filter(
            kind=Reward.Kind.GOODS, active_from=available_from, active_until=rewards_until
        )
    }
    eggs = existing.get("Four eggs") or create_reward(
        name="Four eggs",
        name_zh="四个鸡蛋",
        points_cost=20,
        daily_limit_per_member=eggs_daily_limit,
        active_from=available_from,
        active_until=rewards_until,
    )
    tote_bag = existing.get("Tote bag") or create_reward(
        name="Tote bag", name_zh="环保袋", points_cost=10, active_from=available_from, active_until=rewards_until
    )
    campaign = DonationCampaign.objects.filter(starts_at=available_from, ends_at=campaign_until).order_by("pk").first()
    if campaign is None:
        campaign = create_campaign(
            title="Notebooks for rural schools",
            title_zh="为乡村学校捐笔记本",
            beneficiary="乡村小学 / Rural primary schools",
            points_per_notebook=50,
            target_notebooks=target_notebooks,
            starts_at=available_from,
            ends_at=campaign_until,
        )
    # Stock is stocked by someone allowed at every station; the demo acts as a superuser.
    stocker = get_user_model()(username="demo-loader", is_superuser=True)
    for station in stations:
        adjust_stock(station=station, reward=eggs, change=eggs_per_station, staff=stocker)
        adjust_stock(station=station, reward=tote_bag, change=tote_bags_per_station, staff=stocker)
    return DemoCatalog(eggs=eggs, tote_bag=tote_bag, campaign=campaign)
