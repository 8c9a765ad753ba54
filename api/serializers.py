"""What the API reads and writes. Input serializers only validate the shape of a request
(types, ranges, unknown fields); the services decide everything else. No writable field is
ever points, a balance or an owner: the owner is the authenticated user (or their member).
"""

from collections.abc import Mapping

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from recycling.models import (
    DAILY_TOTAL_FIGURES,
    MAX_CARTONS_PER_DROPOFF,
    MIN_CARTONS_PER_DROPOFF,
    DailyCityTotal,
    DailyStationTotal,
)
from recycling.services import MAX_VOID_REASON_LENGTH
from rewards.models import MAX_NOTEBOOKS, MAX_QUANTITY, MIN_NOTEBOOKS, MIN_QUANTITY

from .idempotency_keys import MAX_HEADER_KEY_LENGTH

MAX_ID = 2**63 - 1  # the primary keys are 64-bit
MAX_BATCH_ITEMS = 500


# --- Input ----------------------------------------------------------------------------------


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer and nothing else: not "5", not 5.0, not true."""

    def to_internal_value(self, data):
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string and nothing else: not 12345."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictRegexField(StrictCharField, serializers.RegexField):
    pass


class IdField(StrictIntegerField):
    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know (a typo, or an attempt to set points or an owner)."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in set(data) - {f.field_name for f in self._writable_fields})
            if unknown:
                raise serializers.ValidationError({name: [_("Unknown field.")] for name in unknown})
        return super().to_internal_value(data)


class DropOffCreateSerializer(StrictSerializer):
    station = IdField(help_text=_("The station's id; you must work there."))
    member_code = StrictCharField(max_length=64, help_text=_("The code in the member's QR code."))
    cartons = StrictIntegerField(min_value=MIN_CARTONS_PER_DROPOFF, max_value=MAX_CARTONS_PER_DROPOFF)
    occurred_at = serializers.DateTimeField(
        required=False,
        help_text=_(
            "When the cartons were left (default: now); not in the future, at most 72 hours ago (a batch: "
            "7 days; both are settings), and not on a day of a campaign that has closed."
        ),
    )


class DropOffBatchItemSerializer(DropOffCreateSerializer):
    station = None  # the batch names its station once
    idempotency_key = StrictRegexField(
        r"^[\x21-\x7e]+$",
        max_length=MAX_HEADER_KEY_LENGTH,
        help_text=_("This drop-off's own key: sending it again (in any batch) never records it twice."),
    )


class DropOffBatchSerializer(StrictSerializer):
    station = IdField(help_text=_("The station's id; you must work there."))
    # Each item is validated on its own (DropOffBatchItemSerializer), so one bad item is refused
    # alone; here only that the items are objects.
    items = serializers.ListField(
        child=serializers.DictField(), min_length=1, max_length=MAX_BATCH_ITEMS, help_text=_("1 to 500 drop-offs.")
    )


class DropOffBatchDocSerializer(serializers.Serializer):
    """The batch request as the schema documents it."""

    station = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    items = DropOffBatchItemSerializer(many=True)


class VoidSerializer(StrictSerializer):
    reason = StrictCharField(max_length=MAX_VOID_REASON_LENGTH, help_text=_("Why the drop-off is voided."))


class ReserveSerializer(StrictSerializer):
    reward = IdField()
    station = IdField(help_text=_("Where the member will collect it."))
    quantity = StrictIntegerField(min_value=MIN_QUANTITY, max_value=MAX_QUANTITY)


class CollectSerializer(StrictSerializer):
    station = IdField(help_text=_("The station handing the reward out; you must work there."))
    pickup_code = StrictRegexField(r"^[0-9]+$", max_length=12, help_text=_("The member's 6-digit code."))


class DonateSerializer(StrictSerializer):
    campaign = IdField()
    notebooks = StrictIntegerField(min_value=MIN_NOTEBOOKS, max_value=MAX_NOTEBOOKS)


# --- Query parameters -----------------------------------------------------------------------


class StationFilterSerializer(StrictSerializer):
    city = serializers.RegexField(r"^[A-Za-z]{1,8}$", required=False, help_text=_("City code, e.g. HZ."))
    active = serializers.BooleanField(required=False)


class DropOffFilterSerializer(StrictSerializer):
    station = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    status = serializers.ChoiceField(choices=["accepted", "voided"], required=False)


class TotalsFilterSerializer(StrictSerializer):
    start = serializers.DateField(required=False, help_text=_("First day (Shanghai), inclusive."))
    end = serializers.DateField(required=False, help_text=_("Last day (Shanghai), inclusive."))
    city = serializers.RegexField(r"^[A-Za-z]{1,8}$", required=False, help_text=_("City code, e.g. HZ."))

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"end": [_("The last day cannot be before the first.")]})
        return attrs


class StationTotalsFilterSerializer(TotalsFilterSerializer):
    station = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)


# --- Output ---------------------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("Stable, for programs."))
    message = serializers.CharField(help_text=_("For people, in the request's language."))
    fields = serializers.DictField(
        required=False, child=serializers.JSONField(), help_text=_("Validation errors by field.")
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class CitySerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    name_zh = serializers.CharField()
    province = serializers.CharField()


class StationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    city = CitySerializer()
    address = serializers.CharField()
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6, allow_null=True)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6, allow_null=True)
    opening_hours = serializers.CharField()
    is_active = serializers.BooleanField()


class DropOffSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    station = serializers.IntegerField(source="station_id")
    station_code = serializers.CharField(source="station.code")
    member = serializers.CharField(source="member.masked_mobile", help_text=_("The member's masked mobile."))
    cartons = serializers.IntegerField()
    earning_cartons = serializers.IntegerField(help_text=_("Cartons within the member's caps."))
    points = serializers.IntegerField()
    status = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    void_reason = serializers.CharField()
    voided_at = serializers.DateTimeField(allow_null=True)


class BatchItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    idempotency_key = serializers.CharField(allow_null=True)
    result = serializers.ChoiceField(choices=["created", "replayed", "refused"])
    dropoff = DropOffSerializer(required=False)
    error = ErrorDetailSerializer(required=False)


class BatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    replayed = serializers.IntegerField()
    refused = serializers.IntegerField()
    results = BatchItemResultSerializer(many=True)


class MeSerializer(serializers.Serializer):
    """A member with their figures: {"member": Member, "figures": recycling.selectors.MemberFigures}."""

    mobile = serializers.CharField(source="member.mobile")
    member_code = serializers.CharField(source="member.code")
    joined_at = serializers.DateTimeField(source="member.joined_at")
    home_station = serializers.IntegerField(source="member.home_station_id", allow_null=True)
    balance = serializers.IntegerField(source="figures.balance", help_text=_("Points."))
    cartons = serializers.IntegerField(
        source="figures.cartons", help_text=_("Cartons recycled (voided drop-offs excluded).")
    )
    kg_co2e = serializers.DecimalField(
        source="figures.kg_co2e", max_digits=16, decimal_places=3, help_text=_("kg CO2e avoided.")
    )


class LedgerLineSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    points = serializers.IntegerField(help_text=_("Signed: + earned or refunded, - spent."))
    reason = serializers.CharField()
    transfer_id = serializers.IntegerField()


class RewardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    name_zh = serializers.CharField()
    kind = serializers.CharField()
    campaign = serializers.IntegerField(source="campaign_id", allow_null=True)
    points_cost = serializers.IntegerField()
    picture_url = serializers.CharField()
    daily_limit_per_member = serializers.IntegerField(allow_null=True)
    active_from = serializers.DateTimeField()
    active_until = serializers.DateTimeField(allow_null=True)


class StockSerializer(serializers.Serializer):
    reward = RewardSerializer()
    quantity = serializers.IntegerField()


class RedemptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reward = serializers.IntegerField(source="reward_id")
    reward_name = serializers.CharField(source="reward.display_name")
    station = serializers.IntegerField(source="station_id")
    station_code = serializers.CharField(source="station.code")
    quantity = serializers.IntegerField()
    points = serializers.IntegerField()
    status = serializers.CharField()
    pickup_code = serializers.CharField(help_text=_("Show it at the station to collect the reward."))
    reserved_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    collected_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)


class CollectedRedemptionSerializer(RedemptionSerializer):
    """What the staff see once they hand a reward out: the member's pickup code is not repeated."""

    pickup_code = None


class CampaignProgressSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    notebooks = serializers.IntegerField()
    target_notebooks = serializers.IntegerField()
    percent = serializers.FloatField()
    bought = serializers.IntegerField(help_text="Notebooks of the pledged ones bought so far.")
    delivered = serializers.IntegerField(help_text="Notebooks of the bought ones delivered to schools.")


class CampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    title_zh = serializers.CharField()
    beneficiary = serializers.CharField()
    points_per_notebook = serializers.IntegerField()
    target_notebooks = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    progress = serializers.SerializerMethodField()

    @extend_schema_field(CampaignProgressSerializer)
    def get_progress(self, campaign) -> dict:
        from rewards.selectors import campaign_progress

        return CampaignProgressSerializer(campaign_progress(campaign=campaign)).data


class DonationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    campaign = serializers.IntegerField(source="campaign_id")
    campaign_title = serializers.CharField(source="campaign.display_title")
    notebooks = serializers.IntegerField()
    points = serializers.IntegerField()
    created_at = serializers.DateTimeField()


def _daily_total_fields(*own: str) -> list[str]:
    return ["day", "city", *DAILY_TOTAL_FIGURES, "computed_at", *own]


class _DailyTotalSerializer(serializers.ModelSerializer):
    """A day's figures (recycling.models.DAILY_TOTAL_FIGURES), read-only."""

    city = serializers.CharField(source="city.code")


class CityTotalSerializer(_DailyTotalSerializer):
    stations = serializers.IntegerField(help_text=_("Stations with drop-offs."))

    class Meta:
        model = DailyCityTotal
        fields = _daily_total_fields("stations")
        read_only_fields = fields


class StationTotalSerializer(_DailyTotalSerializer):
    station = serializers.IntegerField(source="station_id")
    station_code = serializers.CharField(source="station.code")

    class Meta:
        model = DailyStationTotal
        fields = _daily_total_fields("station", "station_code")
        read_only_fields = fields
