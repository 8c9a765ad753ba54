"""The station desk: logging and voiding drop-offs, recording cartons reused or baled, and each
station's cartons on hand.

Station staff (is_staff, in the "Station staff" group) see the rows of the stations they work at
(their StationStaff rows) and record there; superusers see and record everywhere. Nothing here
writes a drop-off, a carton movement or the ledger: each form's save is one service call
(services.record_dropoff, services.record_carton_movement; voiding calls services.void_dropoff),
so the desk keeps every rule the API keeps. A drop-off or a movement is never edited or deleted,
not even by a superuser: a drop-off logged in error is voided, and a movement took the station's
inventory down when it was recorded.
"""

from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import ReadOnlyAdminMixin, service_form_page
from idempotency.errors import KeyReused
from stations.models import Station
from stations.selectors import stations_for_user, works_at

from ..errors import DomainError, VoidNotAllowed
from ..forms import CartonMovementForm, DropOffForm, VoidReasonForm
from ..models import CartonInventory, CartonMovement, DropOff
from ..permissions import can_void_dropoff
from ..selectors import member_search_term
from ..services import DropOffResult, record_carton_movement, record_dropoff, search_members, void_dropoff
from ..tasks import unqueued_recomputes


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


@dataclass(frozen=True)
class Recorded:
    """What a desk form's service recorded: the row, whether it was a replay, and what to tell the user."""

    row: Model
    replayed: bool
    message: str


class DeskFormAdmin(StationScopedAdmin):
    """Rows added only through a desk form (a plain form whose save is one service call, whose
    refusals show as form errors) and never changed or deleted in the admin."""

    desk_form: type[forms.Form]
    desk_form_title: str
    desk_form_template: str
    key_reused_message: str  # the same idempotency key saved earlier with other details

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def record(self, request: HttpRequest, data: dict) -> Recorded:
        """Call the service with the form's cleaned data."""
        raise NotImplementedError

    def desk_form_context(self, request: HttpRequest, stations: QuerySet[Station]) -> dict:
        """What the page shows beside the form."""
        return {}

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form_kwargs = {"user": request.user, "admin_site": self.admin_site}
        if request.method == "POST":
            form = self.desk_form(request.POST, **form_kwargs)
            if form.is_valid():
                recorded = self._record(request, form)
                if recorded is not None:
                    return self._redirect_after_recording(request, recorded.row)
        else:
            form = self.desk_form(initial=initial_station(request), **form_kwargs)
        stations = form.fields["station"].queryset
        return service_form_page(
            self,
            request,
            form,
            title=self.desk_form_title,
            template=self.desk_form_template,
            has_stations=stations.exists(),
            extra_context={**self.desk_form_context(request, stations), **(extra_context or {})},
        )

    def _record(self, request: HttpRequest, form: forms.Form) -> Recorded | None:
        try:
            recorded = self.record(request, form.cleaned_data)
        except KeyReused:
            form.add_error(None, self.key_reused_message)
            return None
        except DomainError as error:
            form.add_error(None, error.message)
            return None
        if not recorded.replayed:
            self.log_addition(request, recorded.row, [{"added": {}}])
        self.message_user(request, recorded.message, messages.SUCCESS)
        return recorded

    def _redirect_after_recording(self, request: HttpRequest, row: Model) -> HttpResponse:
        url_name = f"admin:{self.opts.app_label}_{self.opts.model_name}"
        if "_save" in request.POST:
            return HttpResponseRedirect(reverse(f"{url_name}_changelist", current_app=self.admin_site.name))
        # "Save and ... another" is the usual case, and the default when Enter submits the form.
        add_url = reverse(f"{url_name}_add", current_app=self.admin_site.name)
        return HttpResponseRedirect(f"{add_url}?station={row.station_id}")


# Drop-offs -------------------------------------------------------------------------------------


