"""The audit actions of personal data (member searched, mobile number revealed, account deleted):
the database's list of actions accepts every one the model names, and refuses any other."""

import pytest
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from audit.services import record_event
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("action", AuditEvent.Action.values)
def test_the_database_accepts_every_action_the_model_names(action):
    event = record_event(action=action, user=StaffUserFactory(), details={"by": "mobile", "found": 0})
    assert AuditEvent.objects.get(pk=event.pk).action == action


def test_the_privacy_actions_are_named():
    assert {"member_searched", "mobile_revealed", "account_deleted"} <= set(AuditEvent.Action.values)


def test_the_database_refuses_an_unknown_action():
    with pytest.raises(IntegrityError), transaction.atomic():
        record_event(action="mobile_copied", user=None)
