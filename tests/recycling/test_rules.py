"""The rule services (recycling.rules): each save writes its row and its RULE_CHANGED audit event in
one transaction; a refusal, or a caller's rollback, leaves neither."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction

from audit.models import AuditEvent
from recycling import errors
from recycling.models import EarningRule, EmissionFactor, RecyclingCampaign
from recycling.rules import (
    create_earning_rule,
    create_emission_factor,
    create_recycling_campaign,
    delete_recycling_campaign,
    update_earning_rule,
    update_emission_factor,
    update_recycling_campaign,
)
from tests.factories import (
    CityFactory,
    DropOffFactory,
    EarningRuleFactory,
    EmissionFactorFactory,
    RecyclingCampaignFactory,
)

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YEAR_2024 = datetime(2024, 1, 1, tzinfo=SHANGHAI)


def rule_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditEvent.Action.RULE_CHANGED).order_by("pk"))


def factor_fields(**overrides) -> dict:
    return {
        "name": "Board recycling",
        "kg_board_per_carton": Decimal("0.250"),
        "kg_co2e_per_kg": Decimal("1.800"),
        "basis": "Recycling instead of landfill.",
        "source": "A public source",
        "valid_from": date(2024, 6, 1),
        **overrides,
    }


# Earning rules ---------------------------------------------------------------------------------


def test_create_earning_rule_writes_the_rule_and_its_event():
    city = CityFactory()
    rule = create_earning_rule(points_per_carton=12, daily_carton_cap=15, city=city, valid_from=NEW_YEAR_2024)

    assert EarningRule.objects.get(pk=rule.pk).points_per_carton == 12
    [event] = rule_events()
    assert (event.target_type, event.target_id) == (ContentType.objects.get_for_model(EarningRule), str(rule.pk))
    assert event.details["created"] is True
    assert event.details["changed"]["points_per_carton"] == 12
    assert event.details["changed"]["city"] == city.pk  # a related object by its primary key


def test_invalid_earning_rule_is_refused_with_nothing_written():
    """A rule ending before it starts fails validation: no rule, no event."""
    with pytest.raises(ValidationError):
        create_earning_rule(
            points_per_carton=12, valid_from=NEW_YEAR_2024, valid_to=datetime(2023, 1, 1, tzinfo=SHANGHAI)
        )
    assert not EarningRule.objects.exists()
    assert rule_events() == []


def test_update_unused_earning_rule_records_what_changed():
    rule = EarningRuleFactory(points_per_carton=10)

    update_earning_rule(rule=rule, points_per_carton=11)

    rule.refresh_from_db()
    assert rule.points_per_carton == 11
    [event] = rule_events()
    assert event.details == {"created": False, "changed": {"points_per_carton": 11}}


def test_used_earning_rule_keeps_its_pricing_but_can_end():
    """Once a drop-off was priced with a rule, changing its points is refused with nothing written;
    setting its end is allowed."""
    rule = EarningRuleFactory(points_per_carton=10)
    DropOffFactory(rule=rule, occurred_at=datetime(2024, 5, 1, 10, tzinfo=SHANGHAI))

    with pytest.raises(errors.RuleInUse):
        update_earning_rule(rule=rule, points_per_carton=99)
    rule.refresh_from_db()
    assert rule.points_per_carton == 10
    assert rule_events() == []

    end = datetime(2025, 1, 1, tzinfo=SHANGHAI)
    update_earning_rule(rule=rule, valid_to=end)
    rule.refresh_from_db()
    assert rule.valid_to == end
    [event] = rule_events()
    assert event.details["changed"] == {"valid_to": end.isoformat()}


def test_an_update_rolled_back_by_its_caller_leaves_no_event():
    rule = EarningRuleFactory(points_per_carton=10)
    with pytest.raises(RuntimeError), transaction.atomic():
        update_earning_rule(rule=rule, points_per_carton=11)
        raise RuntimeError("the caller fails after the save")
    rule.refresh_from_db()
    assert rule.points_per_carton == 10
    assert rule_events() == []


def test_unknown_fields_are_refused():
    with pytest.raises(TypeError):
        update_earning_rule(rule=EarningRuleFactory(), pk=5)


# Emission factors ------------------------------------------------------------------------------


def test_create_emission_factor_writes_the_factor_and_its_event():
    factor = create_emission_factor(**factor_fields())

    assert EmissionFactor.objects.get(pk=factor.pk).kg_co2e_per_kg == Decimal("1.800")
    [event] = rule_events()
    assert event.target_id == str(factor.pk)
    assert event.details["created"] is True and event.details["changed"]["kg_board_per_carton"] == "0.250"


def test_factor_starting_before_drop_offs_with_an_older_one_is_refused():
    """Drop-offs of 1 May 2024 used the default factor; a factor from 1 January 2024 would not explain them."""
    DropOffFactory(occurred_at=datetime(2024, 5, 1, 10, tzinfo=SHANGHAI))
    before = EmissionFactor.objects.count()

    with pytest.raises(errors.FactorStartOvertaken):
        create_emission_factor(**factor_fields(valid_from=date(2024, 1, 1)))

    assert EmissionFactor.objects.count() == before
    assert rule_events() == []


def test_update_unused_factor_records_what_changed():
    factor = EmissionFactorFactory()

    update_emission_factor(factor=factor, kg_co2e_per_kg=Decimal("2.600"))

    factor.refresh_from_db()
    assert factor.kg_co2e_per_kg == Decimal("2.600")
    [event] = rule_events()
    assert event.details == {"created": False, "changed": {"kg_co2e_per_kg": "2.600"}}


def test_used_factor_is_not_changed():
    factor = EmissionFactorFactory(valid_from=date(2024, 1, 1))
    DropOffFactory(emission_factor=factor, occurred_at=datetime(2024, 5, 1, 10, tzinfo=SHANGHAI))

    with pytest.raises(errors.FactorInUse):
        update_emission_factor(factor=factor, kg_co2e_per_kg=Decimal("9.000"))

    factor.refresh_from_db()
    assert factor.kg_co2e_per_kg == Decimal("2.000")
    assert rule_events() == []


# Recycling campaigns ---------------------------------------------------------------------------


def test_create_and_update_campaign_record_events():
    earlier = RecyclingCampaignFactory(name="Double 11 2023")
    campaign = create_recycling_campaign(
        name="Double 11 2024",
        start_day=date(2024, 11, 1),
        end_day=date(2024, 11, 11),
        target_cartons=5000,
        compared_with=earlier,
    )
    update_recycling_campaign(campaign=campaign, target_cartons=6000)

    campaign.refresh_from_db()
    assert (campaign.target_cartons, campaign.compared_with) == (6000, earlier)
    created, changed = rule_events()
    assert created.details["created"] is True and created.details["changed"]["compared_with"] == earlier.pk
    assert changed.details == {"created": False, "changed": {"target_cartons": 6000}}


def test_campaign_ending_before_it_starts_is_refused():
    with pytest.raises(ValidationError):
        create_recycling_campaign(
            name="Backwards", start_day=date(2024, 11, 11), end_day=date(2024, 11, 1), target_cartons=1
        )
    assert not RecyclingCampaign.objects.exists()
    assert rule_events() == []


def test_delete_campaign_records_an_event():
    campaign = RecyclingCampaignFactory()

    delete_recycling_campaign(campaign=campaign)

    assert not RecyclingCampaign.objects.exists()
    [event] = rule_events()
    assert (event.target_id, event.details) == (str(campaign.pk), {"deleted": True})


def test_campaign_another_is_compared_with_is_not_deleted():
    earlier = RecyclingCampaignFactory(name="2023")
    RecyclingCampaignFactory(name="2024", compared_with=earlier)

    with pytest.raises(errors.CampaignCompared):
        delete_recycling_campaign(campaign=earlier)

    assert RecyclingCampaign.objects.filter(pk=earlier.pk).exists()
    assert rule_events() == []
