"""Accounts and transfers, read-only for superusers: only recycling.ledger posts them.

Kept together, apart from the rest of the admin, so that they move with the ledger as a whole.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdminMixin, SuperuserOnlyAdminMixin

from ..models import Account, Transfer


@admin.register(Account)
class AccountAdmin(SuperuserOnlyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "kind", "balance", "created_at")
    list_filter = ("kind",)
    list_select_related = ("member", "station")
    search_fields = ("=member__mobile", "=member__code", "=station__code", "name")
    search_help_text = _("Full mobile number, member code, station code or account name.")
    fields = ("kind", "member", "station", "name", "balance", "created_at")
    show_full_result_count = False


@admin.register(Transfer)
class TransferAdmin(SuperuserOnlyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
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
