"""The rewards admin: superusers manage the catalog and the campaigns; station staff see the
reservations of their stations (handed out at the station desk, desk/) and their stations'
stock, which their managers adjust. Every write goes through rewards.services;
nothing can be deleted.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.validators import FileExtensionValidator
from django.db import connection, models
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdminMixin, SuperuserEditsAdminMixin, service_form_page
from recycling.errors import DomainError
from stations.models import Station
from stations.selectors import manages, stations_for_user, stations_managed_by

from . import deliveries, services
from .models import (
    DonationCampaign,
    NotebookDelivery,
    NotebookPurchase,
    Redemption,
    Reward,
    StationStock,
)
from .selectors import campaign_progress, stock_for_user

FORM_TEMPLATE = "admin/rewards/form_page.html"


class SuperuserCatalogAdmin(SuperuserEditsAdminMixin, admin.ModelAdmin):
    """Superusers create and change; staff with the view permission may look; nobody deletes."""

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ("account", "created_at") if obj else ()

    def get_exclude(self, request: HttpRequest, obj=None):
        return () if obj else ("account", "created_at")


@admin.register(Reward)
class RewardAdmin(SuperuserCatalogAdmin):
    list_display = ("name_zh", "name", "kind", "points_cost", "daily_limit_per_member", "is_active", "active_from")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "name_zh")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request: HttpRequest, obj: Reward, form: forms.ModelForm, change: bool) -> None:
        fields = services.CATALOG_FIELDS["reward"]
        if change:
            services.update_reward(reward=obj, **{f: form.cleaned_data[f] for f in form.changed_data if f in fields})
            return
        created = services.create_reward(**{f: form.cleaned_data[f] for f in fields if f in form.cleaned_data})
        obj.pk, obj.account, obj.created_at = created.pk, created.account, created.created_at


@admin.register(DonationCampaign)
class DonationCampaignAdmin(SuperuserCatalogAdmin):
    list_display = ("title_zh", "title", "beneficiary", "points_per_notebook", "progress", "starts_at", "ends_at")
    search_fields = ("title", "title_zh", "beneficiary")

    @admin.display(description=_("notebooks funded / target"))
    def progress(self, obj: DonationCampaign) -> str:
        progress = campaign_progress(campaign=obj)
        return f"{progress.notebooks} / {progress.target_notebooks} ({progress.percent:.0f}%)"

    def save_model(self, request: HttpRequest, obj: DonationCampaign, form: forms.ModelForm, change: bool) -> None:
        fields = services.CATALOG_FIELDS["campaign"]
        if change:
            services.update_campaign(
                campaign=obj, **{f: form.cleaned_data[f] for f in form.changed_data if f in fields}
            )
            return
        created = services.create_campaign(**{f: form.cleaned_data[f] for f in fields})
        obj.pk, obj.account, obj.created_at = created.pk, created.account, created.created_at


# --- Reservations ------------------------------------------------------------------------


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: the only change staff make is handing a reward out, at the station desk (desk/).

    The pickup code is never shown: it is what proves the member is at the counter.
    """

    list_display = ("reserved_at", "member", "reward", "quantity", "station", "status", "expires_at")
    list_filter = ("status",)
    list_select_related = ("member", "reward", "station")
    date_hierarchy = "reserved_at"
    fields = (
        "member",
        "reward",
        "quantity",
        "points",
        "station",
        "status",
        "reserved_at",
        "expires_at",
        "collected_at",
        "collected_by",
        "ended_at",
        "transfer",
        "refund_transfer",
    )
    readonly_fields = fields

    def get_fields(self, request: HttpRequest, obj=None):
        # The transfers link to the ledger's pages, which only superusers may open.
        if request.user.is_superuser:
            return self.fields
        return [field for field in self.fields if field not in ("transfer", "refund_transfer")]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Redemption]:
        return super().get_queryset(request).filter(station__in=stations_for_user(user=request.user))


# --- Stock -------------------------------------------------------------------------------


MAX_STOCK = connection.ops.integer_field_range(StationStock._meta.get_field("quantity").get_internal_type())[1]


