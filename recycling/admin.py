"""The station desk: logging and voiding drop-offs, and read-only views of members and the ledger.

Who sees what:
- Station staff (is_staff, in the "Station staff" group) see the drop-offs of the stations they
  work at (their StationStaff rows), log cartons there and void drop-offs there. They find
  members only through the autocomplete of the log form, never by browsing the member list.
  They also record the cartons their stations reuse for parcels or bale for pulping, and read
  their stations' carton inventory.
- Superusers see everything, manage earning rules, emission factors and recycling campaigns, and
  read members, accounts, transfers and the daily totals. The daily totals follow the model view
  permission, so an operations group can later be given them without being superusers.

Nothing here writes a drop-off, a carton movement or the ledger: logging calls
services.record_dropoff, voiding calls services.void_dropoff and recording reuse or baling calls
services.record_carton_movement, so the admin keeps every rule the API keeps. Drop-offs, carton
movements, transfers, accounts and members can be neither edited nor deleted in the admin; a
drop-off logged in error is voided.
"""

import re
import unicodedata

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from kombu.exceptions import OperationalError as BrokerError

from audit.models import AuditEvent
from audit.services import record_event
from stations.selectors import stations_for_user

from . import tasks
from .errors import DomainError, IdempotencyKeyReused
from .forms import CartonMovementForm, DropOffForm, EmissionFactorForm, RecyclingCampaignForm, VoidReasonForm
from .mobile import mask_mobile, normalize_mobile
from .models import (
    MEMBER_CODE_LENGTH,
    Account,
    CartonInventory,
    CartonMovement,
    DailyCityTotal,
    DailyStationTotal,
    DropOff,
    EarningRule,
    EmissionFactor,
    Member,
    RecyclingCampaign,
    Transfer,
)
from .selectors import campaign_cartons, campaign_days
from .services import DropOffResult, record_carton_movement, record_dropoff, void_dropoff

# A search for a member needs at least the last 4 digits of the mobile number, so that the
# member list cannot be browsed through the autocomplete ("1", "13", ... would list everyone).
MIN_MEMBER_SEARCH_DIGITS = 4
_TRAILING_DIGITS = re.compile(rf"^[0-9]{{{MIN_MEMBER_SEARCH_DIGITS},10}}$")
_SEPARATORS = re.compile(r"[\s\-]")


def search_members(queryset: QuerySet[Member], term: str) -> QuerySet[Member]:
    """Members matching a full mobile number, its last 4 to 10 digits, or an exact member code.

    Anything shorter or vaguer matches nobody.
    """
    term = unicodedata.normalize("NFKC", term or "").strip()  # full-width digits from Chinese IMEs
    if not term:
        return queryset.none()
    try:
        return queryset.filter(mobile=normalize_mobile(term))
    except ValidationError:
        pass
    digits = _SEPARATORS.sub("", term)
    if _TRAILING_DIGITS.match(digits):
        return queryset.filter(mobile__endswith=digits)
    if len(term) == MEMBER_CODE_LENGTH:
        return queryset.filter(code=term.upper())
    return queryset.none()


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records that only services write: no add, change or delete in the admin, for anyone."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class SuperuserOnlyAdmin(admin.ModelAdmin):
    """Visible to superusers only, whatever model permissions a staff user has been given."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(Member)
class MemberAdmin(ReadOnlyAdmin):
    """Members, masked. Superusers read them here; staff only search them from the log form.

    Staff hold the view permission because the autocomplete needs it, so the pages themselves
    refuse anyone but a superuser.
    """

    list_display = ("masked_mobile", "joined_at", "balance")
    fields = ("masked_mobile", "joined_at", "balance")
    readonly_fields = fields
    list_select_related = ("account",)
    ordering = ("-joined_at",)
    # The autocomplete requires search_fields; get_search_results() decides what matches.
    search_fields = ("mobile",)
    search_help_text = _("The full mobile number, its last 4 digits, or the member code.")
    show_full_result_count = False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def changelist_view(self, request, extra_context=None):
        self._require_superuser(request)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._require_superuser(request)
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._require_superuser(request)
        return super().history_view(request, object_id, extra_context)

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip() and request.user.is_superuser and not _is_autocomplete(request):
            return queryset, False  # a superuser's member list without a search
        return search_members(queryset, search_term), False

    @admin.display(description=_("mobile number"), ordering="mobile")
    def masked_mobile(self, member: Member) -> str:
        return mask_mobile(member.mobile)

    @admin.display(description=_("points balance"), ordering="account__balance")
    def balance(self, member: Member) -> int:
        return member.account.balance

    @staticmethod
    def _require_superuser(request: HttpRequest) -> None:
        if not request.user.is_superuser:
            raise PermissionDenied


def initial_station(request: HttpRequest) -> dict:
    """The station a desk form starts with: the one in ?station= (set after a save, so the next
    form stays at the same station), else the user's first active station; none for a superuser."""
    stations = stations_for_user(user=request.user)
    requested = request.GET.get("station", "")
    if requested.isdigit() and stations.filter(pk=requested).exists():
        return {"station": int(requested)}
    if request.user.is_superuser:
        return {}  # every station: let them search
    first = stations.filter(is_active=True).first() or stations.first()
    return {"station": first.pk} if first else {}


