"""A clean simulated campaign passes the whole audit, and a corruption planted in it is found
among its thousands of transfers."""

import pytest
from django.core.management import call_command

from ledger.models import Transfer
from recycling.models import DropOff

from .conftest import check_ledger, check_ledger_failing, sql

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign():
    call_command("simulate_campaign", year=2021, scale=0.0005, seed=5, no_progress=True, stdout=None)


def test_a_simulated_campaign_passes_every_check(campaign):
    """The simulator writes its rows in bulk, not through the services, with the same pricing
    and keys: every transfer is explained by its drop-off, redemption or donation."""
    assert set(Transfer.objects.values_list("kind", flat=True)) == {"earning", "reversal", "redemption", "donation"}
    assert DropOff.objects.filter(status="voided").exists()

    output = check_ledger()

    assert "FAIL" not in output
    assert "Ledger is consistent." in output


def test_one_wrong_price_among_a_campaign_is_named(campaign):
    """One simulated drop-off given one more earning carton and 10 more points than its pricing
    and its transfer say: the pricing and the earning checks name that one drop-off."""
    dropoff = DropOff.objects.filter(points__gt=0).order_by("pk").first()
    sql("ALTER TABLE recycling_dropoff DROP CONSTRAINT dropoff_earning_cartons_within_cartons")
    sql(
        "UPDATE recycling_dropoff SET earning_cartons = earning_cartons + 1, points = points + 10 WHERE id = %s",
        [dropoff.pk],
    )

    output, error = check_ledger_failing()

    assert f"drop-off {dropoff.pk}: {dropoff.earning_cartons + 1} of {dropoff.cartons} cartons earning" in output
    assert f"transfer {dropoff.earning_transfer_id} (earning of drop-off {dropoff.pk})" in output