@admin.register(DropOff)
class DropOffAdmin(DeskFormAdmin):
    list_display = ("occurred_at", "station", "member", "cartons", "points", "status")
    list_select_related = ("station", "member")
    date_hierarchy = "occurred_at"
    search_fields = ("=station__code",)
    search_help_text = _("Station code, member code, the member's full mobile number or its last 4 digits.")
    show_full_result_count = False
    actions = ["void_dropoffs"]
    fields = (
        "station",
        "member_masked",
        "cartons",
        "earning_cartons",
        "points",
        "earning_transfer",
        "reversal_transfer",
        "rule",
        "occurred_at",
        "recorded_at",
        "logged_by",
        "status",
        "void_reason",
        "voided_by",
        "voided_at",
    )
    readonly_fields = ("member_masked",)
    list_filter = ("status",)
    desk_form = DropOffForm
    desk_form_title = _("Log cartons")
    desk_form_template = "admin/recycling/dropoff/log_dropoff.html"
    key_reused_message = _(
        "This form was already saved with other details. Check the drop-off list, "
        "then log again from a new form if needed."
    )

    def get_search_results(self, request, queryset, search_term):
        """A station code, or a member as search_members() finds them (throttled and audited)."""
        if member_search_term(search_term) is None:
            return super().get_search_results(request, queryset, search_term)
        try:
            found = search_members(user=request.user, term=search_term)
        except DomainError as refusal:
            self.message_user(request, refusal.message, messages.ERROR)
            return queryset.none(), False
        return queryset.filter(member__in=[member.pk for member in found]), False

    def has_void_permission(self, request: HttpRequest) -> bool:
        # Whoever may log cartons may void a mistake; which ones is their role's (can_void_dropoff).
        return self.has_add_permission(request)

    @admin.display(description=_("member"))
    def member_masked(self, dropoff: DropOff) -> str:
        return str(dropoff.member)

    def record(self, request: HttpRequest, data: dict) -> Recorded:
        station = data["station"]
        result = record_dropoff(
            station=station,
            member_code=data["member_code"],
            cartons=data["cartons"],
            staff=request.user,
            works_here=works_at(user=request.user, station=station),  # once, here: the service refuses False
            idempotency_key=data["idempotency_key"],
            occurred_at=data.get("occurred_at"),
        )
        return Recorded(row=result.dropoff, replayed=result.replayed, message=_dropoff_message(result))

    # Voiding -------------------------------------------------------------------------------

    @admin.action(description=_("Void selected drop-offs (asks for a reason)"), permissions=["void"])
    def void_dropoffs(self, request, queryset):
        """Ask for a reason on an intermediate page, then void each drop-off in its own transaction.

        Only the drop-offs the user's role lets them void are offered (can_void_dropoff: a
        manager any of the station's, a plain staff user their own within 15 minutes of logging
        them); the others are named in a message. The service checks again when it voids.
        """
        now = timezone.now()
        dropoffs, refused = [], []
        for dropoff in queryset.select_related("station", "member").order_by("pk"):
            (dropoffs if can_void_dropoff(user=request.user, dropoff=dropoff, now=now) else refused).append(dropoff)
        if refused:
            numbers = ", ".join(f"#{dropoff.pk}" for dropoff in refused)
            self.message_user(
                request,
                _("Not voided: %(dropoffs)s. %(rule)s") % {"dropoffs": numbers, "rule": VoidNotAllowed.default_message},
                messages.WARNING,
            )
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
        with unqueued_recomputes() as unqueued:
            self._void_each(request, dropoffs, reason=reason)
        if unqueued:
            self.message_user(
                request,
                _(
                    "The task queue is not answering: the totals of %(days)s were not recomputed. "
                    "Recompute those days from the daily totals once it is back."
                )
                % {"days": ", ".join(sorted({day.isoformat() for day in unqueued}))},
                messages.WARNING,
            )

    def _void_each(self, request: HttpRequest, dropoffs: list[DropOff], *, reason: str) -> None:
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
                "%(capped)d carton was beyond the member's caps and earned no points.",
                "%(capped)d cartons were beyond the member's caps and earned no points.",
                result.capped_cartons,
            )
            % values
        )
    return message


# Carton reuse loop ---------------------------------------------------------------------------


@admin.register(CartonMovement)
class CartonMovementAdmin(DeskFormAdmin):
    """Cartons reused for a parcel or baled, recorded by staff through record_carton_movement()."""

    list_display = ("occurred_at", "station", "kind", "cartons", "recorded_by")
    list_filter = ("kind",)
    list_select_related = ("station", "recorded_by")
    date_hierarchy = "occurred_at"
    search_fields = ("=station__code",)
    search_help_text = _("Station code.")
    show_full_result_count = False
    fields = ("station", "kind", "cartons", "occurred_at", "recorded_by")
    desk_form = CartonMovementForm
    desk_form_title = _("Record cartons reused or baled")
    desk_form_template = "admin/recycling/cartonmovement/record_movement.html"
    key_reused_message = _(
        "This form was already saved with other details. Check the list of carton movements, "
        "then record again from a new form if needed."
    )

    def record(self, request: HttpRequest, data: dict) -> Recorded:
        works_here = works_at(user=request.user, station=data["station"])  # once, here: the service refuses False
        result = record_carton_movement(staff=request.user, works_here=works_here, **data)  # the form's fields
        message = _movement_message(result.movement, on_hand=result.on_hand, replayed=result.replayed)
        return Recorded(row=result.movement, replayed=result.replayed, message=message)

    def desk_form_context(self, request: HttpRequest, stations: QuerySet[Station]) -> dict:
        # Staff see what their stations have on hand; a superuser's "all stations" is too many.
        if request.user.is_superuser:
            return {"inventories": []}
        return {"inventories": CartonInventory.objects.filter(station__in=stations).select_related("station")}


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
class CartonInventoryAdmin(ReadOnlyAdminMixin, StationScopedAdmin):
    """Cartons on hand, per station: only drop-offs and carton movements change them."""

    list_display = ("station", "station__city", "on_hand")
    list_select_related = ("station__city",)
    search_fields = ("=station__code",)
    search_help_text = _("Station code.")
    ordering = ("station__code",)
    fields = ("station", "on_hand")
    show_full_result_count = False
