"""Who may do what in the admin, said once for every app, and the page of a form whose save is a service.

Every app's admin composes these mixins (before admin.ModelAdmin in the bases) instead of
writing its own has_*_permission methods.
"""

import contextlib

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import EmptyResultSet, FieldDoesNotExist, FullResultSet, ValidationError
from django.http import HttpRequest
from django.template.response import TemplateResponse

SERVICE_FORM_TEMPLATE = "admin/service_form.html"

# What a value of the wrong type raises when a lookup prepares it (int("abc"), an address that
# is not one, a year past 9999): the admin's own check of lookups misses these, since a
# queryset prepares its values only when its SQL is compiled.
BAD_VALUE_ERRORS = (ValueError, TypeError, OverflowError, ValidationError)


class CheckedChangeList(ChangeList):
    """A changelist whose filters, lookups and date drill-down with values of the wrong type
    (?station=abc, ?address=not-an-ip, ?at__year=99999999999) are what Django calls incorrect
    lookup parameters: the admin redirects to the unfiltered list with ?e=1 instead of a 500."""

    def get_queryset(self, request, exclude_parameters=None):
        try:
            queryset = super().get_queryset(request, exclude_parameters)
            with contextlib.suppress(EmptyResultSet, FullResultSet):
                queryset.query.get_compiler(queryset.db).as_sql()  # prepares every lookup's value
        except BAD_VALUE_ERRORS as error:
            raise IncorrectLookupParameters(error) from error
        return queryset


def _holds(field, value) -> bool:
    """Whether the model field can hold the value (a lookup with it compiles)."""
    try:
        field.get_prep_value(field.to_python(value))
    except BAD_VALUE_ERRORS:
        return False
    return True


class CheckedAutocompleteMixin:
    """Django's autocomplete widgets look the submitted value up to show it again; a value of
    the wrong type (?station=abc, a 100,000-character id) made that lookup fail: it is left out."""

    def format_value(self, value):
        target = self.field.target_field
        return [each for each in super().format_value(value) if _holds(target, each)]


class CheckedAutocompleteSelect(CheckedAutocompleteMixin, AutocompleteSelect):
    pass


class CheckedAutocompleteSelectMultiple(CheckedAutocompleteMixin, AutocompleteSelectMultiple):
    pass


def _check_autocomplete(formfield):
    if formfield is not None:
        for plain, checked in (
            (AutocompleteSelect, CheckedAutocompleteSelect),
            (AutocompleteSelectMultiple, CheckedAutocompleteSelectMultiple),
        ):
            if type(formfield.widget) is plain:
                formfield.widget.__class__ = checked  # the same widget, with the check above
    return formfield


class BadInputAdminMixin:
    """Every ModelAdmin of the GreenBox site gets it (config.admin.GreenBoxAdminSite.register):
    wrong-typed lookups are refused as above, an add form's initial values from the query string
    (?station=abc) that its field cannot hold are dropped instead of failing the page, and the
    autocomplete widgets show a submitted value of the wrong type as no choice (the form says
    why) instead of failing to look it up."""

    def get_changelist(self, request, **kwargs):
        changelist = super().get_changelist(request, **kwargs)
        if issubclass(changelist, CheckedChangeList):
            return changelist
        return type(changelist.__name__, (CheckedChangeList, changelist), {})

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        for name, value in list(initial.items()):
            try:
                field = self.opts.get_field(name)
            except FieldDoesNotExist:
                continue
            target = field.target_field if field.is_relation and field.related_model else field
            if not hasattr(target, "to_python"):  # a generic relation: nothing to check
                continue
            if not all(_holds(target, each) for each in (value if isinstance(value, list) else [value])):
                del initial[name]
        return initial

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return _check_autocomplete(super().formfield_for_foreignkey(db_field, request, **kwargs))

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        return _check_autocomplete(super().formfield_for_manytomany(db_field, request, **kwargs))


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


def secret_created_page(
    model_admin: admin.ModelAdmin, request: HttpRequest, *, title: str, template: str, secret: str, **context
) -> TemplateResponse:
    """The one page that shows a secret the admin just created (an API token, a webhook signing
    secret): not stored, not in a message (messages may travel in a cookie); the admin's views
    already tell the browser not to store the page. The template extends admin/secret_created.html."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": model_admin.opts,
        "secret": secret,
        **context,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, template, context)
