"""The audit log in the admin: superusers read, filter and search it; nobody can add, change
or delete an event (and the database refuses UPDATE and DELETE anyway)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdminMixin, SuperuserOnlyAdminMixin

from .models import AuditEvent


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