def _is_autocomplete(request: HttpRequest) -> bool:
    match = request.resolver_match
    return match is not None and match.url_name == "autocomplete"


@admin.register(Account)
class AccountAdmin(SuperuserOnlyAdmin, ReadOnlyAdmin):
    list_display = ("__str__", "kind", "balance", "created_at")
    list_filter = ("kind",)
    list_select_related = ("member", "station")
    search_fields = ("=member__mobile", "=member__code", "=station__code", "name")
    search_help_text = _("Full mobile number, member code, station code or account name.")
    fields = ("kind", "member", "station", "name", "balance", "created_at")
    show_full_result_count = False


@admin.register(Transfer)
class TransferAdmin(SuperuserOnlyAdmin, ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "debit_account", "credit_account", "amount", "dropoff")
    list_filter = ("kind",)
    list_select_related = (
        "debit_account__member",
        "debit_account__station",
        "credit_account__member",
        "credit_account__station",
        "dropoff__station",
    )
    search_fields = ("=idempotency_key",)
    date_hierarchy = "created_at"
    fields = (
        "kind",
        "amount",
        "debit_account",
        "credit_account",
        "dropoff",
        "reverses",
        "created_at",
        "idempotency_key",
    )
    show_full_result_count = False


@admin.register(EarningRule)
class EarningRuleAdmin(SuperuserOnlyAdmin):
    """Superusers add and change rules; none is deleted, since drop-offs record the rule they used."""

    list_display = ("points_per_carton", "daily_carton_cap", "city", "valid_from", "valid_to")
    list_filter = (("city", admin.EmptyFieldListFilter),)
    list_select_related = ("city",)
    autocomplete_fields = ("city",)
    date_hierarchy = "valid_from"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        record_event(action=AuditEvent.Action.RULE_CHANGED, target=obj, details=_changed_fields(form, change))

    def get_readonly_fields(self, request, obj=None):
        # Drop-offs keep the rule that priced them; once one has, only its end can still be set,
        # so the points of past drop-offs stay explainable.
        if obj is not None and obj.dropoffs.exists():
            return ("points_per_carton", "daily_carton_cap", "city", "valid_from")
        return ()


class StationFilter(admin.SimpleListFilter):
    """The user's own stations; a superuser (all stations) first picks a city to list its stations."""

    title = _("station")
    parameter_name = "station"
    city_parameter = "station__city__id__exact"

    def lookups(self, request, model_admin):
        stations = stations_for_user(user=request.user)
        if request.user.is_superuser:
            city = request.GET.get(self.city_parameter, "")
            if not city.isdigit():
                return []
            stations = stations.filter(city_id=city)
        return [(str(station.pk), str(station)) for station in stations]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(station_id=self.value())
        return queryset


