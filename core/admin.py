"""Who may do what in the admin, said once for every app, and the page of a form whose save is a service.

Every app's admin composes these mixins (before admin.ModelAdmin in the bases) instead of
writing its own has_*_permission methods.
"""

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

SERVICE_FORM_TEMPLATE = "admin/service_form.html"


class ReadOnlyAdminMixin:
    """Records that only services write: nobody adds, changes or deletes one in the admin, not even a superuser."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class SuperuserOnlyAdminMixin:
    """Visible to superusers only, whatever model permissions a staff user has been given."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser


class SuperuserEditsAdminMixin:
    """Settings that superusers add and change; nobody deletes one, since records refer to it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def service_form_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    form: forms.Form,
    *,
    title: str,
    template: str = SERVICE_FORM_TEMPLATE,
    extra_context: dict | None = None,
    **context,
) -> TemplateResponse:
    """The admin page of a plain form whose save calls a service (log cartons, record reuse, hand
    out a reward, change stock): the admin's chrome, the form, its errors and media. The template
    extends admin/service_form.html, so a refusal from the service shows like any form error."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": model_admin.opts,
        "form": form,
        "errors": form.errors,
        "media": model_admin.media + form.media,
        "has_view_permission": model_admin.has_view_permission(request),
        **context,
        **(extra_context or {}),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, template, context)
