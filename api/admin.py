"""API tokens in the admin, for superusers only: create one (its secret is shown on the next
page, once, and never again: only its digest is stored), see when each was last used, and revoke
the selected ones (the user's other tokens keep working). Tokens are neither changed nor
deleted: a revoked one stays listed, as the audit log refers to it. The idempotency keys the
API's writes claim are the idempotency app's (idempotency/admin.py)."""

from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminSplitDateTime
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import (
    CheckedAutocompleteSelect,
    ReadOnlyAdminMixin,
    SuperuserOnlyAdminMixin,
    secret_created_page,
    service_form_page,
)
from stations.models import Station

from . import services
from .models import ApiToken


class ApiTokenForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=100, help_text=_("Which device or partner system uses it."))
    user = forms.ModelChoiceField(
        label=_("user"), queryset=get_user_model().objects.filter(is_active=True), help_text=_("It acts as this user.")
    )
    station = forms.ModelChoiceField(
        label=_("station"),
        queryset=Station.objects.all(),
        required=False,
        help_text=_("The station whose device uses it; empty for a partner system."),
    )
    expires_at = forms.SplitDateTimeField(
        label=_("expires at"), required=False, widget=AdminSplitDateTime, help_text=_("Empty: a year from now.")
    )

    def __init__(self, *args, admin_site: admin.AdminSite, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("user", "station"):
            field = self.fields[name]
            widget = CheckedAutocompleteSelect(ApiToken._meta.get_field(name), admin_site)  # junk: no choice, not a 500
            widget.choices, widget.is_required = field.choices, field.required
            field.widget = widget

    def clean_expires_at(self) -> datetime | None:
        expires_at = self.cleaned_data["expires_at"]
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError(_("Choose a time in the future."))
        return expires_at


@admin.register(ApiToken)
class ApiTokenAdmin(SuperuserOnlyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "station", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "expires_at")
    list_select_related = ("user", "station")
    search_fields = ("name", "=prefix", "user__username", "=station__code")
    search_help_text = _("Name, exact prefix, username or exact station code.")
    exclude = ("digest",)
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = ApiTokenForm(request.POST, admin_site=self.admin_site)
            if form.is_valid():
                try:
                    created = services.create_api_token(**form.cleaned_data)
                except ValidationError as error:
                    form.add_error(None, error)
                else:
                    return secret_created_page(
                        self,
                        request,
                        title=_("API token created"),
                        template="admin/api/apitoken/created.html",
                        secret=created.secret,
                        token=created.token,
                    )
        else:
            form = ApiTokenForm(admin_site=self.admin_site)
        return service_form_page(
            self,
            request,
            form,
            title=_("Create an API token"),
            submit_label=_("Create the token"),
            extra_context=extra_context,
        )

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request: HttpRequest, queryset) -> None:
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            services.revoke_api_token(token=token)
            revoked += 1
        self.message_user(
            request,
            ngettext("%(count)d token revoked.", "%(count)d tokens revoked.", revoked) % {"count": revoked},
            messages.SUCCESS,
        )

    def get_actions(self, request: HttpRequest):
        # ReadOnlyAdminMixin forbids deleting, so Django offers no "delete selected"; revoking is
        # the one action, for superusers (the only ones who see tokens at all).
        actions = super().get_actions(request)
        return actions if request.user.is_superuser else {}
