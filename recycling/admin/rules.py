"""Earning rules, emission factors and recycling campaigns: superusers set them, and every save
(and a campaign's delete) goes through recycling.rules, which writes the audit event in the same
transaction. Rules and factors are never deleted: drop-offs record the rule and factor they used.
"""

from django.contrib import admin, messages
from django.db import models
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponseRedirect
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.admin import SuperuserEditsAdminMixin, SuperuserOnlyAdminMixin

from .. import rules
from ..errors import DomainError
from ..forms import EmissionFactorForm, RecyclingCampaignForm
from ..models import DropOff, EarningRule, EmissionFactor, RecyclingCampaign
from ..selectors import campaign_cartons, campaign_days


class RuleAdmin(SuperuserOnlyAdminMixin, SuperuserEditsAdminMixin, admin.ModelAdmin):
    """Saves through a recycling.rules service instead of writing the model itself."""

    def create(self, fields: dict) -> models.Model:
        raise NotImplementedError

    def update(self, obj: models.Model, changes: dict) -> models.Model:
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        if change:
            self.update(obj, {field: form.cleaned_data[field] for field in form.changed_data})
        else:
            obj.pk = self.create(dict(form.cleaned_data)).pk

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            # A refusal the form could not foresee (a drop-off used the rule meanwhile): the save
            # was rolled back with its transaction; say why on the page again.
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


@admin.register(EarningRule)
class EarningRuleAdmin(RuleAdmin):
    """Superusers add and change rules; once a drop-off was priced with one, only its end can be set."""

    list_display = (
        "points_per_carton",
        "daily_carton_cap",
        "weekly_carton_cap",
        "monthly_carton_cap",
        "city",
        "valid_from",
        "valid_to",
    )
    list_filter = (("city", admin.EmptyFieldListFilter),)
    list_select_related = ("city",)
    autocomplete_fields = ("city",)
    date_hierarchy = "valid_from"

    def get_readonly_fields(self, request, obj=None):
        return rules.EARNING_RULE_PRICING_FIELDS if obj is not None and rules.rule_in_use(obj) else ()

    def create(self, fields: dict) -> EarningRule:
        return rules.create_earning_rule(**fields)

    def update(self, obj: EarningRule, changes: dict) -> EarningRule:
        return rules.update_earning_rule(rule=obj, **changes)


@admin.register(EmissionFactor)
class EmissionFactorAdmin(RuleAdmin):
    """A factor a drop-off used is read-only (the drop-off's kg CO2e must stay explainable)."""

    form = EmissionFactorForm
    list_display = ("name", "valid_from", "kg_board_per_carton", "kg_co2e_per_kg", "co2e_per_carton", "in_use")
    date_hierarchy = "valid_from"
    search_fields = ("name", "source")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(in_use=Exists(DropOff.objects.filter(emission_factor=OuterRef("pk"))))
        )

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or not self.in_use(obj))

    def get_readonly_fields(self, request, obj=None):
        return ("co2e_per_carton",) if obj is not None else ()

    def create(self, fields: dict) -> EmissionFactor:
        return rules.create_emission_factor(**fields)

    def update(self, obj: EmissionFactor, changes: dict) -> EmissionFactor:
        return rules.update_emission_factor(factor=obj, **changes)

    @admin.display(description=_("kg CO2e per carton"))
    def co2e_per_carton(self, factor: EmissionFactor) -> str:
        return f"{factor.kg_co2e_per_carton:.3f}"

    @admin.display(description=_("used by drop-offs"), boolean=True, ordering="in_use")
    def in_use(self, factor: EmissionFactor) -> bool:
        in_use = getattr(factor, "in_use", None)  # annotated by get_queryset
        return rules.factor_in_use(factor) if in_use is None else in_use


@admin.register(RecyclingCampaign)
class RecyclingCampaignAdmin(RuleAdmin):
    """Festival campaigns: their cartons are read from the daily totals. Campaigns are settings,
    not records, so superusers may delete one, unless another is compared with it."""

    form = RecyclingCampaignForm
    list_display = ("name", "start_day", "end_day", "target_cartons", "cartons_to_date", "progress", "compared_with")
    list_select_related = ("compared_with",)
    search_fields = ("name",)
    date_hierarchy = "start_day"

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        return ("cartons_to_date", "progress", "compared_to_date") if obj is not None else ()

    def create(self, fields: dict) -> RecyclingCampaign:
        return rules.create_recycling_campaign(**fields)

    def update(self, obj: RecyclingCampaign, changes: dict) -> RecyclingCampaign:
        return rules.update_recycling_campaign(campaign=obj, **changes)

    def delete_model(self, request, obj):
        rules.delete_recycling_campaign(campaign=obj)

    def delete_queryset(self, request, queryset):
        for campaign in queryset:
            rules.delete_recycling_campaign(campaign=campaign)

    @admin.display(description=_("cartons to date"))
    def cartons_to_date(self, campaign: RecyclingCampaign) -> int:
        # Kept on the row: the list shows it twice (count and share of the target).
        if not hasattr(campaign, "_cartons_to_date"):
            campaign._cartons_to_date = campaign_cartons(campaign=campaign, through=timezone.localdate())
        return campaign._cartons_to_date

    @admin.display(description=_("of target"))
    def progress(self, campaign: RecyclingCampaign) -> str:
        if not campaign.target_cartons:
            return self.get_empty_value_display()
        return f"{self.cartons_to_date(campaign) / campaign.target_cartons:.0%}"

    @admin.display(description=_("compared campaign on the same day number"))
    def compared_to_date(self, campaign: RecyclingCampaign) -> int | str:
        """The compared campaign's cartons up to the day number this campaign has reached."""
        last = min(timezone.localdate(), campaign.end_day)
        if campaign.compared_with_id is None or last < campaign.start_day:
            return self.get_empty_value_display()  # (readonly fields would show None as "None")
        day = campaign_days(campaign=campaign)[(last - campaign.start_day).days]
        return self.get_empty_value_display() if day.compared_cumulative is None else day.compared_cumulative
