"""Forms of the member pages. They check and shape input; the services do every write.

Forms that write carry an idempotency key made when the empty form is rendered (a hidden
field), so submitting the same form twice (double tap, browser resubmit) acts once: the
services replay the first outcome for a key they have seen.
"""

import uuid

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from idempotency.models import MAX_KEY_LENGTH
from recycling.mobile import normalize_mobile
from recycling.models import MAX_DISPLAY_NAME_LENGTH, Member
from recycling.services import clean_display_name
from rewards.models import MAX_NOTEBOOKS, MAX_QUANTITY, MIN_NOTEBOOKS, MIN_QUANTITY
from stations.models import City, Station

from .verification import get_verifier, verify_mobile

MOBILE_ATTRS = {"inputmode": "tel", "autocomplete": "tel", "placeholder": "138 0000 0000", "autofocus": True}


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


class IdempotentForm(forms.Form):
    idempotency_key = forms.CharField(max_length=MAX_KEY_LENGTH, initial=new_idempotency_key, widget=forms.HiddenInput)


class SignUpForm(forms.Form):
    mobile = forms.CharField(
        label=_("Mobile number"),
        max_length=20,
        help_text=_("A mainland China mobile number. You sign in with it."),
        widget=forms.TextInput(attrs=MOBILE_ATTRS),
    )
    code = forms.CharField(
        label=_("Verification code"),
        max_length=8,
        required=False,
        help_text=_("The code we sent to your mobile by SMS."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    consent = forms.BooleanField(
        label=_("I have read the privacy notice and agree to GreenBox using my data as it describes."),
        error_messages={"required": _("Tick the box to agree to the privacy notice: you cannot sign up without it.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not get_verifier().requires_code:
            del self.fields["code"]  # no SMS gateway: see members/verification.py
        self.fields["consent"].help_text = format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>',
            reverse("members:privacy"),
            _("Read the privacy notice"),
        )

    def clean_mobile(self) -> str:
        number = normalize_mobile(self.cleaned_data["mobile"])
        if Member.objects.filter(mobile=number).exists():
            raise ValidationError(_("This mobile number is already registered. Sign in instead."), code="mobile_taken")
        return number

    def clean(self):
        cleaned_data = super().clean()
        mobile, password1, password2 = (cleaned_data.get(name) for name in ("mobile", "password1", "password2"))
        if password1 and password2 and password1 != password2:
            self.add_error("password2", ValidationError(_("The two passwords differ."), code="password_mismatch"))
        elif password1:
            # Similarity is checked against the mobile number, the member's sign-in name.
            user = get_user_model()(username=mobile or "")
            try:
                password_validation.validate_password(password1, user)
            except ValidationError as error:
                self.add_error("password1", error)
        if mobile and not self.errors and not verify_mobile(mobile=mobile, code=cleaned_data.get("code", "")):
            self.add_error("code", ValidationError(_("The verification code is wrong or has expired."), code="code"))
        return cleaned_data


class SendCodeForm(forms.Form):
    mobile = forms.CharField(max_length=20)

    def clean_mobile(self) -> str:
        return normalize_mobile(self.cleaned_data["mobile"])


class BoundedUsernameMixin:
    """For an AuthenticationForm: a username longer than the field's max_length is a form error.

    AuthenticationForm sets the field's max_length after building it, so no validator enforces
    it: a 100,000-character username went on to authenticate() and the lockout's records (a
    database error, a 500). clean_username() runs before clean(), which authenticates, so an
    over-long username is refused before anything is looked up or written.
    """

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        MaxLengthValidator(self.fields["username"].max_length)(username)
        return username


class MemberAuthenticationForm(BoundedUsernameMixin, AuthenticationForm):
    """Sign in with the mobile number (recycling.auth.MobileNumberBackend) and password."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("The mobile number or the password is wrong. Both may be typed with care."),
        "not_member": _("This sign-in is for members. Station staff and operations use the station desk."),
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = _("Mobile number")
        self.fields["username"].max_length = 20
        self.fields["username"].widget.attrs.update({**MOBILE_ATTRS, "maxlength": 20})

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not Member.objects.filter(user=user).exists():
            raise ValidationError(self.error_messages["not_member"], code="not_member")


class DisplayNameForm(forms.Form):
    display_name = forms.CharField(
        label=_("Display name"),
        max_length=MAX_DISPLAY_NAME_LENGTH,
        required=False,
        help_text=_(
            "Optional. Station staff see it beside your masked number to confirm it is you, e.g. "
            "your surname. Leave it empty and they see the first characters of your member code."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "nickname"}),
    )

    def clean_display_name(self) -> str:
        return clean_display_name(self.cleaned_data["display_name"])


class DeleteAccountForm(forms.Form):
    """Deleting the account asks for the password (a phone left signed in is not enough) and
    a tick that the member understands what goes and what stays."""

    password = forms.CharField(
        label=_("Your password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    confirm = forms.BooleanField(
        label=_("I understand: my points can no longer be used, and my open reservations are cancelled."),
        error_messages={"required": _("Tick the box to confirm.")},
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise ValidationError(_("The password is wrong."), code="password_incorrect")
        return password


class StationPickerForm(forms.Form):
    """City, then station: where the member wants to see and collect rewards (GET)."""

    city = forms.ModelChoiceField(
        label=_("City"), queryset=City.objects.none(), required=False, empty_label=_("Choose a city")
    )
    station = forms.ModelChoiceField(
        label=_("Station"), queryset=Station.objects.none(), required=False, empty_label=_("Choose a station")
    )

    def __init__(self, *args, cities, stations_in, provinces=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["city"].queryset = cities
        self.fields["city"].label_from_instance = lambda city: city.display_name
        if provinces is not None:  # shown grouped by province (members.selectors.cities_by_province)
            self.fields["city"].widget.choices = [("", self.fields["city"].empty_label)] + [
                (province.name, [(item.city.pk, item.city.display_name) for item in province.cities])
                for province in provinces
            ]
        self.stations_in = stations_in
        city = self._chosen_city()
        self.fields["station"].queryset = stations_in(city=city) if city else Station.objects.none()
        self.fields["station"].label_from_instance = lambda station: station.name

    def _chosen_city(self) -> City | None:
        value = self.data.get("city") if self.is_bound else None
        if not value or not str(value).isdigit():
            return None
        return self.fields["city"].queryset.filter(pk=value).first()

    def clean(self):
        cleaned_data = super().clean()
        # A station of another city (the city was changed) is simply not chosen yet.
        self.errors.pop("station", None)
        station = cleaned_data.get("station")
        if station is not None and station.city_id != getattr(cleaned_data.get("city"), "pk", None):
            cleaned_data["station"] = None
        return cleaned_data


class NearForm(forms.Form):
    """Where the member is, from the browser's geolocation: ?near=30.27750,120.13000 (GET)."""

    near = forms.CharField(max_length=40)

    def clean(self):
        cleaned_data = super().clean()
        try:
            latitude, longitude = (float(part) for part in cleaned_data.get("near", "").split(","))
        except ValueError:
            raise ValidationError(_("The position is not a latitude and a longitude.")) from None
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ValidationError(_("The position is not a latitude and a longitude."))
        return {"latitude": latitude, "longitude": longitude}


class ReserveForm(IdempotentForm):
    reward = forms.IntegerField(widget=forms.HiddenInput)
    station = forms.IntegerField(widget=forms.HiddenInput)
    quantity = forms.IntegerField(
        label=_("Quantity"),
        initial=1,
        widget=forms.NumberInput(attrs={"min": MIN_QUANTITY, "max": MAX_QUANTITY, "inputmode": "numeric"}),
    )

    def clean_quantity(self) -> int:
        quantity = self.cleaned_data["quantity"]
        if not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
            raise ValidationError(
                gettext("Reserve %(min)s to %(max)s at a time.") % {"min": MIN_QUANTITY, "max": MAX_QUANTITY},
                code="quantity",
            )
        return quantity


class DonateForm(IdempotentForm):
    notebooks = forms.IntegerField(
        label=_("Notebooks"),
        initial=1,
        widget=forms.NumberInput(attrs={"min": MIN_NOTEBOOKS, "max": MAX_NOTEBOOKS, "inputmode": "numeric"}),
    )

    def clean_notebooks(self) -> int:
        notebooks = self.cleaned_data["notebooks"]
        if not MIN_NOTEBOOKS <= notebooks <= MAX_NOTEBOOKS:
            raise ValidationError(
                gettext("Donate %(min)s to %(max)s notebooks at a time.")
                % {"min": MIN_NOTEBOOKS, "max": MAX_NOTEBOOKS},
                code="notebooks",
            )
        return notebooks
