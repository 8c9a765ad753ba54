"""Cities, parcel stations and the staff who work at them."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

STATION_CODE_PATTERN = r"^[A-Z]{2,4}-[0-9]{5,6}$"


class City(models.Model):
    code = models.CharField(
        _("code"),
        max_length=8,
        unique=True,
        validators=[RegexValidator(r"^[A-Z]{2,8}$", _("Use 2 to 8 capital letters, e.g. HZ."))],
        help_text=_("Short capital letters that prefix the city's station codes, e.g. HZ."),
    )
    division_code = models.CharField(
        _("administrative division code"),
        max_length=6,
        unique=True,
        null=True,
        blank=True,
        validators=[RegexValidator(r"^[1-8][0-9]{5}$", _("Use the six-digit code, e.g. 330100 for Hangzhou."))],
        help_text=_("The city's code among China's administrative divisions (stations/divisions.py), e.g. 330100."),
    )
    name = models.CharField(_("name"), max_length=100)
    name_zh = models.CharField(_("Chinese name"), max_length=100)
    province = models.CharField(_("province"), max_length=100)
    latitude = models.DecimalField(
        _("latitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        _("longitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    population = models.PositiveBigIntegerField(
        _("population"),
        null=True,
        blank=True,
        help_text=_("People living in the city; it weighs the city in national figures and simulations."),
    )

    class Meta:
        verbose_name = _("city")
        verbose_name_plural = _("cities")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name_zh} {self.name}"

    @property
    def display_name(self) -> str:
        """The name in the active language: Chinese for zh-hans, English otherwise."""
        return self.name_zh if get_language().startswith("zh") else self.name


class Station(models.Model):
    code = models.CharField(
        _("code"),
        max_length=12,
        unique=True,
        validators=[RegexValidator(STATION_CODE_PATTERN, _("Use the city code and a number, e.g. HZ-00042."))],
    )
    name = models.CharField(_("name"), max_length=200)
    city = models.ForeignKey(City, on_delete=models.PROTECT, related_name="stations", verbose_name=_("city"))
    address = models.CharField(_("address"), max_length=300)
    latitude = models.DecimalField(
        _("latitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        _("longitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    opening_hours = models.CharField(_("opening hours"), max_length=100, blank=True, help_text=_("e.g. 08:00-21:00"))
    is_active = models.BooleanField(_("active"), default=True)
    issuance_account = models.OneToOneField(
        "ledger.Account",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="station",
        verbose_name=_("issuance account"),
        help_text=_("The ledger account the points its cartons earn come from; created at its first drop-off."),
    )

    class Meta:
        verbose_name = _("station")
        verbose_name_plural = _("stations")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__gte=-90, latitude__lte=90) | Q(latitude__isnull=True),
                name="station_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__gte=-180, longitude__lte=180) | Q(longitude__isnull=True),
                name="station_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class StationStaff(models.Model):
    class Role(models.TextChoices):
        STAFF = "staff", _("staff")
        MANAGER = "manager", _("manager")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="station_roles", verbose_name=_("user")
    )
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="staff", verbose_name=_("station"))
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.STAFF)

    class Meta:
        verbose_name = _("station staff")
        verbose_name_plural = _("station staff")
        constraints = [
            models.UniqueConstraint(fields=["user", "station"], name="station_staff_unique_user_station"),
            models.CheckConstraint(condition=Q(role__in=["staff", "manager"]), name="station_staff_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.station.code} ({self.get_role_display()})"
