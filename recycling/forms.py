"""Forms of the station desk (logging a drop-off, the reason for voiding drop-offs, recording
cartons reused or baled) and of the superusers' emission factors and recycling campaigns.

The forms only collect and shape input; recycling.services does every check that matters
(and every write), so a refusal from the service is shown on the same form.
"""

import uuid

from django import forms
from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from idempotency.models import MAX_KEY_LENGTH
from stations.models import Station
from stations.selectors import stations_for_user

from .errors import FactorStartOvertaken
from .models import (
    MAX_CARTONS_PER_DROPOFF,
    MAX_CARTONS_PER_MOVEMENT,
    MIN_CARTONS_PER_DROPOFF,
    CartonMovement,
    DropOff,
    EmissionFactor,
    Member,
    RecyclingCampaign,
)
from .rules import factor_start_overtaken
from .services import MAX_VOID_REASON_LENGTH


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


class DropOffForm(forms.Form):
    """Cartons a member left at a station: who (scanned code or mobile search), where and how many.

    The idempotency key is made when the empty form is rendered and travels in a hidden field,
    so a form submitted twice (double click, browser resubmit) is one drop-off: the service
    returns the first one instead of logging again.
    """

    station = forms.ModelChoiceField(label=_("Station"), queryset=Station.objects.none(), empty_label=None)
    member_code = forms.CharField(
        label=_("Member code"),
        required=False,
        max_length=64,
        help_text=_("Scan the member's QR code, or type the code."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )
    member = forms.ModelChoiceField(
        label=_("Or find by mobile number"),
        required=False,
        queryset=Member.objects.filter(anonymised_at__isnull=True),
        help_text=_(
            "Type the full mobile number, or its last 4 digits for a member who has left cartons "
            "at your station before."
        ),
    )
    cartons = forms.IntegerField(
        label=_("Cartons"),
        # The range is checked by the service (its message is the one people see); the
        # attributes only let the browser offer the right keypad and arrows.
        widget=forms.NumberInput(
            attrs={"min": MIN_CARTONS_PER_DROPOFF, "max": MAX_CARTONS_PER_DROPOFF, "inputmode": "numeric"}
        ),
    )
    occurred_at = forms.DateTimeField(
        label=_("Time left"),
        required=False,
        # The window is the service's to check (recycling.services.check_dropoff_time); the help
        # text, which names it, is set in __init__ from the setting.
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    idempotency_key = forms.CharField(max_length=MAX_KEY_LENGTH, initial=new_idempotency_key, widget=forms.HiddenInput)

    def __init__(self, *args, user: AbstractBaseUser, admin_site: AdminSite, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["occurred_at"].help_text = _(
            "Leave empty for now; cartons left earlier may be logged up to %(hours)d hours later."
        ) % {"hours": settings.GREENBOX_DROPOFF_MAX_AGE_HOURS}
        stations = stations_for_user(user=user).select_related("city")
        station_field = self.fields["station"]
        station_field.queryset = stations
        if user.is_superuser:
            # A superuser may log at any of the (many thousand) stations: search instead of a list.
            _use_autocomplete(station_field, "station", admin_site)
        self.fields["member"].label_from_instance = lambda member: member.counter_label  # masked
        _use_autocomplete(self.fields["member"], "member", admin_site)
        # Scanning is the fast path: the scanner types the code into the focused field.
        self.fields["member_code"].widget.attrs["autofocus"] = True

    def clean(self):
        cleaned_data = super().clean()
        code = (cleaned_data.get("member_code") or "").strip().upper()
        member = cleaned_data.get("member")
        if member is not None:
            if code and code != member.code:
                raise forms.ValidationError(
                    _("The member code and the member found by mobile number differ. Use one of them."),
                    code="member_mismatch",
                )
            code = member.code
        elif not code and not self.has_error("member"):
            raise forms.ValidationError(
                _("Scan or type the member code, or find the member by mobile number."), code="member_missing"
            )
        cleaned_data["member_code"] = code
        return cleaned_data


def _use_autocomplete(
    field: forms.ModelChoiceField, field_name: str, admin_site: AdminSite, *, model: type[models.Model] = DropOff
) -> None:
    """Give the field the admin's search-as-you-type select for <model>.<field_name> (DropOff by default)."""
    widget = AutocompleteSelect(model._meta.get_field(field_name), admin_site)
    widget.choices = field.choices
    widget.is_required = field.required
    field.widget = widget


class VoidReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=MAX_VOID_REASON_LENGTH,
        help_text=_("Why these drop-offs are voided, e.g. logged for the wrong member."),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


class CartonMovementForm(forms.Form):
    """Cartons leaving a station: handed to someone sending a parcel, or baled for pulping.

    Like the drop-off form, it only collects input (with the idempotency key in a hidden field,
    made when the empty form is rendered); record_carton_movement() refuses what the station
    cannot do, e.g. more cartons than it has on hand.
    """

    station = forms.ModelChoiceField(label=_("Station"), queryset=Station.objects.none(), empty_label=None)
    kind = forms.ChoiceField(label=_("What happened"), choices=CartonMovement.Kind.choices, widget=forms.RadioSelect)
    cartons = forms.IntegerField(
        label=_("Cartons"),
        # The range is the service's to check (its message is the one people see).
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_CARTONS_PER_MOVEMENT, "inputmode": "numeric"}),
    )
    idempotency_key = forms.CharField(max_length=MAX_KEY_LENGTH, initial=new_idempotency_key, widget=forms.HiddenInput)

    def __init__(self, *args, user: AbstractBaseUser, admin_site: AdminSite, **kwargs):
        super().__init__(*args, **kwargs)
        station_field = self.fields["station"]
        station_field.queryset = stations_for_user(user=user).select_related("city")
        if user.is_superuser:
            _use_autocomplete(station_field, "station", admin_site, model=CartonMovement)


def _https_by_default(db_field: models.Field, **kwargs) -> forms.Field | None:
    """Form fields as Django makes them, with addresses typed without a scheme taken as https."""
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class EmissionFactorForm(forms.ModelForm):
    class Meta:
        model = EmissionFactor
        formfield_callback = _https_by_default
        fields = ("name", "kg_board_per_carton", "kg_co2e_per_kg", "basis", "source", "source_url", "valid_from")

    def clean_valid_from(self):
        """Refuse a start day that drop-offs with an older factor passed (see recycling.rules)."""
        valid_from = self.cleaned_data["valid_from"]
        if factor_start_overtaken(valid_from=valid_from, factor_id=self.instance.pk):
            raise forms.ValidationError(FactorStartOvertaken.default_message, code=FactorStartOvertaken.code)
        return valid_from


class RecyclingCampaignForm(forms.ModelForm):
    class Meta:
        model = RecyclingCampaign
        fields = ("name", "start_day", "end_day", "target_cartons", "compared_with")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["compared_with"].queryset = RecyclingCampaign.objects.exclude(pk=self.instance.pk)

    def clean(self):
        cleaned_data = super().clean()
        start_day, end_day = cleaned_data.get("start_day"), cleaned_data.get("end_day")
        if start_day and end_day and end_day < start_day:
            # Said here in words; the database's check constraint would only name itself.
            self.add_error("end_day", _("The last day cannot be before the first day."))
        return cleaned_data
