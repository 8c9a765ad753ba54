"""Members, carton drop-offs, earning rules, carbon and the daily totals.

The points ledger is its own app (ledger/): a member points at its Account, a drop-off at
its earning transfer and, once voided, at the reversal of it.
"""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ledger.models import Account, Transfer
from stations.models import City, Station

from .mobile import mask_mobile, validate_mobile

MIN_CARTONS_PER_DROPOFF = 1
MAX_CARTONS_PER_DROPOFF = 50
MAX_CARTONS_PER_MOVEMENT = 10000

# Member codes travel in the member's QR code: 16 characters from a 32-letter alphabet
# without look-alikes (no 0/O, 1/I/L) give 80 random bits, far beyond guessing.
MEMBER_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
MEMBER_CODE_LENGTH = 16
# What a member code looks like, for Python's re and the browser's RegExp alike (the desk's
# camera scanning accepts only a decoded text that matches it).
MEMBER_CODE_PATTERN = rf"^[{MEMBER_CODE_ALPHABET}]{{{MEMBER_CODE_LENGTH}}}$"
MEMBER_CODE_HINT_LENGTH = 4  # the code's first characters, shown to staff to confirm a member
MAX_DISPLAY_NAME_LENGTH = 30


def new_member_code() -> str:
    return "".join(secrets.choice(MEMBER_CODE_ALPHABET) for _ in range(MEMBER_CODE_LENGTH))


class Member(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="member", verbose_name=_("user")
    )
    # Empty (NULL) once the member deleted their account: recycling.services.anonymise_member.
    mobile = models.CharField(
        _("mobile number"), max_length=11, unique=True, null=True, blank=True, validators=[validate_mobile]
    )
    code = models.CharField(_("member code"), max_length=MEMBER_CODE_LENGTH, unique=True, default=new_member_code)
    display_name = models.CharField(
        _("display name"),
        max_length=MAX_DISPLAY_NAME_LENGTH,
        blank=True,
        db_default="",
        help_text=_("Optional: the name station staff see to confirm it is you at the counter."),
    )
    privacy_notice_version = models.CharField(
        _("privacy notice version"),
        max_length=20,
        blank=True,
        db_default="",
        help_text=_("The version of the privacy notice the member agreed to at sign-up."),
    )
    privacy_consent_at = models.DateTimeField(_("privacy consent given at"), null=True, blank=True)
    anonymised_at = models.DateTimeField(
        _("account deleted at"),
        null=True,
        blank=True,
        help_text=_("The member deleted their account: number and name removed, sign-in disabled."),
    )
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now)
    home_station = models.ForeignKey(
        Station,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="home_members",
        verbose_name=_("home station"),
        help_text=_("Where the member first left cartons; donations count towards its totals."),
    )
    account = models.OneToOneField(
        Account, on_delete=models.PROTECT, related_name="member", verbose_name=_("points account")
    )

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        constraints = [
            models.CheckConstraint(condition=Q(mobile__regex=r"^1[3-9][0-9]{9}$"), name="member_mobile_normalized"),
            # A member has a number until they delete their account; then number and name are gone.
            models.CheckConstraint(
                condition=Q(anonymised_at__isnull=True, mobile__isnull=False)
                | Q(anonymised_at__isnull=False, mobile__isnull=True, display_name=""),
                name="member_anonymised_has_no_mobile",
            ),
            models.CheckConstraint(
                condition=Q(privacy_notice_version="", privacy_consent_at__isnull=True)
                | (~Q(privacy_notice_version="") & Q(privacy_consent_at__isnull=False)),
                name="member_consent_has_version_and_time",
            ),
        ]

    def __str__(self) -> str:
        return self.masked_mobile

    @property
    def masked_mobile(self) -> str:
        if self.mobile is None:
            return str(_("deleted member"))
        return mask_mobile(self.mobile)

    @property
    def counter_label(self) -> str:
        """What staff see of a member found at the counter: the masked number and the chosen
        display name, or else the member code's first characters (138****5678 · 小王)."""
        confirm = self.display_name or f"{self.code[:MEMBER_CODE_HINT_LENGTH]}…"
        return f"{self.masked_mobile} · {confirm}"


