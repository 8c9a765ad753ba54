"""Members in the admin, masked: superusers read them; station staff only find one from the
desk's log form, by a full mobile number, its last digits or the member code."""

import re
import unicodedata

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdminMixin

from ..mobile import mask_mobile, normalize_mobile
from ..models import MEMBER_CODE_LENGTH, Member

# A search for a member needs at least the last 4 digits of the mobile number, so that the
# member list cannot be browsed through the autocomplete ("1", "13", ... would list everyone).
MIN_MEMBER_SEARCH_DIGITS = 4
_TRAILING_DIGITS = re.compile(rf"^[0-9]{{{MIN_MEMBER_SEARCH_DIGITS},10}}$")
_SEPARATORS = re.compile(r"[\s\-]")


def search_members(queryset: QuerySet[Member], term: str) -> QuerySet[Member]:
    """Members matching a full mobile number, its last 4 to 10 digits, or an exact member code.

    Anything shorter or vaguer matches nobody.
    """
    term = unicodedata.normalize("NFKC", term or "").strip()  # full-width digits from Chinese IMEs
    if not term:
        return queryset.none()
    try:
        return queryset.filter(mobile=normalize_mobile(term))
    except ValidationError:
        pass
    digits = _SEPARATORS.sub("", term)
    if _TRAILING_DIGITS.match(digits):
        return queryset.filter(mobile__endswith=digits)
    if len(term) == MEMBER_CODE_LENGTH:
        return queryset.filter(code=term.upper())
    return queryset.none()


@admin.register(Member)
class MemberAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Members, masked. Superusers read them here; staff only search them from the log form.

    Staff hold the view permission because the autocomplete needs it, so the pages themselves
    refuse anyone but a superuser.
    """

    list_display = ("masked_mobile", "joined_at", "balance")
    fields = ("masked_mobile", "joined_at", "balance")
    readonly_fields = fields
    list_select_related = ("account",)
    ordering = ("-joined_at",)
    # The autocomplete requires search_fields; get_search_results() decides what matches.
    search_fields = ("mobile",)
    search_help_text = _("The full mobile number, its last 4 digits, or the member code.")
    show_full_result_count = False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def changelist_view(self, request, extra_context=None):
        self._require_superuser(request)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._require_superuser(request)
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._require_superuser(request)
        return super().history_view(request, object_id, extra_context)

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip() and request.user.is_superuser and not _is_autocomplete(request):
            return queryset, False  # a superuser's member list without a search
        return search_members(queryset, search_term), False

    @admin.display(description=_("mobile number"), ordering="mobile")
    def masked_mobile(self, member: Member) -> str:
        return mask_mobile(member.mobile)

    @admin.display(description=_("points balance"), ordering="account__balance")
    def balance(self, member: Member) -> int:
        return member.account.balance

    @staticmethod
    def _require_superuser(request: HttpRequest) -> None:
        if not request.user.is_superuser:
            raise PermissionDenied


def _is_autocomplete(request: HttpRequest) -> bool:
    match = request.resolver_match
    return match is not None and match.url_name == "autocomplete"