def service_form_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    form: forms.Form,
    *,
    title: str,
    template: str,
    extra_context: dict | None = None,
    **context,
) -> TemplateResponse:
    """The admin page of a form whose save calls a service (log cartons, record reuse): the
    admin's chrome, the form, its errors and media, and whether the user has any station."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": model_admin.opts,
        "form": form,
        "errors": form.errors,
        "media": model_admin.media + form.media,
        "has_view_permission": model_admin.has_view_permission(request),
        "has_stations": form.fields["station"].queryset.exists(),
        **context,
        **(extra_context or {}),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, template, context)


@admin.register(DropOff)
class DropOffAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "station", "member", "cartons", "points", "status")
    list_select_related = ("station", "member")
    date_hierarchy = "occurred_at"
    search_fields = ("=station__code", "=member__code", "member__mobile__endswith")
    search_help_text = _("Station code, member code, or the last digits of the member's mobile number.")
    show_full_result_count = False
    actions = ["void_dropoffs"]
    fields = (
        "station",
        "member_masked",
        "cartons",
        "earning_cartons",
        "points",
        "rule",
        "occurred_at",
        "recorded_at",
        "logged_by",
        "status",
        "void_reason",
        "voided_by",
        "voided_at",
        "idempotency_key",
    )
    readonly_fields = ("member_masked",)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(station__in=stations_for_user(user=request.user))

    def get_list_filter(self, request):
        if request.user.is_superuser:
            return ("status", "station__city", StationFilter)
        return ("status", StationFilter)

    # A drop-off is never edited or deleted, not even by a superuser: it is voided instead.
    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_void_permission(self, request: HttpRequest) -> bool:
        # Whoever may log cartons may void a mistake; the service checks they work at the station.
        return self.has_add_permission(request)

    @admin.display(description=_("member"))
    def member_masked(self, dropoff: DropOff) -> str:
        return str(dropoff.member)

    # Logging cartons -----------------------------------------------------------------------

    def add_view(self, request, form_url="", extra_context=None):
        """The log form: a plain form whose refusals come from record_dropoff()."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form_kwargs = {"user": request.user, "admin_site": self.admin_site}
        if request.method == "POST":
            form = DropOffForm(request.POST, **form_kwargs)
            if form.is_valid():
                result = self._record(request, form)
                if result is not None:
                    self.message_user(request, _dropoff_message(result), messages.SUCCESS)
                    return self._redirect_after_logging(request, result.dropoff)
        else:
            form = DropOffForm(initial=self._initial_station(request), **form_kwargs)
        return service_form_page(
            self, request, form, title=_("Log cartons"), template="admin/recycling/dropoff/log_dropoff.html",
            extra_context=extra_context,
        )  # fmt: skip

    def _record(self, request: HttpRequest, form: DropOffForm) -> DropOffResult | None:
        data = form.cleaned_data
        try:
            result = record_dropoff(
                station=data["station"],
                member_code=data["member_code"],
                cartons=data["cartons"],
                staff=request.user,
                idempotency_key=data["idempotency_key"],
            )
        except IdempotencyKeyReused:
            form.add_error(
                None,
                _(
                    "This form was already saved with other details. Check the drop-off list, "
                    "then log again from a new form if needed."
                ),
            )
            return None
        except DomainError as error:
            form.add_error(None, error.message)
            return None
        if not result.replayed:
            self.log_addition(request, result.dropoff, [{"added": {}}])
        return result

    def _initial_station(self, request: HttpRequest) -> dict:
        """The station of the last drop-off logged from this desk, else the user's first active one."""
        return initial_station(request)

    def _redirect_after_logging(self, request: HttpRequest, dropoff: DropOff) -> HttpResponse:
        if "_save" in request.POST:
            return HttpResponseRedirect(reverse("admin:recycling_dropoff_changelist", current_app=self.admin_site.name))
        # "Save and log another" is the usual case, and the default when Enter submits the form.
        add_url = reverse("admin:recycling_dropoff_add", current_app=self.admin_site.name)
        return HttpResponseRedirect(f"{add_url}?station={dropoff.station_id}")

    # Voiding -------------------------------------------------------------------------------

    @admin.action(description=_("Void selected drop-offs (asks for a reason)"), permissions=["void"])
    def void_dropoffs(self, request, queryset):
        """Ask for a reason on an intermediate page, then void each drop-off in its own transaction."""
        dropoffs = list(queryset.select_related("station", "member").order_by("pk"))
        if not dropoffs:
            self.message_user(request, _("None of the selected drop-offs can be voided by you."), messages.WARNING)
            return None
        if "apply" in request.POST:
            form = VoidReasonForm(request.POST)
            if form.is_valid():
                self._void(request, dropoffs, reason=form.cleaned_data["reason"])
                return None  # back to the list, which shows the messages
        else:
            form = VoidReasonForm()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Void drop-offs"),
            "subtitle": None,
            "opts": self.opts,
            "form": form,
            "dropoffs": dropoffs,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/recycling/dropoff/void_confirmation.html", context)

    def _void(self, request: HttpRequest, dropoffs: list[DropOff], *, reason: str) -> None:
        voided = 0
        for dropoff in dropoffs:
            try:
                # Each void is its own transaction: one refusal does not undo the others.
                void_dropoff(dropoff_id=dropoff.pk, staff=request.user, reason=reason)
            except DomainError as error:
                self.message_user(
                    request,
                    _("Drop-off #%(id)s (%(dropoff)s) was not voided: %(message)s")
                    % {"id": dropoff.pk, "dropoff": dropoff, "message": error.message},
                    messages.ERROR,
                )
            else:
                voided += 1
                self.log_change(request, dropoff, _("Voided: %(reason)s") % {"reason": reason})
        if voided:
            self.message_user(
                request,
                ngettext(
                    "%(count)d drop-off voided and its points reversed.",
                    "%(count)d drop-offs voided and their points reversed.",
                    voided,
                )
                % {"count": voided},
                messages.SUCCESS,
            )


