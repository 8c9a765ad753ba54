"""Members in the admin, masked: superusers read them; station staff only find one from the
desk's log form (recycling.services.search_members: a member code, a full mobile number, or
its last 4 digits among their stations' members). A superuser who needs a member's full number
sees it on the member's "reveal" page, which asks the reason and audits it."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdminMixin, service_form_page

from ..errors import DomainError
from ..models import Member
from ..services import MAX_REVEAL_REASON_LENGTH, reveal_mobile, search_members


class RevealReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=MAX_REVEAL_REASON_LENGTH,
        help_text=_("Why you need this member's full mobile number. It is kept in the audit log."),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


@admin.register(Member)
class MemberAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Members, masked. Superusers read them here; staff only search them from the log form.

    Staff hold the view permission because the autocomplete needs it, so the pages themselves
    refuse anyone but a superuser.
    """

    list_display = ("masked_mobile", "display_name", "joined_at", "balance", "anonymised_at")
    fields = (
        "masked_mobile",
        "display_name",
        "joined_at",
        "balance",
        "privacy_notice_version",
        "privacy_consent_at",
        "anonymised_at",
        "reveal_link",
    )
    readonly_fields = fields
    list_select_related = ("account",)
    ordering = ("-joined_at",)
    # The autocomplete requires search_fields; get_search_results() asks search_members().
    search_fields = ("code",)
    search_help_text = _("The member code, the full mobile number, or its last 4 digits.")
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
        if not search_term.strip():
            if request.user.is_superuser and not _is_autocomplete(request):
                return queryset, False  # a superuser's member list without a search
            return queryset.none(), False
        try:
            found = search_members(user=request.user, term=search_term)
        except DomainError as refusal:
            self.message_user(request, refusal.message, level="error")
            return queryset.none(), False
        return queryset.filter(pk__in=[member.pk for member in found]), False

    def get_urls(self):
        return [
            path(
                "<int:member_id>/reveal/",
                self.admin_site.admin_view(self.reveal_view),
                name="recycling_member_reveal",
            ),
            *super().get_urls(),
        ]

    def reveal_view(self, request: HttpRequest, member_id: int) -> HttpResponse:
        """Ask a superuser the reason, then show the member's full number once, on this page only
        (the response is not cached); reveal_mobile() audits it."""
        self._require_superuser(request)
        member = get_object_or_404(Member, pk=member_id)
        number = None
        form = RevealReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                number = reveal_mobile(member=member, user=request.user, reason=form.cleaned_data["reason"])
            except DomainError as refusal:
                form.add_error(None, refusal.message)
        response = service_form_page(
            self,
            request,
            form,
            title=_("Full mobile number of %(member)s") % {"member": member},
            template="admin/recycling/member/reveal_mobile.html",
            member=member,
            number=number,
            submit_label=_("Show the number"),
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description=_("mobile number"), ordering="mobile")
    def masked_mobile(self, member: Member) -> str:
        return member.masked_mobile

    @admin.display(description=_("points balance"), ordering="account__balance")
    def balance(self, member: Member) -> int:
        return member.account.balance

    @admin.display(description=_("full mobile number"))
    def reveal_link(self, member: Member) -> str:
        if member.mobile is None:
            return "—"
        url = reverse("admin:recycling_member_reveal", args=[member.pk], current_app=self.admin_site.name)
        return format_html('<a class="button" href="{}">{}</a>', url, _("Show, giving a reason (audited)"))

    @staticmethod
    def _require_superuser(request: HttpRequest) -> None:
        if not request.user.is_superuser:
            raise PermissionDenied


def _is_autocomplete(request: HttpRequest) -> bool:
    match = request.resolver_match
    return match is not None and match.url_name == "autocomplete"
