"""Donations followed to the school (rewards/deliveries.py): notebooks bought are allocated to
the campaign's donations first in, first out; a delivery carries its purchase's allocations in
the same order to a school; each donation then says where its notebooks went."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ledger.audit import ledger_violations
from recycling.days import shanghai_day
from recycling.services import record_dropoff
from rewards import errors
from rewards.deliveries import record_delivery, record_purchase
from rewards.models import DonationAllocation, NotebookDelivery, NotebookPurchase
from rewards.selectors import Arrival, campaign_progress, donation_journeys
from tests.factories import (
    DonationCampaignFactory,
    DonationFactory,
    EarningRuleFactory,
    MemberFactory,
    StationStaffFactory,
    SuperuserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene():
    """A campaign at 10 points a notebook and three donations, oldest first: 2, 3 and 5 notebooks."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    desk = StationStaffFactory()
    campaign = DonationCampaignFactory(points_per_notebook=10)
    donations = []
    for notebooks in (2, 3, 5):
        member = MemberFactory()
        record_dropoff(
            station=desk.station,
            member_code=member.code,
            cartons=notebooks,
            staff=desk.user,
            idempotency_key=member.code,
        )
        donations.append(DonationFactory(member=member, campaign=campaign, notebooks=notebooks))
    return campaign, donations, SuperuserFactory()


def today():
    return shanghai_day(timezone.now())


def allocated(purchase) -> list[tuple[int, int]]:
    return list(purchase.allocations.order_by("pk").values_list("donation_id", "notebooks"))


def buy(campaign, user, notebooks):
    return record_purchase(
        campaign=campaign,
        notebooks=notebooks,
        supplier="文具厂",
        cost=Decimal("2.50") * notebooks,
        bought_on=today(),
        user=user,
    )


def test_a_purchase_buys_the_oldest_donations_notebooks_first(scene):
    campaign, (first, second, third), ops = scene

    purchase = buy(campaign, ops, 4)
    assert allocated(purchase) == [(first.pk, 2), (second.pk, 2)]

    with pytest.raises(errors.NotebooksNotAvailable):  # only 6 pledged and not yet bought
        buy(campaign, ops, 7)
    assert NotebookPurchase.objects.count() == 1

    rest = buy(campaign, ops, 6)
    assert allocated(rest) == [(second.pk, 1), (third.pk, 5)]
    assert ledger_violations() == []


def test_a_delivery_carries_its_purchases_notebooks_in_order_splitting_the_last(scene):
    campaign, (first, second, third), ops = scene
    purchase = buy(campaign, ops, 4)  # first: 2, second: 2

    delivery = record_delivery(purchase=purchase, school="山阳县希望小学", notebooks=3, delivered_on=today(), user=ops)

    assert sorted(delivery.allocations.values_list("donation_id", "notebooks")) == [(first.pk, 2), (second.pk, 1)]
    on_the_way = DonationAllocation.objects.filter(purchase=purchase, delivery__isnull=True)
    assert list(on_the_way.values_list("donation_id", "notebooks")) == [(second.pk, 1)]
    with pytest.raises(errors.NotebooksNotAvailable):
        record_delivery(purchase=purchase, school="another", notebooks=2, delivered_on=today(), user=ops)

    journeys = donation_journeys(donations=[first, second, third])
    arrived = Arrival(notebooks=2, school="山阳县希望小学", day=today())
    assert (journeys[first.pk].arrivals, journeys[first.pk].on_the_way, journeys[first.pk].waiting) == ([arrived], 0, 0)
    assert (journeys[second.pk].arrivals[0].notebooks, journeys[second.pk].on_the_way, journeys[second.pk].waiting) == (
        1,
        1,
        1,
    )
    assert (journeys[third.pk].arrivals, journeys[third.pk].waiting) == ([], 5)
    progress = campaign_progress(campaign=campaign)
    assert (progress.notebooks, progress.bought, progress.delivered) == (10, 4, 3)
    assert ledger_violations() == []


def test_days_to_come_and_deliveries_before_the_purchase_are_refused(scene):
    campaign, _donations, ops = scene
    with pytest.raises(errors.InvalidRecordDay):
        record_purchase(
            campaign=campaign, notebooks=1, supplier="x", cost=Decimal(1), bought_on=today() + timedelta(1), user=ops
        )
    purchase = buy(campaign, ops, 2)
    for day in (purchase.bought_on - timedelta(1), today() + timedelta(1)):
        with pytest.raises(errors.InvalidRecordDay):
            record_delivery(purchase=purchase, school="x", notebooks=1, delivered_on=day, user=ops)
    with pytest.raises(errors.InvalidQuantity):
        buy(campaign, ops, 0)
    assert NotebookDelivery.objects.count() == 0


def test_superusers_record_them_in_the_admin_with_a_receipt_only_they_can_open(scene, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    campaign, _donations, ops = scene
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(ops)
    bought = client.post(
        reverse("admin:rewards_notebookpurchase_add"),
        {"campaign": campaign.pk, "notebooks": 4, "supplier": "Stationers", "cost": "10.00", "bought_on": today()},
    )
    assert bought.status_code == 302, bought.content
    purchase = NotebookPurchase.objects.get()

    too_many = client.post(
        reverse("admin:rewards_notebookdelivery_add"),
        {"purchase": purchase.pk, "school": "Hope School", "notebooks": 5, "delivered_on": today()},
    )
    assert too_many.status_code == 200 and "not yet delivered" in str(too_many.context["form"].non_field_errors())
    wrong_type = client.post(
        reverse("admin:rewards_notebookdelivery_add"),
        {
            "purchase": purchase.pk,
            "school": "Hope School",
            "notebooks": 4,
            "delivered_on": today(),
            "receipt": SimpleUploadedFile("receipt.exe", b"MZ"),
        },
    )
    assert wrong_type.status_code == 200 and "receipt" in wrong_type.context["form"].errors
    delivered = client.post(
        reverse("admin:rewards_notebookdelivery_add"),
        {
            "purchase": purchase.pk,
            "school": "Hope School",
            "notebooks": 4,
            "delivered_on": today(),
            "receipt": SimpleUploadedFile("receipt.png", b"\x89PNG receipt", content_type="image/png"),
        },
    )
    assert delivered.status_code == 302, delivered.content
    delivery = NotebookDelivery.objects.get()
    receipt_url = reverse("admin:rewards_notebookdelivery_receipt", args=[delivery.pk])
    assert b"".join(client.get(receipt_url).streaming_content) == b"\x89PNG receipt"

    staff = Client()
    staff.force_login(StationStaffFactory().user)
    assert staff.get(receipt_url).status_code == 403
    assert ledger_violations() == []


def test_the_donate_page_tells_the_member_which_school_their_notebooks_reached(scene):
    campaign, (first, second, _third), ops = scene
    purchase = buy(campaign, ops, 4)  # first: 2, second: 2
    record_delivery(purchase=purchase, school="山阳县希望小学", notebooks=3, delivered_on=today(), user=ops)

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(second.member.user)
    page = client.get(reverse("members:donate")).content.decode()

    assert "Your notebook reached 山阳县希望小学 on" in page
    assert "1 notebook bought, on its way to a school." in page
    assert "1 notebook waiting to be bought." in page  # of its 3: 1 delivered, 1 on the way
    assert "4 bought so far, 3 delivered to schools." in page
