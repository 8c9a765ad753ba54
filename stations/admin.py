"""Cities, stations and who works where: managed by superusers.

Station and assignment changes are audited (audit.admin.AuditedAdminMixin).

Station staff see the stations they work at, read-only (the "Station staff" group has only
the view permission); they never see cities or other people's assignments. Cities and
stations are not deleted in the admin (drop-offs and accounts refer to them): a station that
closes is made inactive.
"""

from django.contrib import admin
from django.http import HttpRequest

from audit.admin import AuditedAdminMixin
from audit.models import AuditEvent
from audit.services import record_event
from core.admin import SuperuserEditsAdminMixin, SuperuserOnlyAdminMixin
from stations.selectors import stations_for_user

from .models import City, Station, StationStaff


@admin.register(City)
class CityAdmin(SuperuserOnlyAdminMixin, SuperuserEditsAdminMixin, admin.ModelAdmin):
    list_display = ("code", "name_zh", "name", "province")
    list_filter = ("province",)
    search_fields = ("code", "name", "name_zh")


class StationStaffInline(admin.TabularInline):
    model = StationStaff
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Station)
class StationAdmin(AuditedAdminMixin, SuperuserEditsAdminMixin, admin.ModelAdmin):
    # Each save is an audit event, with the fields and the staff rows (the inline) it changed.
    audit_action = AuditEvent.Action.STATION_CHANGED

    list_display = ("code", "name", "city", "opening_hours", "is_active")
    list_filter = ("is_active",)
    list_select_related = ("city",)
    search_fields = ("code", "name", "address")
    autocomplete_fields = ("city",)
    show_full_result_count = False

    def get_queryset(self, request):
        # Staff see (and, in autocompletes, find) only the stations they work at.
        return super().get_queryset(request) & stations_for_user(user=request.user)

    def get_list_filter(self, request):
        if request.user.is_superuser:
            return ("is_active", "city")
        return ("is_active",)

    def get_inlines(self, request, obj):
        return [StationStaffInline] if request.user.is_superuser else []

    def save_formset(self, request, form, formset, change):
        """The staff rows added, changed or removed in the inline are staff-assignment events of
        their own, as in the assignments' own admin (the station's event lists them too)."""
        super().save_formset(request, form, formset, change)
        if formset.model is not StationStaff:
            return
        changes = [("added", obj) for obj in formset.new_objects]
        changes += [("changed", obj) for obj, _fields in formset.changed_objects]
        for operation, obj in changes:
            record_event(
                action=AuditEvent.Action.STAFF_ASSIGNMENT_CHANGED,
                user=request.user,
                target=obj,
                details={"operation": operation, "user": obj.user_id, "station": obj.station_id, "role": obj.role},
            )
        for obj in formset.deleted_objects:
            record_event(
                action=AuditEvent.Action.STAFF_ASSIGNMENT_CHANGED,
                user=request.user,
                details={"operation": "deleted", "user": obj.user_id, "station": obj.station_id, "role": obj.role},
            )


@admin.register(StationStaff)
class StationStaffAdmin(AuditedAdminMixin, SuperuserOnlyAdminMixin, SuperuserEditsAdminMixin, admin.ModelAdmin):
    """Who works where. Removing someone from a station (delete) is allowed: it is an assignment,
    not a record the ledger refers to. Every add, change and removal is an audit event."""

    audit_action = AuditEvent.Action.STAFF_ASSIGNMENT_CHANGED

    list_display = ("user", "station", "role")
    list_filter = ("role",)
    list_select_related = ("user", "station")
    search_fields = ("user__username", "=station__code")
    autocomplete_fields = ("user", "station")

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser
