"""The audit log in the admin: superusers read, filter and search it; nobody can add, change
or delete an event (and the database refuses UPDATE and DELETE anyway).

AuditedAdminMixin records every add, change and delete made through a ModelAdmin as an audit
event, in the admin's own transaction, from the hooks the admin calls after each save
(log_addition, log_change, log_deletions), with Django's change message (the fields and inline
rows changed) and, for many-to-many fields such as groups and permissions, what was added and
removed. Django's user and group admins are registered again here with it, so user, group and
permission changes are audited.
"""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission, User
from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdminMixin, SuperuserOnlyAdminMixin

from .models import AuditEvent, HourlyCount
from .services import record_event


def _m2m_label(obj: models.Model) -> str:
    if isinstance(obj, Permission):
        return f"{obj.content_type.app_label}.{obj.codename}"
    return str(obj)


class AuditedAdminMixin:
    """Put it before admin.ModelAdmin (or the ModelAdmin it extends) and set `audit_action`;
    `audited_m2m` names the many-to-many fields whose additions and removals are recorded."""

    audit_action: str = ""
    audited_m2m: tuple[str, ...] = ()

    def _m2m_values(self, obj: models.Model) -> dict[str, set[str]]:
        values = {}
        for name in self.audited_m2m:
            related = getattr(obj, name).all()
            if related.model is Permission:
                related = related.select_related("content_type")
            values[name] = {_m2m_label(item) for item in related}
        return values

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        before = self._m2m_values(form.instance) if change else {name: set() for name in self.audited_m2m}
        super().save_related(request, form, formsets, change)
        after = self._m2m_values(form.instance)
        request._audited_m2m = {
            name: {"added": sorted(after[name] - before[name]), "removed": sorted(before[name] - after[name])}
            for name in self.audited_m2m
            if after[name] != before[name]
        }

    def _record(self, request: HttpRequest, obj: models.Model, operation: str, message) -> None:
        details = {"operation": operation}
        if message:
            details["message"] = message
        m2m = getattr(request, "_audited_m2m", None)
        if m2m:
            details["m2m"] = m2m
        record_event(action=self.audit_action, user=request.user, target=obj, details=details)

    def log_addition(self, request: HttpRequest, obj: models.Model, message):
        self._record(request, obj, "added", message)
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: models.Model, message):
        self._record(request, obj, "changed", message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset):
        for obj in queryset:
            self._record(request, obj, "deleted", None)
        return super().log_deletions(request, queryset)


@admin.register(AuditEvent)
class AuditEventAdmin(SuperuserOnlyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "action", "username", "target_description", "address")
    list_filter = ("action", ("user", admin.RelatedOnlyFieldListFilter), "address")
    list_select_related = ("user",)
    date_hierarchy = "at"
    search_fields = ("username", "=address", "target_description", "=target_id")
    search_help_text = _("Username, exact address, target or target id.")
    show_full_result_count = False
    fields = (
        "at",
        "action",
        "user",
        "username",
        "target_type",
        "target_id",
        "target_description",
        "details",
        "address",
    )
    readonly_fields = fields


@admin.register(HourlyCount)
class HourlyCountAdmin(SuperuserOnlyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("hour", "kind", "count")
    list_filter = ("kind",)
    date_hierarchy = "hour"


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(AuditedAdminMixin, UserAdmin):
    audit_action = AuditEvent.Action.USER_CHANGED
    audited_m2m = ("groups", "user_permissions")

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        """A user's page shows their name and e-mail address: opening it is a view of personal
        data, recorded (the member pages' own views are the members' admin's)."""
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            user = response.context_data["original"]
            record_event(
                action=AuditEvent.Action.PERSONAL_DATA_VIEWED,
                user=request.user,
                target=user,
                details={"fields": ["username", "first_name", "last_name", "email"]},
            )
        return response


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdminMixin, GroupAdmin):
    audit_action = AuditEvent.Action.GROUP_CHANGED
    audited_m2m = ("permissions",)
