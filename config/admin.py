"""The GreenBox admin site: Django's admin with GreenBox titles, a staff-friendly member search,
and the sign-in lockout on its sign-in and password change pages (members/lockout.py)."""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.auth.views import PasswordChangeView
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from members.forms import BoundedUsernameMixin
from members.lockout import CountedPasswordChangeMixin


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


class StaffAuthenticationForm(BoundedUsernameMixin, AdminAuthenticationForm):
    """The admin's sign-in form; an over-long username is a form error, not a 500."""


class StaffPasswordChangeView(CountedPasswordChangeMixin, PasswordChangeView):
    """The admin's password change; a wrong old password counts towards the sign-in lockout."""


class GreenBoxAdminSite(admin.AdminSite):
    site_header = _("GreenBox recycling")
    site_title = _("GreenBox")
    index_title = _("Station desk")
    login_form = StaffAuthenticationForm

    def password_change(self, request, extra_context=None):
        # Django's AdminSite.password_change with the counting view (members/lockout.py).
        request.current_app = self.name
        return StaffPasswordChangeView.as_view(
            form_class=AdminPasswordChangeForm,
            success_url=reverse("admin:password_change_done", current_app=self.name),
            extra_context={**self.each_context(request), **(extra_context or {})},
        )(request)

    def autocomplete_view(self, request):
        return MemberSearchView.as_view(admin_site=self)(request)