class AdjustStockForm(forms.Form):
    station = forms.ModelChoiceField(label=_("station"), queryset=Station.objects.none())
    reward = forms.ModelChoiceField(label=_("reward"), queryset=Reward.objects.filter(kind=Reward.Kind.GOODS))
    change = forms.IntegerField(
        label=_("change"),
        # Within what the quantity column holds: a 30-digit change is a form error, not a 500.
        min_value=-MAX_STOCK,
        max_value=MAX_STOCK,
        help_text=_("Goods received as a positive number (e.g. 24), broken or lost ones as a negative one (e.g. -2)."),
        widget=forms.NumberInput(attrs={"autofocus": True}),
    )

    def __init__(self, *args, stations: QuerySet[Station], stock: StationStock | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["station"].queryset = stations
        if stock is not None:
            self.fields["station"].initial = stock.station
            self.fields["reward"].initial = stock.reward
            self.fields["station"].disabled = self.fields["reward"].disabled = True


@admin.register(StationStock)
class StationStockAdmin(admin.ModelAdmin):
    """Staff see their stations' stock; a station's manager changes it by a number of items
    (never sets it), so a change adds to whatever the reservations meanwhile left; the service
    keeps it >= 0."""

    list_display = ("station", "reward", "quantity", "updated_at")
    list_filter = ("reward",)
    list_select_related = ("station", "reward")
    search_fields = ("station__code", "station__name", "reward__name", "reward__name_zh")

    def get_queryset(self, request: HttpRequest) -> QuerySet[StationStock]:
        return stock_for_user(user=request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Only a station's manager adjusts its stock (rewards.services.adjust_stock refuses the others).
        return super().has_add_permission(request) and stations_managed_by(user=request.user).exists()

    def has_change_permission(self, request: HttpRequest, obj: StationStock | None = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or manages(user=request.user, station=obj.station))

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        return self._adjust_view(request, stock=None)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        stock = self.get_object(request, object_id)
        if stock is None or not self.has_change_permission(request, stock):
            return super().change_view(request, object_id, form_url, extra_context)  # 404 or read-only view
        return self._adjust_view(request, stock=stock)

    def _adjust_view(self, request: HttpRequest, *, stock: StationStock | None) -> HttpResponse:
        form = AdjustStockForm(request.POST or None, stations=stations_managed_by(user=request.user), stock=stock)
        if request.method == "POST" and form.is_valid():
            try:
                adjusted = services.adjust_stock(
                    station=form.cleaned_data["station"],
                    reward=form.cleaned_data["reward"],
                    change=form.cleaned_data["change"],
                    staff=request.user,
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, gettext("Stock is now %(stock)s.") % {"stock": adjusted}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:rewards_stationstock_changelist"))
        if stock is None:
            title = gettext("Add stock at a station")
        else:
            title = gettext("Change stock: %(stock)s") % {"stock": stock}
        return service_form_page(self, request, form, title=title, template=FORM_TEMPLATE, submit_label=gettext("Save"))


# --- Donations followed to the school: purchases and deliveries (rewards/deliveries.py) --------

RECEIPT_TYPES = ("pdf", "jpg", "jpeg", "png")
MAX_RECEIPT_BYTES = 5 * 1024 * 1024


class PurchaseForm(forms.Form):
    campaign = forms.ModelChoiceField(label=_("campaign"), queryset=DonationCampaign.objects.all())
    notebooks = forms.IntegerField(label=_("notebooks bought"), min_value=1, max_value=10_000_000)
    supplier = forms.CharField(label=_("supplier"), max_length=200)
    cost = forms.DecimalField(label=_("cost (yuan)"), min_value=0, max_digits=12, decimal_places=2)
    bought_on = forms.DateField(label=_("bought on"), widget=admin.widgets.AdminDateWidget)


class DeliveryForm(forms.Form):
    purchase = forms.ModelChoiceField(label=_("purchase"), queryset=NotebookPurchase.objects.select_related("campaign"))
    school = forms.CharField(label=_("school"), max_length=200)
    notebooks = forms.IntegerField(label=_("notebooks delivered"), min_value=1, max_value=10_000_000)
    delivered_on = forms.DateField(label=_("delivered on"), widget=admin.widgets.AdminDateWidget)
    receipt = forms.FileField(
        label=_("receipt or photo"),
        required=False,
        validators=[FileExtensionValidator(RECEIPT_TYPES)],
        help_text=_("The school's signed receipt or a photo of the hand-over (PDF, JPEG or PNG, at most 5 MB)."),
    )

    def clean_receipt(self):
        receipt = self.cleaned_data["receipt"]
        if receipt and receipt.size > MAX_RECEIPT_BYTES:
            raise forms.ValidationError(_("The file is larger than 5 MB."))
        return receipt


class NotebookRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Superusers record notebooks bought and delivered through one service call each; a record
    is never changed afterwards (a mistake is corrected by the audit's eye, not by editing)."""

    form_class: type[forms.Form]  # its fields are the service's arguments, with user=
    record: staticmethod  # the service: deliveries.record_purchase or record_delivery
    add_title: str

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = self.form_class(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                saved = self.record(**form.cleaned_data, user=request.user)
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, gettext("Recorded: %(record)s.") % {"record": saved}, messages.SUCCESS)
                return HttpResponseRedirect(reverse(f"admin:rewards_{self.opts.model_name}_changelist"))
        return service_form_page(
            self, request, form, title=self.add_title, template=FORM_TEMPLATE, submit_label=gettext("Save")
        )


@admin.register(NotebookPurchase)
class NotebookPurchaseAdmin(NotebookRecordAdmin):
    list_display = ("bought_on", "campaign", "notebooks", "supplier", "cost", "recorded_by")
    list_filter = ("campaign",)
    list_select_related = ("campaign", "recorded_by")
    form_class = PurchaseForm
    record = staticmethod(deliveries.record_purchase)
    add_title = _("Record notebooks bought")


@admin.register(NotebookDelivery)
class NotebookDeliveryAdmin(NotebookRecordAdmin):
    list_display = ("delivered_on", "school", "notebooks", "purchase", "receipt_link", "recorded_by")
    list_filter = ("purchase__campaign",)
    list_select_related = ("purchase", "recorded_by")
    search_fields = ("school",)
    form_class = DeliveryForm
    record = staticmethod(deliveries.record_delivery)
    add_title = _("Record notebooks delivered to a school")
    exclude = ("receipt",)
    readonly_fields = ("receipt_link",)

    def get_urls(self):
        view = self.admin_site.admin_view(self.receipt_view)
        return [path("<int:delivery_id>/receipt/", view, name="rewards_notebookdelivery_receipt"), *super().get_urls()]

    @admin.display(description=_("receipt or photo"))
    def receipt_link(self, delivery: NotebookDelivery) -> str:
        if not delivery.receipt:
            return "–"
        url = reverse("admin:rewards_notebookdelivery_receipt", args=[delivery.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Open"))

    def receipt_view(self, request: HttpRequest, delivery_id: int) -> FileResponse:
        """The uploaded file, to superusers only: receipts are not public files."""
        if not request.user.is_superuser:
            raise PermissionDenied
        delivery = get_object_or_404(NotebookDelivery, pk=delivery_id)
        if not delivery.receipt:
            raise Http404
        return FileResponse(
            delivery.receipt.open("rb"), as_attachment=False, filename=delivery.receipt.name.rsplit("/", 1)[-1]
        )