class EarningRule(models.Model):
    """Points per carton, in force from valid_from until valid_to, nationally or for one city.

    A city's own rule beats the national one; among several, the latest valid_from wins.
    """

    points_per_carton = models.PositiveIntegerField(_("points per carton"))
    daily_carton_cap = models.PositiveIntegerField(
        _("daily carton cap"),
        default=settings.GREENBOX_DEFAULT_DAILY_CARTON_CAP,
        help_text=_("Cartons per member per day that earn points; cartons beyond it are recorded with 0 points."),
    )
    # Without them a member earns the daily cap every day; back-dating is bounded by the drop-off
    # time window (recycling.services.check_dropoff_time), the weekly and monthly caps bound the rest.
    weekly_carton_cap = models.PositiveIntegerField(
        _("weekly carton cap"),
        null=True,
        blank=True,
        help_text=_("Cartons per member per week (Monday to Sunday) that earn points; empty: no weekly cap."),
    )
    monthly_carton_cap = models.PositiveIntegerField(
        _("monthly carton cap"),
        null=True,
        blank=True,
        help_text=_("Cartons per member per calendar month that earn points; empty: no monthly cap."),
    )
    city = models.ForeignKey(
        City,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="earning_rules",
        verbose_name=_("city"),
        help_text=_("Leave empty for a national rule."),
    )
    valid_from = models.DateTimeField(_("valid from"))
    valid_to = models.DateTimeField(_("valid to"), null=True, blank=True)

    class Meta:
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        ordering = ["-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
                name="earning_rule_valid_to_after_valid_from",
            ),
        ]

    def __str__(self) -> str:
        where = self.city.name_zh if self.city_id else _("national")
        return _("%(points)s points per carton (%(where)s, from %(start)s)") % {
            "points": self.points_per_carton,
            "where": where,
            "start": timezone.localtime(self.valid_from).date(),
        }


class DropOff(models.Model):
    class Status(models.TextChoices):
        ACCEPTED = "accepted", _("accepted")
        VOIDED = "voided", _("voided")

    # No single-column indexes: (station, occurred_at) and (member, occurred_at) below lead with
    # them and serve every read by station or member (recycling/migrations/0010 says how it was
    # checked); each index costs every drop-off's INSERT.
    station = models.ForeignKey(
        Station, on_delete=models.PROTECT, related_name="dropoffs", verbose_name=_("station"), db_index=False
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="dropoffs", verbose_name=_("member"), db_index=False
    )
    cartons = models.PositiveSmallIntegerField(
        _("cartons"),
        validators=[MinValueValidator(MIN_CARTONS_PER_DROPOFF), MaxValueValidator(MAX_CARTONS_PER_DROPOFF)],
    )
    earning_cartons = models.PositiveSmallIntegerField(
        _("cartons earning points"), help_text=_("Cartons within the member's caps.")
    )
    points = models.PositiveIntegerField(_("points awarded"))
    rule = models.ForeignKey(
        EarningRule, on_delete=models.PROTECT, related_name="dropoffs", verbose_name=_("earning rule")
    )
    emission_factor = models.ForeignKey(
        "EmissionFactor", on_delete=models.PROTECT, related_name="dropoffs", verbose_name=_("emission factor")
    )
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="logged_dropoffs", verbose_name=_("logged by")
    )
    occurred_at = models.DateTimeField(_("time"), default=timezone.now)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACCEPTED)
    void_reason = models.CharField(_("void reason"), max_length=300, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="voided_dropoffs",
        verbose_name=_("voided by"),
    )
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    earning_transfer = models.OneToOneField(
        Transfer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="earning_dropoff",
        verbose_name=_("earning transfer"),
        help_text=_("The points credited; none for a drop-off whose cartons were all beyond the daily cap."),
    )
    reversal_transfer = models.OneToOneField(
        Transfer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_dropoff",
        verbose_name=_("reversal transfer"),
        help_text=_("The reversal of the earning transfer, once the drop-off is voided."),
    )

    class Meta:
        verbose_name = _("drop-off")
        verbose_name_plural = _("drop-offs")
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["member", "occurred_at"], name="dropoff_member_time"),
            models.Index(fields=["station", "occurred_at"], name="dropoff_station_time"),
            models.Index(fields=["occurred_at"], name="dropoff_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(cartons__gte=MIN_CARTONS_PER_DROPOFF, cartons__lte=MAX_CARTONS_PER_DROPOFF),
                name="dropoff_cartons_range",
            ),
            models.CheckConstraint(
                condition=Q(earning_cartons__lte=F("cartons")), name="dropoff_earning_cartons_within_cartons"
            ),
            models.CheckConstraint(
                condition=Q(status="accepted", voided_at__isnull=True, voided_by__isnull=True, void_reason="")
                | Q(status="voided", voided_at__isnull=False, voided_by__isnull=False) & ~Q(void_reason=""),
                name="dropoff_void_fields_match_status",
            ),
            models.CheckConstraint(
                condition=Q(reversal_transfer__isnull=True) | Q(status="voided", earning_transfer__isnull=False),
                name="dropoff_reversal_only_when_voided",
            ),
        ]

    def __str__(self) -> str:
        return _("%(cartons)s cartons at %(station)s") % {"cartons": self.cartons, "station": self.station.code}


