"""Webhooks in the admin, for superusers only: add an endpoint (its secret is shown on the next
page, once), enable or disable endpoints, read the events and the delivery log, and replay
deliveries. Events, deliveries and attempts are written by events/services.py only."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import ReadOnlyAdminMixin, SuperuserOnlyAdminMixin, secret_created_page, service_form_page

from . import services
from .models import Delivery, DeliveryAttempt, Event, WebhookEndpoint


class WebhookEndpointForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=100, help_text=_("Which partner system receives it."))
    url = forms.URLField(label=_("endpoint URL"), max_length=500, assume_scheme="https")
    kinds = forms.MultipleChoiceField(
        label=_("event kinds"), choices=Event.Kind.choices, widget=forms.CheckboxSelectMultiple
    )
    station_id = forms.IntegerField(
        label=_("station id"),
        required=False,
        min_value=1,
        help_text=_("Only this station's events; empty: every station."),
    )
    city_id = forms.IntegerField(
        label=_("city id"), required=False, min_value=1, help_text=_("Only this city's events; empty: every city.")
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(SuperuserOnlyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "url", "enabled", "consecutive_failures", "failing_since", "disabled_at", "created_at")
    list_filter = ("enabled",)
    search_fields = ("name", "url")
    actions = ["enable", "disable"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = WebhookEndpointForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                created = services.create_endpoint(**form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                return secret_created_page(
                    self,
                    request,
                    title=_("Webhook endpoint created"),
                    template="admin/events/webhookendpoint/created.html",
                    secret=created.secret,
                    endpoint=created.endpoint,
                )
        return service_form_page(
            self,
            request,
            form,
            title=_("Add a webhook endpoint"),
            submit_label=_("Create the endpoint"),
            extra_context=extra_context,
        )

    @admin.action(description=_("Enable the selected endpoints (their pending deliveries resume)"))
    def enable(self, request: HttpRequest, queryset) -> None:
        self._set_enabled(request, queryset, enabled=True)

    @admin.action(description=_("Disable the selected endpoints"))
    def disable(self, request: HttpRequest, queryset) -> None:
        self._set_enabled(request, queryset, enabled=False)

    def _set_enabled(self, request: HttpRequest, queryset, *, enabled: bool) -> None:
        count = 0
        for endpoint in queryset:
            services.set_endpoint_enabled(endpoint=endpoint, enabled=enabled)
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d endpoint changed.", "%(count)d endpoints changed.", count) % {"count": count},
            messages.SUCCESS,
        )

    def get_actions(self, request: HttpRequest):
        return super().get_actions(request) if request.user.is_superuser else {}


@admin.register(Event)
class EventAdmin(SuperuserOnlyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "kind", "occurred_at", "member_id", "station_id", "city_id", "fanned_out")
    list_filter = ("kind",)
    search_fields = ("=id", "=member_id", "=station_id")
    date_hierarchy = "occurred_at"


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("number", "at", "status_code", "duration_ms", "response_excerpt", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(SuperuserOnlyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "event", "endpoint", "state", "attempts", "next_attempt_at", "delivered_at")
    list_filter = ("state", "endpoint")
    list_select_related = ("event", "endpoint")
    search_fields = ("=event__id", "=member_id")
    inlines = [DeliveryAttemptInline]
    actions = ["replay"]

    @admin.action(description=_("Replay the selected deliveries"))
    def replay(self, request: HttpRequest, queryset) -> None:
        count = services.replay_deliveries(deliveries=queryset)
        self.message_user(
            request,
            ngettext("%(count)d delivery will be sent again.", "%(count)d deliveries will be sent again.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    def get_actions(self, request: HttpRequest):
        return super().get_actions(request) if request.user.is_superuser else {}
