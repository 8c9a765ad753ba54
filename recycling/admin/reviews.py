"""Ops decisions on anomaly flags, read-only: recycling.reviews writes them from the ops pages'
flag review (/ops/flags/...), where a flag is marked reviewed with a note or its drop-offs
voided. Here is the record of every decision, to search and filter; who may read it follows the
model view permission (superusers have it)."""

from django.contrib import admin

from core.admin import ReadOnlyAdminMixin

from ..models import FlagReview


@admin.register(FlagReview)
class FlagReviewAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("decided_at", "kind", "subject", "decision", "decided_by", "note")
    list_filter = ("kind", "decision")
    list_select_related = ("decided_by",)
    date_hierarchy = "decided_at"
    search_fields = ("=subject", "note", "decided_by__username")
    fields = ("kind", "subject", "decision", "note", "voided_dropoffs", "decided_by", "decided_at")
