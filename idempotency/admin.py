"""Idempotency keys, read-only for superusers: what a device or a page sent under a key, and the
outcome it got (and every retry gets again)."""

from django.contrib import admin

from core.admin import ReadOnlyAdminMixin, SuperuserOnlyAdminMixin

from .models import IdempotencyKey


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(SuperuserOnlyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "scope", "key", "operation", "refusal_code")
    list_filter = ("operation",)
    search_fields = ("=key", "=scope")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = ("scope", "key", "operation", "fingerprint", "result", "refusal_code", "refusal_message", "created_at")
