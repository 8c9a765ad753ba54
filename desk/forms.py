"""The desk's forms. They only collect and shape input; the services (recycling.services,
rewards.services) make every check that matters, and their refusals come back onto the field
they are about (FIELD_OF_ERROR) so that the page can focus it."""

import uuid

from django import forms
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from idempotency.models import MAX_KEY_LENGTH
from recycling.errors import DomainError
from recycling.models import MAX_CARTONS_PER_DROPOFF, MAX_CARTONS_PER_MOVEMENT, MIN_CARTONS_PER_DROPOFF, CartonMovement
from recycling.selectors import member_search_term
from recycling.services import MAX_VOID_REASON_LENGTH, search_members
from rewards.models import PICKUP_CODE_LENGTH
from stations.models import Station

# A service refusal's code -> the field it is about (the others are the form's).
FIELD_OF_ERROR = {
    "unknown_member": "member",
    "member_deleted": "member",
    "member_search_throttled": "member",
    "invalid_cartons": "cartons",
    "not_enough_cartons": "cartons",
    "not_station_manager": "kind",
    "invalid_movement_kind": "kind",
    "invalid_time": "occurred_at",
    "dropoff_too_old": "occurred_at",
    "campaign_closed": "occurred_at",
    "wrong_pickup_code": "pickup_code",
    "no_such_reservation": "pickup_code",
    "too_many_pickup_codes": "pickup_code",
    "invalid_reason": "reason",
}


def add_refusal(form: forms.Form, refusal: DomainError) -> None:
    """Show a service's refusal on the field it is about, else at the top of the form."""
    field = FIELD_OF_ERROR.get(refusal.code)
    form.add_error(field if field in form.fields else None, str(refusal.message))


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


class NumericInput(forms.NumberInput):
    def __init__(self, low: int, high: int):
        # The range is the service's to check (its message is the one people see); the
        # attributes only give the browser the right keypad.
        super().__init__(attrs={"min": low, "max": high, "inputmode": "numeric", "autocomplete": "off"})


class LogCartonsForm(forms.Form):
    """Cartons a member left: who (the scanned or typed member code, or their mobile number), how
    many, and when if not now. The idempotency key is made with the empty form, so a form sent
    twice is one drop-off (recycling.services.record_dropoff returns the first)."""

    member = forms.CharField(
        label=_("Member code or mobile number"),
        max_length=64,
        help_text=_(
            "Scan the member's QR code, or type the code, the full mobile number, or its last 4 digits "
            "for a member who has left cartons here before."
        ),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false", "autofocus": True}
        ),
    )
    cartons = forms.IntegerField(
        label=_("Cartons"), widget=NumericInput(MIN_CARTONS_PER_DROPOFF, MAX_CARTONS_PER_DROPOFF)
    )
    occurred_at = forms.DateTimeField(
        label=_("Time left"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    idempotency_key = forms.CharField(max_length=MAX_KEY_LENGTH, initial=new_idempotency_key, widget=forms.HiddenInput)

    def __init__(self, *args, user: AbstractBaseUser, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["occurred_at"].help_text = _(
            "Leave empty for now; cartons left earlier may be logged up to %(hours)d hours later."
        ) % {"hours": settings.GREENBOX_DROPOFF_MAX_AGE_HOURS}

    def clean_member(self) -> str:
        """The member code: as typed when it is one (the service looks it up), else the one
        member that recycling.services.search_members() finds (audited, throttled)."""
        term = self.cleaned_data["member"]
        what = member_search_term(term)
        if what is None:
            raise forms.ValidationError(
                _("This is not a member code or a mobile number. Scan the member's QR code again."), code="invalid"
            )
        if what.by == "code":
            return what.value
        return find_member(user=self.user, term=term).code


def find_member(*, user: AbstractBaseUser, term: str):
    """The one member a mobile number (or its last 4 digits) finds, or a ValidationError saying why not."""
    try:
        found = search_members(user=user, term=term)
    except DomainError as refusal:
        raise forms.ValidationError(str(refusal.message), code=refusal.code) from refusal
    if not found:
        raise forms.ValidationError(_("No member found. Check the number, or scan the member's QR code."))
    if len(found) > 1:
        raise forms.ValidationError(
            ngettext(
                "%(count)d member's number ends in these digits: type the full number or scan the code.",
                "%(count)d members' numbers end in these digits: type the full number or scan the code.",
                len(found),
            )
            % {"count": len(found)},
            code="ambiguous",
        )
    return found[0]


class ReasonForm(forms.Form):
    """Why a drop-off is voided: the only question an undo asks."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=MAX_VOID_REASON_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. wrong member, wrong count"), "autocomplete": "off"}),
    )


class CartonMovementForm(forms.Form):
    """Cartons leaving the station: reused for someone's parcel, or (its manager) baled."""

    kind = forms.ChoiceField(label=_("What happened"), choices=CartonMovement.Kind.choices, widget=forms.RadioSelect)
    cartons = forms.IntegerField(label=_("Cartons"), widget=NumericInput(1, MAX_CARTONS_PER_MOVEMENT))
    idempotency_key = forms.CharField(max_length=MAX_KEY_LENGTH, initial=new_idempotency_key, widget=forms.HiddenInput)

    def __init__(self, *args, may_bale: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_bale:  # only a manager records cartons baled (record_carton_movement refuses others)
            self.fields["kind"].choices = [(CartonMovement.Kind.REUSED, CartonMovement.Kind.REUSED.label)]
        self.fields["kind"].initial = CartonMovement.Kind.REUSED


class PickupCodeForm(forms.Form):
    pickup_code = forms.RegexField(
        label=_("Pickup code"),
        regex=rf"^\s*[0-9]{{{PICKUP_CODE_LENGTH}}}\s*$",
        error_messages={"invalid": _("A pickup code is 6 digits.")},
        widget=forms.TextInput(
            attrs={"autofocus": True, "inputmode": "numeric", "autocomplete": "off", "maxlength": PICKUP_CODE_LENGTH}
        ),
    )


class StationPickForm(forms.Form):
    """The station to work at, by its code (a button per station, or typed by a superuser)."""

    station = forms.CharField(label=_("Station code"), max_length=32)

    def __init__(self, *args, stations, **kwargs):
        super().__init__(*args, **kwargs)
        self.stations = stations

    def clean_station(self) -> Station:
        station = self.stations.filter(code=self.cleaned_data["station"].strip().upper()).first()
        if station is None:
            raise forms.ValidationError(_("You do not work at a station with this code."))
        return station
