"""Accounts and transfers, read-only for superusers: only ledger.services posts them.

The ledger knows no business model, so these views show the ledger's own fields; the admin
pages of drop-offs, redemptions and donations link to the transfers they caused.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdminMixin, SuperuserOnlyAdminMixin

from .models import Account, Transfer


@admin.register(Account)
class AccountAdmin(SuperuserOnlyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "__str__", "kind", "balance", "balance_must_not_go_negative", "created_at")
    list_filter = ("kind",)
    search_fields = ("=id", "name")
    search_help_text = _("Account number or name.")
    fields = ("kind", "name", "balance", "balance_must_not_go_negative", "created_at")
    show_full_result_count = False


@admin.register(Transfer)
class TransferAdmin(SuperuserOnlyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "kind", "debit_account", "credit_account", "amount")
    list_filter = ("kind",)
    list_select_related = ("debit_account", "credit_account")
    search_fields = ("=idempotency_key",)
    date_hierarchy = "created_at"
    fields = (
        "kind",
        "amount",
        "debit_account",
        "credit_account",
        "reverses",
        "created_at",
        "idempotency_key",
    )
    show_full_result_count = False
