"""Donations followed to the school: notebooks bought with a campaign's donated points, delivered
to named schools, and each donation's share of both (rewards.models: NotebookPurchase,
NotebookDelivery, DonationAllocation).

record_purchase() allocates the notebooks bought to the campaign's donations first in, first out
(the oldest donation's notebooks are bought first); record_delivery() hands a purchase's
allocations to a school in the same order, splitting the last allocation when a delivery takes
only part of it. Both lock the campaign's row first, so a campaign's purchases and deliveries
happen one at a time and the order is one order. A donation's notebooks are thus pledged, then
bought, then delivered, and a member's page can say which school they reached and when
(rewards.selectors: campaign_progress, donation_journeys).
"""

from datetime import date
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import transaction
from django.db.models import F, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from core.validation import is_whole_number
from recycling.days import shanghai_day

from . import errors
from .models import DonationAllocation, DonationCampaign, NotebookDelivery, NotebookPurchase


def record_purchase(
    *, campaign: DonationCampaign, notebooks: int, supplier: str, cost: Decimal, bought_on: date, user: AbstractBaseUser
) -> NotebookPurchase:
    """Record notebooks bought for the campaign, allocated to its donations not yet bought for,
    oldest first. Refused when there are fewer such notebooks pledged, or the day is to come."""
    _check_count(notebooks)
    if bought_on > shanghai_day(timezone.now()):
        raise errors.InvalidRecordDay()
    with transaction.atomic(durable=True):
        DonationCampaign.objects.select_for_update().get(pk=campaign.pk)
        waiting = (
            campaign.donations.annotate(bought=Coalesce(Sum("allocations__notebooks"), 0))
            .filter(notebooks__gt=F("bought"))
            .order_by("created_at", "pk")
        )
        purchase = NotebookPurchase(
            campaign=campaign,
            notebooks=notebooks,
            supplier=supplier.strip(),
            cost=cost,
            bought_on=bought_on,
            recorded_by=user,
        )
        left, allocations = notebooks, []
        for donation in waiting.iterator():
            take = min(left, donation.notebooks - donation.bought)
            allocations.append(DonationAllocation(donation=donation, purchase=purchase, notebooks=take))
            left -= take
            if left == 0:
                break
        if left:
            raise errors.NotebooksNotAvailable(
                _("Only %(count)s notebooks are pledged and not yet bought.") % {"count": notebooks - left}
            )
        purchase.full_clean()
        purchase.save()
        DonationAllocation.objects.bulk_create(allocations)
    return purchase


def record_delivery(
    *,
    purchase: NotebookPurchase,
    school: str,
    notebooks: int,
    delivered_on: date,
    user: AbstractBaseUser,
    receipt: File | None = None,
) -> NotebookDelivery:
    """Record notebooks of a purchase delivered to a school: the purchase's undelivered
    allocations, in their donations' order, go with it. Refused when the purchase has fewer left
    to deliver, or the day is to come or before the purchase."""
    _check_count(notebooks)
    with transaction.atomic(durable=True):
        DonationCampaign.objects.select_for_update().get(pk=purchase.campaign_id)
        purchase = NotebookPurchase.objects.get(pk=purchase.pk)
        if not purchase.bought_on <= delivered_on <= shanghai_day(timezone.now()):
            raise errors.InvalidRecordDay()
        undelivered = list(
            purchase.allocations.filter(delivery__isnull=True).order_by("donation__created_at", "donation_id", "pk")
        )
        on_hand = sum(allocation.notebooks for allocation in undelivered)
        if notebooks > on_hand:
            raise errors.NotebooksNotAvailable(
                _("Only %(count)s notebooks of this purchase are not yet delivered.") % {"count": on_hand}
            )
        delivery = NotebookDelivery(
            purchase=purchase,
            school=school.strip(),
            notebooks=notebooks,
            delivered_on=delivered_on,
            receipt=receipt or "",
            recorded_by=user,
        )
        delivery.full_clean()
        delivery.save()
        left = notebooks
        for allocation in undelivered:
            if allocation.notebooks <= left:
                allocation.delivery = delivery
                allocation.save(update_fields=["delivery"])
                left -= allocation.notebooks
            else:  # the delivery takes part of it: split off the part it carries
                allocation.notebooks -= left
                allocation.save(update_fields=["notebooks"])
                DonationAllocation.objects.create(
                    donation_id=allocation.donation_id, purchase=purchase, delivery=delivery, notebooks=left
                )
                left = 0
            if left == 0:
                break
    return delivery


def _check_count(notebooks: object) -> None:
    if not is_whole_number(notebooks) or notebooks <= 0:
        raise errors.InvalidQuantity(_("Give a whole number of notebooks, at least 1."))
