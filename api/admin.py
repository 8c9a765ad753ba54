"""Idempotency records, read-only for superusers (to see what a device sent and got back).

API tokens are created and revoked with rest_framework.authtoken's own admin ("Tokens")."""

from django.contrib import admin
from django.http import HttpRequest

from .models import IdempotencyRecord


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "key", "method", "path", "status", "response_status")
    list_filter = ("status", "method")
    list_select_related = ("user",)
    search_fields = ("=key", "=user__username")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
