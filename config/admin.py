"""The GreenBox admin site: Django's admin with GreenBox titles, the staff's member search, and
the sign-in lockout on its sign-in and password change pages (members/lockout.py)."""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import PasswordChangeView
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.admin import BadInputAdminMixin
from members.forms import BoundedUsernameMixin
from members.lockout import CountedPasswordChangeMixin


class MemberSearchView(AutocompleteJsonView):
    """The admin's autocomplete; for members it is recycling.services.search_members(), whose
    results show the number masked with what confirms the member at the counter
    (Member.counter_label: 138****5678 · display name, or the code's first characters).

    A throttled search answers one disabled result that says so, which the select shows in
    place of the list (an error status would only show "could not be loaded")."""

    def get(self, request, *args, **kwargs):
        term, model_admin, source_field, to_field_name = self.process_request(request)
        if model_admin.model._meta.label != "recycling.Member":
            return super().get(request, *args, **kwargs)
        from recycling.errors import DomainError
        from recycling.services import search_members

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


class StaffAuthenticationForm(BoundedUsernameMixin, AdminAuthenticationForm):
    """The admin's sign-in form; an over-long username is a form error, not a 500."""


class StaffPasswordChangeView(CountedPasswordChangeMixin, PasswordChangeView):
    """The admin's password change; a wrong old password counts towards the sign-in lockout."""


class GreenBoxAdminSite(admin.AdminSite):
    site_header = _("GreenBox recycling")
    site_title = _("GreenBox")
    index_title = _("Administration")
    login_form = StaffAuthenticationForm
    site_url = "/desk/"  # the admin's "view site" link: the station desk, where staff work

    def login(self, request, extra_context=None):
        """The admin's sign-in; station staff (staff who are not superusers) who signed in with
        no page to go back to but the admin's index land on the station desk (desk/) instead:
        the admin stays one click away, in the desk's footer."""
        response = super().login(request, extra_context)
        user = request.user
        signed_in = request.method == "POST" and user.is_authenticated and response.status_code == 302
        if signed_in and not user.is_superuser:
            index = reverse("admin:index", current_app=self.name)
            wanted = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or index
            if wanted == index:
                return HttpResponseRedirect(reverse("desk:home"))
        return response

    def password_change(self, request, extra_context=None):
        # Django's AdminSite.password_change with the counting view (members/lockout.py).
        request.current_app = self.name
        return StaffPasswordChangeView.as_view(
            form_class=AdminPasswordChangeForm,
            success_url=reverse("admin:password_change_done", current_app=self.name),
            extra_context={**self.each_context(request), **(extra_context or {})},
        )(request)

    def register(self, model_or_iterable, admin_class=None, **options):
        """Register as Django does, with BadInputAdminMixin in front of every ModelAdmin (those of
        django.contrib.auth too), so that no filter, lookup or initial value of the wrong type
        is a 500 on any list or form, including lists added later."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, BadInputAdminMixin):
            admin_class = type(
                admin_class.__name__,
                (BadInputAdminMixin, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
            )
        return super().register(model_or_iterable, admin_class, **options)

    def autocomplete_view(self, request):
        return MemberSearchView.as_view(admin_site=self)(request)


def harden_celery_beat_admin(site: admin.AdminSite) -> None:
    """django-celery-beat's admin fails (500) on two inputs: a periodic task's custom task name
    over 200 characters (its form's clean() reads a field that failed), and a crontab field that
    celery cannot parse, which the change page then shows in "human readable". Re-registered with
    both fixed; nothing else changes."""
    from django_celery_beat import admin as beat_admin
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    class PeriodicTaskForm(beat_admin.PeriodicTaskForm):
        def clean(self):
            if "task" not in self.cleaned_data:  # its own error (too long) is already on the form
                self.cleaned_data["task"] = self.cleaned_data.get("regtask") or "-"
            return super().clean()

    class PeriodicTaskAdmin(site._registry[PeriodicTask].__class__):
        form = PeriodicTaskForm

    class CrontabScheduleAdmin(site._registry[CrontabSchedule].__class__):
        @admin.display(description=_("human readable"))
        def human_readable(self, schedule) -> str:
            try:
                return schedule.human_readable
            except Exception:  # celery's ParseException and kin: the form shows the field's error
                return ""

    for model, model_admin in ((PeriodicTask, PeriodicTaskAdmin), (CrontabSchedule, CrontabScheduleAdmin)):
        site.unregister(model)
        site.register(model, model_admin)
