"""Every write of the terms drop-offs are recorded with: earning rules, emission factors, and the
recycling campaigns their totals are read against.

Superusers set these in the admin, which saves through the functions here. Each one is a single
transaction that writes the row and its RULE_CHANGED audit event together (details: "created",
and "changed" with the new values, related objects by primary key), so a refused or rolled-back
save leaves neither behind. Invalid values raise django.core.exceptions.ValidationError; the
refusals below are DomainErrors.

A drop-off keeps the rule that priced it and the factor that weighed it, so both must go on
explaining it: once a drop-off uses a rule, only the rule's end can still be set; once one uses a
factor, the factor is not changed at all, and no new factor may start on a day that drop-offs
were already recorded on with an older one.
"""

from datetime import date, datetime, time
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Model

from audit.models import AuditEvent
from audit.services import audit_values, record_event, save_changes
from stations.models import City

from . import errors
from .days import SHANGHAI
from .models import DropOff, EarningRule, EmissionFactor, RecyclingCampaign

EARNING_RULE_FIELDS = (
    "points_per_carton",
    "daily_carton_cap",
    "weekly_carton_cap",
    "monthly_carton_cap",
    "city",
    "valid_from",
    "valid_to",
)
# What a drop-off's points were computed from; valid_to may still be set to end the rule.
EARNING_RULE_PRICING_FIELDS = (
    "points_per_carton",
    "daily_carton_cap",
    "weekly_carton_cap",
    "monthly_carton_cap",
    "city",
    "valid_from",
)
EMISSION_FACTOR_FIELDS = (
    "name",
    "kg_board_per_carton",
    "kg_co2e_per_kg",
    "basis",
    "source",
    "source_url",
    "valid_from",
)
RECYCLING_CAMPAIGN_FIELDS = ("name", "start_day", "end_day", "target_cartons", "compared_with")


# Earning rules ---------------------------------------------------------------------------------


def create_earning_rule(
    *,
    points_per_carton: int,
    valid_from: datetime,
    daily_carton_cap: int = settings.GREENBOX_DEFAULT_DAILY_CARTON_CAP,
    weekly_carton_cap: int | None = None,
    monthly_carton_cap: int | None = None,
    city: City | None = None,
    valid_to: datetime | None = None,
) -> EarningRule:
    """Add an earning rule, national (no city) or for one city; no weekly or monthly cap unless given."""
    fields = {
        "points_per_carton": points_per_carton,
        "daily_carton_cap": daily_carton_cap,
        "weekly_carton_cap": weekly_carton_cap,
        "monthly_carton_cap": monthly_carton_cap,
        "city": city,
        "valid_from": valid_from,
        "valid_to": valid_to,
    }
    return _create(EarningRule(**fields), fields)


def update_earning_rule(*, rule: EarningRule, **changes) -> EarningRule:
    """Change fields of an earning rule. Refused (RuleInUse) for anything but valid_to once a
    drop-off was priced with the rule."""
    return save_changes(
        rule, changes, allowed=EARNING_RULE_FIELDS, action=AuditEvent.Action.RULE_CHANGED, refuse=_refuse_repricing
    )


def rule_in_use(rule: EarningRule) -> bool:
    return rule.dropoffs.exists()


def _refuse_repricing(rule: EarningRule, changes: dict) -> None:
    if set(changes) & set(EARNING_RULE_PRICING_FIELDS) and rule_in_use(rule):
        raise errors.RuleInUse()


# Emission factors ------------------------------------------------------------------------------


def create_emission_factor(
    *,
    name: str,
    kg_board_per_carton: Decimal,
    kg_co2e_per_kg: Decimal,
    basis: str,
    source: str,
    valid_from: date,
    source_url: str = "",
) -> EmissionFactor:
    """Add an emission factor in force from `valid_from` on. Refused (FactorStartOvertaken) when
    drop-offs from that day on were already recorded with an older factor."""
    fields = {
        "name": name,
        "kg_board_per_carton": kg_board_per_carton,
        "kg_co2e_per_kg": kg_co2e_per_kg,
        "basis": basis,
        "source": source,
        "source_url": source_url,
        "valid_from": valid_from,
    }
    if factor_start_overtaken(valid_from=valid_from):
        raise errors.FactorStartOvertaken()
    return _create(EmissionFactor(**fields), fields)


def update_emission_factor(*, factor: EmissionFactor, **changes) -> EmissionFactor:
    """Change fields of an emission factor. Refused (FactorInUse) once a drop-off was recorded
    with it, and (FactorStartOvertaken) for a start that drop-offs with an older factor passed."""
    return save_changes(
        factor,
        changes,
        allowed=EMISSION_FACTOR_FIELDS,
        action=AuditEvent.Action.RULE_CHANGED,
        refuse=_refuse_factor_change,
    )


def factor_in_use(factor: EmissionFactor) -> bool:
    return factor.dropoffs.exists()


def factor_start_overtaken(*, valid_from: date, factor_id: int | None = None) -> bool:
    """Whether drop-offs from `valid_from` on were recorded with a factor older than that day
    (other than factor `factor_id`). Each drop-off keeps its factor, so a factor starting then
    would change no figure, but "in force from" would no longer explain which factor they used."""
    return (
        DropOff.objects.filter(
            occurred_at__gte=datetime.combine(valid_from, time.min, tzinfo=SHANGHAI),
            emission_factor__valid_from__lt=valid_from,
        )
        .exclude(emission_factor_id=factor_id)
        .exists()
    )


def _refuse_factor_change(factor: EmissionFactor, changes: dict) -> None:
    if factor_in_use(factor):
        raise errors.FactorInUse()
    if "valid_from" in changes and factor_start_overtaken(valid_from=changes["valid_from"], factor_id=factor.pk):
        raise errors.FactorStartOvertaken()


# Recycling campaigns ---------------------------------------------------------------------------


def create_recycling_campaign(
    *,
    name: str,
    start_day: date,
    end_day: date,
    target_cartons: int,
    compared_with: RecyclingCampaign | None = None,
) -> RecyclingCampaign:
    """Add a festival campaign, optionally compared with an earlier one."""
    fields = {
        "name": name,
        "start_day": start_day,
        "end_day": end_day,
        "target_cartons": target_cartons,
        "compared_with": compared_with,
    }
    return _create(RecyclingCampaign(**fields), fields)


def update_recycling_campaign(*, campaign: RecyclingCampaign, **changes) -> RecyclingCampaign:
    """Change fields of a campaign. Its cartons are read from the daily totals, so nothing else moves."""
    return save_changes(campaign, changes, allowed=RECYCLING_CAMPAIGN_FIELDS, action=AuditEvent.Action.RULE_CHANGED)


@transaction.atomic
def delete_recycling_campaign(*, campaign: RecyclingCampaign) -> None:
    """Delete a campaign (campaigns are settings, not records). Refused (CampaignCompared) while
    another campaign is compared with it."""
    locked = RecyclingCampaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.compared_by.exists():
        raise errors.CampaignCompared()
    record_event(action=AuditEvent.Action.RULE_CHANGED, target=locked, details={"deleted": True})
    locked.delete()


# One save, one event ---------------------------------------------------------------------------


@transaction.atomic
def _create(instance: Model, fields: dict) -> Model:
    instance.full_clean()
    instance.save()
    record_event(
        action=AuditEvent.Action.RULE_CHANGED,
        target=instance,
        details={"created": True, "changed": audit_values(fields)},
    )
    return instance
