"""The GreenBox admin site: Django's admin with GreenBox titles and a staff-friendly member search."""

from django.contrib import admin
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.utils.translation import gettext_lazy as _


class MemberSearchView(AutocompleteJsonView):
    """Autocomplete results that show staff the full mobile number they searched for.

    Everywhere else a member appears masked (138****5678); the staff search is the one place
    where the full number is shown, so staff can confirm it with the consumer at the counter.
    """

    def serialize_result(self, obj, to_field_name):
        result = super().serialize_result(obj, to_field_name)
        if self.model_admin.model._meta.label == "recycling.Member":
            result["text"] = f"{obj.mobile} · {obj.code[:4]}…"
        return result


class GreenBoxAdminSite(admin.AdminSite):
    site_header = _("GreenBox recycling")
    site_title = _("GreenBox")
    index_title = _("Station desk")

    def autocomplete_view(self, request):
        return MemberSearchView.as_view(admin_site=self)(request)
