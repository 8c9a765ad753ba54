"""The GreenBox admin site: Django's admin with GreenBox titles and the staff's member search."""

from django.contrib import admin
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _


class MemberSearchView(AutocompleteJsonView):
    """The admin's autocomplete; for members it is recycling.selectors.search_members(), whose
    results show the number masked with what confirms the member at the counter
    (Member.counter_label: 138****5678 · display name, or the code's first characters).

    A throttled search answers one disabled result that says so, which the select shows in
    place of the list (an error status would only show "could not be loaded")."""

    def get(self, request, *args, **kwargs):
        term, model_admin, source_field, to_field_name = self.process_request(request)
        if model_admin.model._meta.label != "recycling.Member":
            return super().get(request, *args, **kwargs)
        from recycling.errors import DomainError
        from recycling.selectors import search_members

        self.model_admin = model_admin
        if not self.has_perm(request):
            raise PermissionDenied
        try:
            found = search_members(user=request.user, term=term)
        except DomainError as refusal:
            results = [{"id": "", "text": str(refusal.message), "disabled": True}]
        else:
            results = [{"id": str(getattr(member, to_field_name)), "text": member.counter_label} for member in found]
        return JsonResponse({"results": results, "pagination": {"more": False}})


class GreenBoxAdminSite(admin.AdminSite):
    site_header = _("GreenBox recycling")
    site_title = _("GreenBox")
    index_title = _("Station desk")

    def autocomplete_view(self, request):
        return MemberSearchView.as_view(admin_site=self)(request)
