"""Rewards: the catalog, stock at stations, redemptions and donation campaigns.

How rewards sit on the ledger (ledger/services.py):

- Every Reward and every DonationCampaign owns one ledger Account (kind `reward` or
  `campaign`), created with it by rewards.services.create_reward / create_campaign.
- Reserving a reward posts a `redemption` Transfer (member account -> reward account) at
  once; the Redemption points at it (one-to-one). Cancelling or expiring a reservation posts
  the transfer's reversal (ledger.services.reverse_transfer), its refund_transfer, so a reward account's balance is the
  points of its reserved and collected redemptions. Collecting posts nothing.
- Donating posts a `donation` Transfer (member account -> campaign account); the Donation
  points at it, so a campaign's progress is the balance of its own account.
- Stock is a counter per (station, reward) that the database keeps at or above zero.
- Reserving, cancelling and donating claim their idempotency key in the member's scope in the
  idempotency app's one table (idempotency/services.py), collecting in the station's: a
  retried request gets the first answer, refusals included.

Every write is a service in rewards/services.py; the invariants the database can state are
constraints here, the rest is checked by rewards/audit.py (part of `manage.py check_ledger`).
"""

import secrets
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from ledger.models import Account, Transfer
from recycling.models import Member
from stations.models import Station

MIN_QUANTITY = 1
MAX_QUANTITY = 10  # per reservation
MIN_NOTEBOOKS = 1
MAX_NOTEBOOKS = 100  # per donation
PICKUP_CODE_LENGTH = 6


def new_pickup_code() -> str:
    """Six random digits; the consumer shows them at the counter to collect a reservation."""
    return f"{secrets.randbelow(10**PICKUP_CODE_LENGTH):0{PICKUP_CODE_LENGTH}d}"


