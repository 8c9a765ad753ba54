"""The dashboards' filters: campaign, date range, city (GET parameters, so every view is a link)."""

from datetime import date

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from recycling.models import RecyclingCampaign
from recycling.reviews import MAX_NOTE_LENGTH
from stations.models import City

from .selectors import Window


class FilterForm(forms.Form):
    campaign = forms.TypedChoiceField(label=_("Campaign"), coerce=int, required=False)
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    city = forms.ChoiceField(label=_("City"), required=False)

    def __init__(self, *args, campaigns: list[RecyclingCampaign], cities: list[City], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.campaign_list = campaigns
        self.fields["campaign"].choices = [(c.pk, str(c)) for c in campaigns]
        self.fields["city"].choices = [("", _("All cities"))] + [(c.code, f"{c.code} {c.display_name}") for c in cities]
        self.city_by_code = {c.code: c for c in cities}

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise forms.ValidationError(_("The first day must not be after the last."))
        return data

    def window(self) -> Window | None:
        """The campaign chosen (default: the latest), and the days chosen within it (default:
        from its first day to today, or to its last day if it is over); None without campaigns."""
        if not self.campaign_list:
            return None
        data = self.cleaned_data if self.is_valid() else {}
        by_id = {c.pk: c for c in self.campaign_list}
        campaign = by_id.get(data.get("campaign")) or self.campaign_list[0]
        today = timezone.localdate()
        start = _clamp(data.get("start") or campaign.start_day, campaign)
        end = _clamp(data.get("end") or min(campaign.end_day, max(today, campaign.start_day)), campaign)
        if end < start:
            start, end = end, start
        return Window(campaign=campaign, start=start, end=end, compared=by_id.get(campaign.compared_with_id))

    def chosen_city(self) -> City | None:
        code = self.cleaned_data.get("city") if self.is_valid() else None
        return self.city_by_code.get(code) if code else None


def _clamp(day: date, campaign: RecyclingCampaign) -> date:
    """The campaign defines which days count: a range reaching outside it is cut to it."""
    return min(max(day, campaign.start_day), campaign.end_day)


class FlagDecisionForm(forms.Form):
    """An ops decision on an anomaly flag: reviewed, or the chosen drop-offs voided; with a note
    (each void's reason). recycling.reviews checks the rest."""

    REVIEW = "reviewed"
    VOID = "void"

    note = forms.CharField(
        label=_("Note"),
        max_length=MAX_NOTE_LENGTH,
        help_text=_("What you found; when voiding, the reason recorded on each drop-off."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    dropoffs = forms.TypedMultipleChoiceField(
        label=_("Drop-offs to void"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    decision = forms.ChoiceField(choices=[(REVIEW, _("Mark reviewed")), (VOID, _("Void the chosen drop-offs"))])

    def __init__(self, *args, voidable: list[int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dropoffs"].choices = [(pk, f"#{pk}") for pk in voidable]

    def clean(self):
        data = super().clean()
        if data.get("decision") == self.VOID and not data.get("dropoffs"):
            self.add_error("dropoffs", _("Choose the drop-offs to void."))
        return data
