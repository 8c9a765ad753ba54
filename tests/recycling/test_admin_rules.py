"""Rules in the admin save through recycling.rules: a refusal the form could not foresee is shown
on the page with nothing saved, and a campaign deleted in the admin leaves its audit event."""

from datetime import datetime
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from recycling.admin.rules import EarningRuleAdmin
from recycling.models import RecyclingCampaign
from tests.factories import DropOffFactory, EarningRuleFactory, RecyclingCampaignFactory, SuperuserFactory
from tests.recycling.test_admin import english_client, messages_of

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_rule_used_after_the_page_was_opened_is_refused_on_the_page():
    """The page offered the points (no drop-off yet); a drop-off priced with the rule before the save
    makes the service refuse: the superuser is sent back to the page with the reason, and neither
    the rule nor the audit log changes."""
    rule = EarningRuleFactory(points_per_carton=10)
    DropOffFactory(rule=rule, occurred_at=datetime(2024, 5, 1, 10, tzinfo=SHANGHAI))
    client = english_client(SuperuserFactory())
    url = reverse("admin:recycling_earningrule_change", args=[rule.pk])
    form = {"points_per_carton": 99, "daily_carton_cap": 20, "valid_from_0": "2020-01-01", "valid_from_1": "00:00:00"}

    with mock.patch.object(EarningRuleAdmin, "get_readonly_fields", return_value=()):  # the page as first opened
        response = client.post(url, form)

    assert (response.status_code, response["Location"]) == (302, url)
    assert messages_of(response) == ["Drop-offs were priced with this rule: only its end can still be set."]
    rule.refresh_from_db()
    assert rule.points_per_carton == 10
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.RULE_CHANGED).exists()


def test_campaign_deleted_in_the_admin_is_recorded_with_the_superuser():
    superuser = SuperuserFactory()
    campaign = RecyclingCampaignFactory()
    client = english_client(superuser)

    response = client.post(reverse("admin:recycling_recyclingcampaign_delete", args=[campaign.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not RecyclingCampaign.objects.exists()
    [event] = AuditEvent.objects.filter(action=AuditEvent.Action.RULE_CHANGED)
    assert (event.user, event.target_id, event.details) == (superuser, str(campaign.pk), {"deleted": True})