class DonationCampaign(models.Model):
    title = models.CharField(_("title"), max_length=200)
    title_zh = models.CharField(_("Chinese title"), max_length=200)
    beneficiary = models.CharField(
        _("beneficiary"), max_length=200, help_text=_("Who receives the notebooks, e.g. a rural school.")
    )
    points_per_notebook = models.PositiveIntegerField(_("points per notebook"))
    target_notebooks = models.PositiveIntegerField(_("target (notebooks)"))
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    account = models.OneToOneField(
        Account, on_delete=models.PROTECT, related_name="campaign", verbose_name=_("ledger account")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("donation campaign")
        verbose_name_plural = _("donation campaigns")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points_per_notebook__gt=0), name="campaign_points_per_notebook_positive"
            ),
            models.CheckConstraint(condition=Q(target_notebooks__gt=0), name="campaign_target_positive"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="campaign_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.title_zh} / {self.title}"

    @property
    def display_title(self) -> str:
        """The title in the active language: Chinese for zh-hans, English otherwise."""
        return self.title_zh if get_language().startswith("zh") else self.title

    def is_open(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


class Reward(models.Model):
    class Kind(models.TextChoices):
        GOODS = "goods", _("goods")
        DONATION = "donation", _("donation")

    name = models.CharField(_("name"), max_length=200)
    name_zh = models.CharField(_("Chinese name"), max_length=200)
    kind = models.CharField(
        _("kind"),
        max_length=10,
        choices=Kind.choices,
        default=Kind.GOODS,
        help_text=_(
            "Goods are reserved and collected at a station. A donation is a catalog entry that "
            "points to its campaign; members donate to the campaign."
        ),
    )
    campaign = models.ForeignKey(
        DonationCampaign,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        verbose_name=_("donation campaign"),
        help_text=_("Only for donation rewards."),
    )
    points_cost = models.PositiveIntegerField(_("points"))
    picture_url = models.URLField(_("picture URL"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    active_from = models.DateTimeField(_("available from"), default=timezone.now)
    active_until = models.DateTimeField(
        _("available until"), null=True, blank=True, help_text=_("Leave empty for no end.")
    )
    daily_limit_per_member = models.PositiveSmallIntegerField(
        _("daily limit per member"),
        null=True,
        blank=True,
        help_text=_("How many a member may reserve per day (reserved and collected ones count). Empty: no limit."),
    )
    account = models.OneToOneField(
        Account, on_delete=models.PROTECT, related_name="reward", verbose_name=_("ledger account")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["points_cost", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(points_cost__gt=0), name="reward_points_cost_positive"),
            models.CheckConstraint(condition=Q(kind__in=["goods", "donation"]), name="reward_kind_valid"),
            models.CheckConstraint(
                condition=Q(kind="goods", campaign__isnull=True) | Q(kind="donation", campaign__isnull=False),
                name="reward_campaign_iff_donation",
            ),
            models.CheckConstraint(
                condition=Q(active_until__isnull=True) | Q(active_until__gt=F("active_from")),
                name="reward_active_until_after_from",
            ),
            models.CheckConstraint(
                condition=Q(daily_limit_per_member__isnull=True) | Q(daily_limit_per_member__gte=1),
                name="reward_daily_limit_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name_zh} / {self.name}"

    @property
    def display_name(self) -> str:
        """The name in the active language: Chinese for zh-hans, English otherwise."""
        return self.name_zh if get_language().startswith("zh") else self.name


class StationStock(models.Model):
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="stock", verbose_name=_("station"))
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="stock", verbose_name=_("reward"))
    quantity = models.PositiveIntegerField(_("quantity"), default=0)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("station stock")
        verbose_name_plural = _("station stock")
        ordering = ["station", "reward"]
        constraints = [
            models.UniqueConstraint(fields=["station", "reward"], name="station_stock_unique_station_reward"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="station_stock_quantity_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.reward} @ {self.station.code}: {self.quantity}"


class Redemption(models.Model):
    class Status(models.TextChoices):
        RESERVED = "reserved", _("reserved")
        COLLECTED = "collected", _("collected")
        CANCELLED = "cancelled", _("cancelled")
        EXPIRED = "expired", _("expired")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("member"))
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("reward"))
    station = models.ForeignKey(
        Station, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("station")
    )
    quantity = models.PositiveSmallIntegerField(_("quantity"))
    points = models.PositiveIntegerField(_("points"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RESERVED)
    pickup_code = models.CharField(_("pickup code"), max_length=PICKUP_CODE_LENGTH)
    transfer = models.OneToOneField(
        Transfer,
        on_delete=models.PROTECT,
        related_name="redemption",
        verbose_name=_("debit transfer"),
        help_text=_("The points taken from the member; a cancellation or expiry reverses it."),
    )
    refund_transfer = models.OneToOneField(
        Transfer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunded_redemption",
        verbose_name=_("refund transfer"),
        help_text=_("The reversal of the debit, once the reservation is cancelled or expires."),
    )
    reserved_at = models.DateTimeField(_("reserved at"), default=timezone.now)
    expires_at = models.DateTimeField(_("collect by"))
    collected_at = models.DateTimeField(_("collected at"), null=True, blank=True)
    collected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="handed_out_redemptions",
        verbose_name=_("collected by"),
    )
    ended_at = models.DateTimeField(_("cancelled or expired at"), null=True, blank=True)

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-reserved_at"]
        permissions = [("collect_redemption", _("Can hand out reserved rewards against their pickup code"))]
        indexes = [
            models.Index(fields=["member", "reward", "reserved_at"], name="redemption_member_reward_time"),
            models.Index(fields=["station", "status"], name="redemption_station_status"),
            models.Index(fields=["status", "expires_at"], name="redemption_status_expiry"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=MIN_QUANTITY, quantity__lte=MAX_QUANTITY), name="redemption_quantity_range"
            ),
            models.CheckConstraint(condition=Q(points__gt=0), name="redemption_points_positive"),
            models.CheckConstraint(
                condition=Q(status__in=["reserved", "collected", "cancelled", "expired"]),
                name="redemption_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(pickup_code__regex=rf"^[0-9]{{{PICKUP_CODE_LENGTH}}}$"),
                name="redemption_pickup_code_digits",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("reserved_at")), name="redemption_expiry_after_reserve"
            ),
            models.CheckConstraint(
                condition=Q(
                    status="reserved", collected_at__isnull=True, collected_by__isnull=True, ended_at__isnull=True
                )
                | Q(status="collected", collected_at__isnull=False, collected_by__isnull=False, ended_at__isnull=True)
                | Q(
                    status__in=["cancelled", "expired"],
                    collected_at__isnull=True,
                    collected_by__isnull=True,
                    ended_at__isnull=False,
                ),
                name="redemption_fields_match_status",
            ),
            models.CheckConstraint(
                condition=Q(refund_transfer__isnull=True) | Q(status__in=["cancelled", "expired"]),
                name="redemption_refund_only_when_ended",
            ),
            # Staff find a waiting reservation by station and pickup code.
            models.UniqueConstraint(
                fields=["station", "pickup_code"],
                condition=Q(status="reserved"),
                name="redemption_pickup_code_unique_reserved",
            ),
        ]

    def __str__(self) -> str:
        return _("%(quantity)s × %(reward)s at %(station)s (%(status)s)") % {
            "quantity": self.quantity,
            "reward": self.reward.name_zh,
            "station": self.station.code,
            "status": self.get_status_display(),
        }


class Donation(models.Model):
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="donations", verbose_name=_("member"))
    campaign = models.ForeignKey(
        DonationCampaign, on_delete=models.PROTECT, related_name="donations", verbose_name=_("campaign")
    )
    notebooks = models.PositiveIntegerField(_("notebooks funded"))
    points = models.PositiveIntegerField(_("points"))
    transfer = models.OneToOneField(
        Transfer, on_delete=models.PROTECT, related_name="donation", verbose_name=_("transfer")
    )
    station = models.ForeignKey(
        Station,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="donations",
        verbose_name=_("station"),
        help_text=_("The member's home station when they donated; daily totals count the donation there."),
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("donation")
        verbose_name_plural = _("donations")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(notebooks__gte=MIN_NOTEBOOKS, notebooks__lte=MAX_NOTEBOOKS), name="donation_notebooks_range"
            ),
            models.CheckConstraint(condition=Q(points__gt=0), name="donation_points_positive"),
        ]

    def __str__(self) -> str:
        return _("%(notebooks)s notebooks for %(campaign)s") % {
            "notebooks": self.notebooks,
            "campaign": self.campaign.title_zh,
        }