def _dropoff_message(result: DropOffResult) -> str:
    dropoff = result.dropoff
    values = {
        "cartons": dropoff.cartons,
        "member": dropoff.member,
        "station": dropoff.station.code,
        "points": dropoff.points,
        "balance": result.balance,
        "capped": result.capped_cartons,
    }
    if result.replayed:
        message = ngettext(
            "This form was already saved: %(cartons)d carton for %(member)s at %(station)s, "
            "%(points)d points. It was not logged again; the balance is %(balance)d points.",
            "This form was already saved: %(cartons)d cartons for %(member)s at %(station)s, "
            "%(points)d points. They were not logged again; the balance is %(balance)d points.",
            dropoff.cartons,
        )
    else:
        message = ngettext(
            "Logged %(cartons)d carton for %(member)s at %(station)s: %(points)d points awarded, "
            "new balance %(balance)d points.",
            "Logged %(cartons)d cartons for %(member)s at %(station)s: %(points)d points awarded, "
            "new balance %(balance)d points.",
            dropoff.cartons,
        )
    message %= values
    if result.capped_cartons:
        message += " " + (
            ngettext(
                "%(capped)d carton was beyond the member's daily cap and earned no points.",
                "%(capped)d cartons were beyond the member's daily cap and earned no points.",
                result.capped_cartons,
            )
            % values
        )
    return message


# Carton reuse loop ---------------------------------------------------------------------------


class StationScopedAdmin(admin.ModelAdmin):
    """Rows of the stations the user works at (all of them for a superuser), filterable by station."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(station__in=stations_for_user(user=request.user))

    def get_list_filter(self, request):
        own = tuple(self.list_filter)
        if request.user.is_superuser:
            return (*own, "station__city", StationFilter)
        return (*own, StationFilter)


@admin.register(CartonMovement)
class CartonMovementAdmin(StationScopedAdmin):
    """Cartons reused for a parcel or baled, recorded by staff through record_carton_movement().

    A movement is never edited or deleted, not even by a superuser: the station's inventory was
    taken down by it when it was recorded.
    """

    list_display = ("occurred_at", "station", "kind", "cartons", "recorded_by")
    list_filter = ("kind",)
    list_select_related = ("station", "recorded_by")
    date_hierarchy = "occurred_at"
    search_fields = ("=station__code",)
    search_help_text = _("Station code.")
    show_full_result_count = False
    fields = ("station", "kind", "cartons", "occurred_at", "recorded_by", "idempotency_key")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def add_view(self, request, form_url="", extra_context=None):
        """The record form: a plain form whose refusals come from record_carton_movement()."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form_kwargs = {"user": request.user, "admin_site": self.admin_site}
        if request.method == "POST":
            form = CartonMovementForm(request.POST, **form_kwargs)
            if form.is_valid():
                movement = self._record(request, form)
                if movement is not None:
                    return self._redirect_after_recording(request, movement)
        else:
            form = CartonMovementForm(initial=initial_station(request), **form_kwargs)
        stations = form.fields["station"].queryset
        return service_form_page(
            self,
            request,
            form,
            title=_("Record cartons reused or baled"),
            template="admin/recycling/cartonmovement/record_movement.html",
            # Staff see what their stations have on hand; a superuser's "all stations" is too many.
            inventories=(
                []
                if request.user.is_superuser
                else CartonInventory.objects.filter(station__in=stations).select_related("station")
            ),
            extra_context=extra_context,
        )

    def _record(self, request: HttpRequest, form: CartonMovementForm) -> CartonMovement | None:
        data = form.cleaned_data
        try:
            result = record_carton_movement(
                station=data["station"],
                kind=data["kind"],
                cartons=data["cartons"],
                staff=request.user,
                idempotency_key=data["idempotency_key"],
            )
        except IdempotencyKeyReused:
            form.add_error(
                None,
                _(
                    "This form was already saved with other details. Check the list of carton movements, "
                    "then record again from a new form if needed."
                ),
            )
            return None
        except DomainError as error:
            form.add_error(None, error.message)
            return None
        if not result.replayed:
            self.log_addition(request, result.movement, [{"added": {}}])
        self.message_user(
            request,
            _movement_message(result.movement, on_hand=result.on_hand, replayed=result.replayed),
            messages.SUCCESS,
        )
        return result.movement

    def _redirect_after_recording(self, request: HttpRequest, movement: CartonMovement) -> HttpResponse:
        if "_save" in request.POST:
            return HttpResponseRedirect(
                reverse("admin:recycling_cartonmovement_changelist", current_app=self.admin_site.name)
            )
        add_url = reverse("admin:recycling_cartonmovement_add", current_app=self.admin_site.name)
        return HttpResponseRedirect(f"{add_url}?station={movement.station_id}")