class EmissionFactor(models.Model):
    """Carbon avoided per carton, as data: the carton's weight times the kg CO2e avoided per kg of
    corrugated board recycled, from a cited public source, in force from `valid_from` on."""

    name = models.CharField(_("name"), max_length=200)
    kg_board_per_carton = models.DecimalField(_("kg of board per carton"), max_digits=6, decimal_places=3)
    kg_co2e_per_kg = models.DecimalField(_("kg CO2e avoided per kg recycled"), max_digits=6, decimal_places=3)
    basis = models.TextField(_("basis"), help_text=_("What the factor counts, e.g. recycling instead of landfill."))
    source = models.CharField(_("source"), max_length=300)
    source_url = models.URLField(_("source address"), blank=True)
    valid_from = models.DateField(_("valid from"), unique=True)

    class Meta:
        verbose_name = _("emission factor")
        verbose_name_plural = _("emission factors")
        ordering = ["-valid_from"]
        constraints = [
            models.CheckConstraint(condition=Q(kg_board_per_carton__gt=0), name="emission_factor_weight_positive"),
            models.CheckConstraint(condition=Q(kg_co2e_per_kg__gte=0), name="emission_factor_co2e_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.valid_from})"

    @property
    def kg_co2e_per_carton(self):
        return self.kg_board_per_carton * self.kg_co2e_per_kg


class CartonInventory(models.Model):
    """Cartons on hand at a station: in from drop-offs, out when reused for a parcel or baled."""

    station = models.OneToOneField(
        Station, on_delete=models.PROTECT, related_name="carton_inventory", verbose_name=_("station")
    )
    on_hand = models.IntegerField(_("cartons on hand"), default=0)

    class Meta:
        verbose_name = _("carton inventory")
        verbose_name_plural = _("carton inventories")
        constraints = [models.CheckConstraint(condition=Q(on_hand__gte=0), name="carton_inventory_not_negative")]

    def __str__(self) -> str:
        return f"{self.station.code}: {self.on_hand}"


class CartonMovement(models.Model):
    """Cartons leaving a station's inventory: handed to someone sending a parcel, or baled for pulping."""

    class Kind(models.TextChoices):
        REUSED = "reused", _("reused for a parcel")
        BALED = "baled", _("baled for pulping")

    station = models.ForeignKey(
        Station, on_delete=models.PROTECT, related_name="carton_movements", verbose_name=_("station")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    cartons = models.PositiveIntegerField(_("cartons"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="carton_movements",
        verbose_name=_("recorded by"),
    )
    occurred_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("carton movement")
        verbose_name_plural = _("carton movements")
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["occurred_at"], name="carton_movement_time")]
        constraints = [
            models.CheckConstraint(
                condition=Q(cartons__gte=1, cartons__lte=MAX_CARTONS_PER_MOVEMENT), name="carton_movement_range"
            ),
            models.CheckConstraint(condition=Q(kind__in=["reused", "baled"]), name="carton_movement_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.station.code} {self.get_kind_display()} {self.cartons}"


class RecyclingCampaign(models.Model):
    """A festival campaign as data: its window, its target and the earlier campaign it is compared with."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    start_day = models.DateField(_("first day"))
    end_day = models.DateField(_("last day"))
    target_cartons = models.PositiveBigIntegerField(_("target in cartons"))
    compared_with = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="compared_by",
        verbose_name=_("compared with"),
    )

    class Meta:
        verbose_name = _("recycling campaign")
        verbose_name_plural = _("recycling campaigns")
        ordering = ["-start_day"]
        constraints = [
            models.CheckConstraint(condition=Q(end_day__gte=F("start_day")), name="campaign_end_not_before_start"),
        ]

    def __str__(self) -> str:
        return self.name


class DailyTotal(models.Model):
    """What a day's totals count; a recompute overwrites a day's rows, never increments them."""

    day = models.DateField(_("day"))
    cartons = models.PositiveBigIntegerField(_("cartons"), default=0)
    dropoffs = models.PositiveBigIntegerField(_("drop-offs"), default=0)
    members = models.PositiveBigIntegerField(_("distinct members"), default=0)
    points_issued = models.PositiveBigIntegerField(_("points issued"), default=0)
    points_redeemed = models.PositiveBigIntegerField(_("points redeemed"), default=0)
    points_donated = models.PositiveBigIntegerField(_("points donated"), default=0)
    cartons_reused = models.PositiveBigIntegerField(_("cartons reused"), default=0)
    co2e_kg = models.DecimalField(_("kg CO2e avoided"), max_digits=16, decimal_places=3, default=0)
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        abstract = True
        ordering = ["day"]

    @property
    def reuse_rate(self) -> float | None:
        """Cartons reused per carton collected that day."""
        return self.cartons_reused / self.cartons if self.cartons else None


# The figures every daily total counts, in the order of their columns: the totals SQL writes
# them, the API and the dashboards read them, under these names (station and city rows alike;
# a city row also counts its stations).
DAILY_TOTAL_FIGURES = (
    "cartons",
    "dropoffs",
    "members",
    "points_issued",
    "points_redeemed",
    "points_donated",
    "cartons_reused",
    "co2e_kg",
)


class DailyStationTotal(DailyTotal):
    # A recompute rewrites a day's ~130,000 station rows at national scale. Database foreign keys
    # would check (and key-share lock) a station and a city row for each of them; the rows are
    # derived data written only by recycling.totals from a join with the stations themselves, so
    # the references are kept by construction and by on_delete=PROTECT, not by the database.
    # The two indexes below serve every read (by station, by day and city), so the foreign keys
    # get no single-column indexes of their own either: each index costs every rewrite.
    station = models.ForeignKey(
        Station,
        on_delete=models.PROTECT,
        related_name="daily_totals",
        verbose_name=_("station"),
        db_constraint=False,
        db_index=False,
    )
    city = models.ForeignKey(
        City,
        on_delete=models.PROTECT,
        related_name="station_daily_totals",
        verbose_name=_("city"),
        db_constraint=False,
        db_index=False,
    )

    class Meta(DailyTotal.Meta):
        verbose_name = _("daily station total")
        verbose_name_plural = _("daily station totals")
        # (station, day): unique, and a station's history in day order.
        constraints = [models.UniqueConstraint(fields=["station", "day"], name="daily_station_total_unique")]
        indexes = [
            # A day's rows of every city (the recompute's clean-up, the anomaly flags of a day).
            models.Index(fields=["day", "city"], name="daily_station_total_city"),
            # A city's rows over a range of days, with every column its station ranking and anomaly
            # flags read (PostgreSQL answers from the index alone; other databases ignore include):
            # the range is one contiguous slice of the index instead of every station of each day,
            # and within a day the stations come in order of cartons (the anomaly fences' order
            # statistics, the stations above a fence).
            models.Index(
                fields=["city", "day", "cartons"],
                include=["station", "dropoffs", "cartons_reused"],
                name="daily_station_total_city_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.station.code}"


class DailyCityTotal(DailyTotal):
    city = models.ForeignKey(City, on_delete=models.PROTECT, related_name="daily_totals", verbose_name=_("city"))
    stations = models.PositiveIntegerField(_("stations with drop-offs"), default=0)

    class Meta(DailyTotal.Meta):
        verbose_name = _("daily city total")
        verbose_name_plural = _("daily city totals")
        constraints = [models.UniqueConstraint(fields=["day", "city"], name="daily_city_total_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.city.code}"


# The columns a campaign station total carries after its campaign and station, in column order:
# recycling.totals writes them, and the tests read them back.
CAMPAIGN_STATION_TOTAL_FIGURES = (
    "city_id",
    "cartons",
    "dropoffs",
    "points_issued",
    "cartons_reused",
    "co2e_kg",
    "days_active",
    "rank",
)


class CampaignStationTotal(models.Model):
    """A station's totals over a campaign's whole window: the sum of its daily station totals of
    the campaign's days, kept by recycling.totals.aggregate_campaign (after each recompute of a
    day of the campaign), so that national station figures (the top stations, the median station)
    read one row per station instead of one per station and day. Derived data, overwritten by
    every refresh and never edited."""

    # The unique constraint and the indexes below all lead with the campaign: no index of its own.
    campaign = models.ForeignKey(
        RecyclingCampaign,
        on_delete=models.CASCADE,
        related_name="station_totals",
        verbose_name=_("campaign"),
        db_index=False,
    )
    # As in DailyStationTotal: written only by a set-based refresh from rows that reference
    # existing stations, so no database foreign keys (and no indexes of their own) for them.
    station = models.ForeignKey(
        Station,
        on_delete=models.PROTECT,
        related_name="campaign_totals",
        verbose_name=_("station"),
        db_constraint=False,
        db_index=False,
    )
    city = models.ForeignKey(
        City,
        on_delete=models.PROTECT,
        related_name="station_campaign_totals",
        verbose_name=_("city"),
        db_constraint=False,
        db_index=False,
    )
    cartons = models.PositiveBigIntegerField(_("cartons"), default=0)
    dropoffs = models.PositiveBigIntegerField(_("drop-offs"), default=0)
    points_issued = models.PositiveBigIntegerField(_("points issued"), default=0)
    cartons_reused = models.PositiveBigIntegerField(_("cartons reused"), default=0)
    co2e_kg = models.DecimalField(_("kg CO2e avoided"), max_digits=16, decimal_places=3, default=0)
    days_active = models.PositiveIntegerField(
        _("days with activity"), default=0, help_text=_("Days of the campaign with a daily total row.")
    )
    rank = models.PositiveIntegerField(
        _("national rank"),
        default=0,
        help_text=_("1 for the station with the most cartons in the campaign (ties: the lower station id first)."),
    )
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        verbose_name = _("campaign station total")
        verbose_name_plural = _("campaign station totals")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "station"], name="campaign_station_total_unique"),
        ]
        # By rank, the top stations are the first entries of the campaign, the median station one
        # or two entries in the middle (found by rank, not by walking half of 130,000 entries),
        # and a city's stations in ranking order are one slice. Not unique: a refresh rewrites
        # the ranks row by row.
        indexes = [
            models.Index(fields=["campaign", "rank"], name="campaign_station_total_rank"),
            models.Index(fields=["campaign", "city", "rank"], name="campaign_station_total_city"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} {self.station.code}"


class FlagReview(models.Model):
    """An ops decision on an anomaly flag (dashboards/anomalies.py): reviewed, with a note, or acted
    on by voiding the flag's drop-offs (recycling.reviews). The flags themselves are computed from
    the drop-offs and the daily totals, not stored; a flag is its kind and its subject (what it is
    about: a station, a member or a staff user on a day, or one drop-off), and is decided once."""

    class Kind(models.TextChoices):
        STATION_DAY = "station_day", _("station far above its city that day")
        CAP_AT_STATIONS = "cap_at_stations", _("member at the daily cap at several stations")
        STAFF_DAY = "staff_day", _("staff user far above the city's norm that day")
        LATE_RECORD = "late_record", _("recorded long after it happened")

    class Decision(models.TextChoices):
        REVIEWED = "reviewed", _("reviewed")
        VOIDED = "voided", _("drop-offs voided")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    subject = models.CharField(
        _("subject"), max_length=64, help_text=_("What the flag is about: an id and a day, or a drop-off's id.")
    )
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices)
    # As long as a void's reason: a void's note is the reason of each drop-off it voids.
    note = models.CharField(_("note"), max_length=300)
    voided_dropoffs = models.JSONField(_("drop-offs voided"), default=list, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="flag_reviews", verbose_name=_("decided by")
    )
    decided_at = models.DateTimeField(_("decided at"), default=timezone.now)

    class Meta:
        verbose_name = _("flag review")
        verbose_name_plural = _("flag reviews")
        ordering = ["-decided_at"]
        constraints = [
            # A flag is decided once: a second review (or a review racing a void) is refused.
            models.UniqueConstraint(fields=["kind", "subject"], name="flag_review_once"),
            models.CheckConstraint(
                condition=Q(kind__in=["station_day", "cap_at_stations", "staff_day", "late_record"]),
                name="flag_review_kind_valid",
            ),
            models.CheckConstraint(condition=Q(decision__in=["reviewed", "voided"]), name="flag_review_decision_valid"),
            models.CheckConstraint(condition=~Q(note=""), name="flag_review_note_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.subject}: {self.get_decision_display()}"
