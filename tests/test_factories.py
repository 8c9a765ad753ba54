"""Every model has a factory, and the factories keep the ledger's invariants."""

import pytest
from django.apps import apps
from factory.django import DjangoModelFactory

from ledger.audit import (
    balances_sum_to_zero,
    cached_balances_match_transfers,
    flagged_balances_not_negative,
    ledger_violations,
)
from rewards.models import Donation, DonationAllocation, NotebookDelivery, NotebookPurchase, Redemption
from tests import factories

PROJECT_APPS = ["stations", "recycling", "rewards", "api", "audit", "events"]


def test_every_model_has_a_factory():
    """A new model without a factory in tests/factories.py fails this test."""
    covered = {
        value._meta.model
        for value in vars(factories).values()
        if isinstance(value, type) and issubclass(value, DjangoModelFactory) and value._meta.model is not None
    }
    # Redemptions and donations are made through the services (RedemptionFactory, DonationFactory);
    # notebook purchases, deliveries and their allocations only by rewards/deliveries.py, whose
    # tests (tests/rewards/test_deliveries.py) call it.
    covered |= {Redemption, Donation, NotebookPurchase, NotebookDelivery, DonationAllocation}
    models = {model for label in PROJECT_APPS for model in apps.get_app_config(label).get_models()}
    assert sorted(model.__name__ for model in models - covered) == []


@pytest.mark.django_db
def test_ledger_factories_keep_the_books_balanced():
    """Transfers, members and stations made by the factories keep the ledger's own books
    balanced (a bare transfer has no business cause, which recycling's checks rightly name)."""
    factories.TransferFactory()
    factories.TransferFactory(amount=25)
    assert cached_balances_match_transfers() == balances_sum_to_zero() == flagged_balances_not_negative() == []
    assert len(ledger_violations()) == 2  # the two earnings without a drop-off


@pytest.mark.django_db
def test_audit_and_idempotency_factories_write_rows():
    """The audit event goes through record_event; the idempotency key holds a stored result."""
    event = factories.AuditEventFactory()
    key = factories.IdempotencyKeyFactory()
    assert event.pk and event.action == "dropoff_voided"
    assert key.pk and not key.refused and key.result == {"dropoff": 1, "balance": 10}
