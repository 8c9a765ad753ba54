"""Forms of the superusers' emission factors and recycling campaigns (the station desk's are
desk/forms.py).

The forms only collect and shape input; recycling.rules does every check that matters (and
every write), so a refusal is shown on the same form.
"""

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

from .errors import FactorStartOvertaken
from .models import (
    EmissionFactor,
    RecyclingCampaign,
)
from .rules import factor_start_overtaken


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
