"""Read-only lists of the station desk's records: drop-offs, carton movements and each
station's cartons on hand.

Station staff (is_staff, in the "Station staff" group) see the rows of the stations they work at
(their StationStaff rows); superusers see everything. Nothing is written here: logging, voiding
and recording carton movements are the station desk's (desk/, each one service call), and a
drop-off or a movement is never edited or deleted, not even by a superuser.
"""

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdminMixin
from stations.selectors import stations_for_user

from ..errors import DomainError
from ..models import CartonInventory, CartonMovement, DropOff
from ..selectors import member_search_term
from ..services import search_members


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


class StationScopedAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Rows of the stations the user works at (all of them for a superuser), filterable by
    station, never added, changed or deleted here."""

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


@admin.register(DropOff)
class DropOffAdmin(StationScopedAdmin):
    list_display = ("occurred_at", "station", "member", "cartons", "points", "status")
    list_select_related = ("station", "member")
    date_hierarchy = "occurred_at"
    search_fields = ("=station__code",)
    search_help_text = _("Station code, member code, the member's full mobile number or its last 4 digits.")
    show_full_result_count = False
    list_filter = ("status",)
    readonly_fields = ("member_masked",)

    def get_fields(self, request: HttpRequest, obj=None):
        fields = [
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
        ]
        if request.user.is_superuser:  # the ledger's pages, which only superusers open
            fields[5:5] = ["earning_transfer", "reversal_transfer"]
        return fields

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

    @admin.display(description=_("member"))
    def member_masked(self, dropoff: DropOff) -> str:
        return str(dropoff.member)


@admin.register(CartonMovement)
class CartonMovementAdmin(StationScopedAdmin):
    """Cartons reused for a parcel or baled, as the desk recorded them (record_carton_movement())."""

    list_display = ("occurred_at", "station", "kind", "cartons", "recorded_by")
    list_filter = ("kind",)
    list_select_related = ("station", "recorded_by")
    date_hierarchy = "occurred_at"
    search_fields = ("=station__code",)
    search_help_text = _("Station code.")
    show_full_result_count = False
    fields = ("station", "kind", "cartons", "occurred_at", "recorded_by")


@admin.register(CartonInventory)
class CartonInventoryAdmin(StationScopedAdmin):
    """Cartons on hand, per station: only drop-offs and carton movements change them."""

    list_display = ("station", "city", "on_hand")
    list_select_related = ("station__city",)
    search_fields = ("=station__code",)
    search_help_text = _("Station code.")
    ordering = ("station__code",)
    fields = ("station", "on_hand")
    show_full_result_count = False

    @admin.display(description=_("city"), ordering="station__city__name")
    def city(self, inventory: CartonInventory) -> str:
        return str(inventory.station.city)
