"""Idempotency records, read-only for superusers (to see what a device sent and got back).

API tokens are created and revoked with rest_framework.authtoken's own admin ("Tokens")."""

from django.contrib import admin

from core.admin import ReadOnlyAdminMixin, SuperuserOnlyAdminMixin

from .models import IdempotencyRecord


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(SuperuserOnlyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "user", "key", "method", "path", "status", "response_status")
    list_filter = ("status", "method")
    list_select_related = ("user",)
    search_fields = ("=key", "=user__username")
    date_hierarchy = "created_at"
    show_full_result_count = False