def _movement_message(movement: CartonMovement, *, on_hand: int, replayed: bool) -> str:
    values = {"cartons": movement.cartons, "station": movement.station.code, "on_hand": on_hand}
    if replayed:
        recorded = ngettext(
            "This form was already saved: %(cartons)d carton at %(station)s. It was not recorded again.",
            "This form was already saved: %(cartons)d cartons at %(station)s. They were not recorded again.",
            movement.cartons,
        )
    elif movement.kind == CartonMovement.Kind.REUSED:
        recorded = ngettext(
            "Recorded %(cartons)d carton reused for a parcel at %(station)s.",
            "Recorded %(cartons)d cartons reused for a parcel at %(station)s.",
            movement.cartons,
        )
    else:
        recorded = ngettext(
            "Recorded %(cartons)d carton baled for pulping at %(station)s.",
            "Recorded %(cartons)d cartons baled for pulping at %(station)s.",
            movement.cartons,
        )
    now_on_hand = ngettext(
        "%(on_hand)d carton is now on hand there.", "%(on_hand)d cartons are now on hand there.", on_hand
    )
    return f"{recorded % values} {now_on_hand % values}"


@admin.register(CartonInventory)
class CartonInventoryAdmin(StationScopedAdmin, ReadOnlyAdmin):
    """Cartons on hand, per station: only drop-offs and carton movements change them."""

    list_display = ("station", "station__city", "on_hand")
    list_select_related = ("station__city",)
    search_fields = ("=station__code",)
    search_help_text = _("Station code.")
    ordering = ("station__code",)
    fields = ("station", "on_hand")
    show_full_result_count = False


# Carbon accounting and campaigns ---------------------------------------------------------------