# --- Donations followed to the school (rewards/deliveries.py writes these) ----------------------


class NotebookPurchase(models.Model):
    """Notebooks bought for a campaign with its donated points: how many, from whom, at what
    cost. Recording one allocates it to the campaign's donations first in, first out
    (DonationAllocation), so each donation knows which purchase bought its notebooks."""

    campaign = models.ForeignKey(
        DonationCampaign, on_delete=models.PROTECT, related_name="purchases", verbose_name=_("campaign")
    )
    notebooks = models.PositiveIntegerField(_("notebooks bought"))
    supplier = models.CharField(_("supplier"), max_length=200)
    cost = models.DecimalField(_("cost (yuan)"), max_digits=12, decimal_places=2)
    bought_on = models.DateField(_("bought on"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("notebook purchase")
        verbose_name_plural = _("notebook purchases")
        ordering = ["-bought_on", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(notebooks__gt=0), name="purchase_notebooks_positive"),
            models.CheckConstraint(condition=Q(cost__gte=0), name="purchase_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return _("%(notebooks)s notebooks from %(supplier)s, %(day)s") % {
            "notebooks": self.notebooks,
            "supplier": self.supplier,
            "day": self.bought_on,
        }


class NotebookDelivery(models.Model):
    """Notebooks of one purchase handed to a named school, with the receipt or a photo."""

    purchase = models.ForeignKey(
        NotebookPurchase, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("purchase")
    )
    school = models.CharField(_("school"), max_length=200)
    notebooks = models.PositiveIntegerField(_("notebooks delivered"))
    delivered_on = models.DateField(_("delivered on"))
    receipt = models.FileField(
        _("receipt or photo"),
        upload_to="deliveries/%Y/%m/",
        blank=True,
        help_text=_("The school's signed receipt or a photo of the hand-over (PDF, JPEG or PNG, at most 5 MB)."),
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("notebook delivery")
        verbose_name_plural = _("notebook deliveries")
        ordering = ["-delivered_on", "-pk"]
        constraints = [models.CheckConstraint(condition=Q(notebooks__gt=0), name="delivery_notebooks_positive")]

    def __str__(self) -> str:
        return _("%(notebooks)s notebooks to %(school)s, %(day)s") % {
            "notebooks": self.notebooks,
            "school": self.school,
            "day": self.delivered_on,
        }


class DonationAllocation(models.Model):
    """Some of a donation's notebooks: bought by a purchase and, once delivered, carried by a
    delivery. A purchase's notebooks are allocated to the campaign's donations first in, first
    out, when it is recorded; a delivery then takes its purchase's undelivered allocations in the
    same order, splitting the last one if it takes only part. So every donation reads
    "N notebooks reached <school> on <day>" for each delivery that carried some of it."""

    donation = models.ForeignKey(
        Donation, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("donation")
    )
    purchase = models.ForeignKey(
        NotebookPurchase, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("purchase")
    )
    delivery = models.ForeignKey(
        NotebookDelivery,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="allocations",
        verbose_name=_("delivery"),
    )
    notebooks = models.PositiveIntegerField(_("notebooks"))

    class Meta:
        verbose_name = _("donation allocation")
        verbose_name_plural = _("donation allocations")
        ordering = ["donation_id", "pk"]
        constraints = [models.CheckConstraint(condition=Q(notebooks__gt=0), name="allocation_notebooks_positive")]

    def __str__(self) -> str:
        return _("%(notebooks)s notebooks of donation %(donation)s") % {
            "notebooks": self.notebooks,
            "donation": self.donation_id,
        }