@admin.register(EmissionFactor)
class EmissionFactorAdmin(SuperuserOnlyAdmin):
    """Superusers add factors. A factor a drop-off used is read-only (the drop-off's kg CO2e must
    stay explainable), and no factor is deleted."""

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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if not request.user.is_superuser:
            return False
        return obj is None or not _factor_in_use(obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return ("co2e_per_carton",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        record_event(action=AuditEvent.Action.RULE_CHANGED, target=obj, details=_changed_fields(form, change))

    @admin.display(description=_("kg CO2e per carton"))
    def co2e_per_carton(self, factor: EmissionFactor) -> str:
        return f"{factor.kg_co2e_per_carton:.3f}"

    @admin.display(description=_("used by drop-offs"), boolean=True, ordering="in_use")
    def in_use(self, factor: EmissionFactor) -> bool:
        return _factor_in_use(factor)


def _changed_fields(form, change: bool) -> dict:
    """For the audit log: the fields a superuser set, with their new values (related objects by pk)."""
    fields = form.changed_data if change else list(form.cleaned_data)
    values = {f: getattr(form.cleaned_data.get(f), "pk", form.cleaned_data.get(f)) for f in fields}
    return {"created": not change, "changed": values}


def _factor_in_use(factor: EmissionFactor) -> bool:
    in_use = getattr(factor, "in_use", None)  # annotated by EmissionFactorAdmin.get_queryset
    return factor.dropoffs.exists() if in_use is None else in_use


@admin.register(RecyclingCampaign)
class RecyclingCampaignAdmin(SuperuserOnlyAdmin):
    """Festival campaigns: superusers manage them; their cartons are read from the daily totals."""

    form = RecyclingCampaignForm
    list_display = ("name", "start_day", "end_day", "target_cartons", "cartons_to_date", "progress", "compared_with")
    list_select_related = ("compared_with",)
    search_fields = ("name",)
    date_hierarchy = "start_day"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Campaigns are settings, not records; one that another is compared with is protected.
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        return ("cartons_to_date", "progress", "compared_to_date") if obj is not None else ()

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


# Daily totals ----------------------------------------------------------------------------------

# A recompute is one task per day; more than a month at once is more likely a slip of "select all".
MAX_RECOMPUTE_DAYS = 31


class DailyTotalAdmin(ReadOnlyAdmin):
    """Daily totals, written only by recycling.totals. Who may read them follows the model view
    permission (superusers have it; the "Station staff" group does not), and whoever may read
    them may ask for a day to be recomputed: the task overwrites the day, so it cannot harm."""

    date_hierarchy = "day"
    list_filter = ("city",)
    readonly_fields = ("reuse_rate",)
    ordering = ("-day",)
    show_full_result_count = False
    actions = ["recompute_days"]

    @admin.display(description=_("reuse rate"))
    def reuse_rate(self, total) -> str | None:
        rate = total.reuse_rate
        return None if rate is None else f"{rate:.1%}"

    @admin.action(description=_("Recompute the selected days"), permissions=["view"])
    def recompute_days(self, request, queryset):
        """Enqueue recycling.tasks.aggregate_day_totals once per distinct day of the selected rows."""
        days = list(queryset.order_by("day").values_list("day", flat=True).distinct())
        if len(days) > MAX_RECOMPUTE_DAYS:
            self.message_user(
                request,
                _("Select at most %(max)d days to recompute at a time; %(count)d were selected.")
                % {"max": MAX_RECOMPUTE_DAYS, "count": len(days)},
                messages.ERROR,
            )
            return
        queued = []
        for day in days:
            try:
                tasks.aggregate_day_totals.delay(day.isoformat())
            except BrokerError:
                self.message_user(
                    request,
                    _("The task queue is not answering; the recompute of %(day)s and later days was not queued.")
                    % {"day": day.isoformat()},
                    messages.ERROR,
                )
                break
            queued.append(day.isoformat())
        if queued:
            self.message_user(
                request,
                ngettext(
                    "Recompute queued for %(count)d day: %(days)s. Its totals are replaced once the worker has run.",
                    "Recompute queued for %(count)d days: %(days)s. Their totals are replaced once the worker has run.",
                    len(queued),
                )
                % {"count": len(queued), "days": ", ".join(queued)},
                messages.SUCCESS,
            )


@admin.register(DailyStationTotal)
class DailyStationTotalAdmin(DailyTotalAdmin):
    list_display = (
        "day",
        "station",
        "city",
        "cartons",
        "dropoffs",
        "members",
        "cartons_reused",
        "reuse_rate",
        "co2e_kg",
        "points_issued",
        "points_redeemed",
        "points_donated",
        "computed_at",
    )
    list_select_related = ("station", "city")
    search_fields = ("=station__code",)
    search_help_text = _("Station code.")


@admin.register(DailyCityTotal)
class DailyCityTotalAdmin(DailyTotalAdmin):
    list_display = (
        "day",
        "city",
        "stations",
        "cartons",
        "dropoffs",
        "members",
        "cartons_reused",
        "reuse_rate",
        "co2e_kg",
        "points_issued",
        "points_redeemed",
        "points_donated",
        "computed_at",
    )
    list_select_related = ("city",)
