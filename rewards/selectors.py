"""Reads about rewards, stock, reservations and campaigns."""

from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from events.models import Notice
from ledger.models import Account, Transfer
from recycling.days import day_bounds, shanghai_day
from recycling.models import Member
from stations.models import Station
from stations.selectors import stations_for_user

from .models import (
    Donation,
    DonationAllocation,
    DonationCampaign,
    NotebookDelivery,
    Redemption,
    Reward,
    StationStock,
)

# Reservations that count against a member's daily limit: a cancelled or expired one gave its
# points and stock back, so it does not.
COUNTED_STATUSES = [Redemption.Status.RESERVED, Redemption.Status.COLLECTED]


def reserved_quantity_on_day(*, member: Member, reward: Reward, at: datetime) -> int:
    """How many of `reward` the member reserved on the Shanghai day of `at` (reserved or collected)."""
    start, end = day_bounds(shanghai_day(at))
    total = Redemption.objects.filter(
        member=member, reward=reward, status__in=COUNTED_STATUSES, reserved_at__gte=start, reserved_at__lt=end
    ).aggregate(total=Sum("quantity"))["total"]
    return total or 0


def waiting_reservations(*, user: AbstractBaseUser) -> QuerySet[Redemption]:
    """Reservations waiting to be collected at the stations the user works at."""
    return Redemption.objects.filter(
        status=Redemption.Status.RESERVED, station__in=stations_for_user(user=user)
    ).select_related("reward", "station", "member")


def waiting_reservation_by_code(*, station: Station, pickup_code: str) -> Redemption | None:
    """The reservation waiting at `station` with this pickup code (codes are unique among them)."""
    return Redemption.objects.filter(
        station=station, status=Redemption.Status.RESERVED, pickup_code=(pickup_code or "").strip()
    ).first()


def active_rewards() -> QuerySet[Reward]:
    """The active catalog, cheapest first: goods to reserve at a station, and donation entries."""
    return Reward.objects.filter(is_active=True).order_by("points_cost", "name", "pk")


def station_stock(*, station: Station) -> QuerySet[StationStock]:
    """The stock of active rewards at a station, with its reward, cheapest first."""
    return (
        StationStock.objects.filter(station=station, reward__is_active=True)
        .select_related("reward")
        .order_by("reward__points_cost", "reward__name", "pk")
    )


def member_redemptions(*, member: Member) -> QuerySet[Redemption]:
    """The member's reservations, newest first, with their reward and station."""
    return Redemption.objects.filter(member=member).select_related("reward", "station").order_by("-reserved_at", "-pk")


def member_redemption(*, member: Member, redemption_id: int) -> Redemption | None:
    """One of the member's own redemptions; None for another member's (the caller answers 404)."""
    return member_redemptions(member=member).filter(pk=redemption_id).first()


def donation_campaigns() -> QuerySet[DonationCampaign]:
    """Every donation campaign, newest first."""
    return DonationCampaign.objects.order_by("-starts_at", "-pk")


def open_campaigns(*, now: datetime | None = None) -> QuerySet[DonationCampaign]:
    """The campaigns taking donations now, the one ending soonest first."""
    now = now or timezone.now()
    return DonationCampaign.objects.filter(starts_at__lte=now, ends_at__gt=now).order_by("ends_at", "pk")


def member_donations(*, member: Member) -> QuerySet[Donation]:
    """The member's donations, newest first, with their campaign."""
    return Donation.objects.filter(member=member).select_related("campaign").order_by("-created_at", "-pk")


def notebooks_funded(*, member: Member) -> int:
    """The notebooks the member's donations funded."""
    return Donation.objects.filter(member=member).aggregate(total=Sum("notebooks"))["total"] or 0


def stock_for_user(*, user: AbstractBaseUser) -> QuerySet[StationStock]:
    """The stock rows of the stations the user works at (all of them for a superuser)."""
    return StationStock.objects.filter(station__in=stations_for_user(user=user)).select_related("station", "reward")


@dataclass(frozen=True)
class CampaignProgress:
    points: int
    notebooks: int  # pledged: funded by the donations
    target_notebooks: int
    bought: int  # of the pledged notebooks (rewards/deliveries.py)
    delivered: int  # of the bought ones, to schools

    @property
    def percent(self) -> float:
        return min(100.0, 100.0 * self.notebooks / self.target_notebooks)


def campaign_progress(*, campaign: DonationCampaign) -> CampaignProgress:
    """Progress: points are the balance of the campaign's own ledger account (what was donated),
    notebooks the sum of the donations (each keeps the notebooks its points funded), then how
    many of them were bought and delivered."""

    def total(queryset) -> int:
        return queryset.aggregate(total=Sum("notebooks"))["total"] or 0

    return CampaignProgress(
        points=Account.objects.values_list("balance", flat=True).get(pk=campaign.account_id),
        notebooks=total(campaign.donations.all()),
        target_notebooks=campaign.target_notebooks,
        bought=total(campaign.purchases.all()),
        delivered=total(NotebookDelivery.objects.filter(purchase__campaign=campaign)),
    )


@dataclass(frozen=True)
class Arrival:
    notebooks: int
    school: str
    day: date


@dataclass
class Journey:
    """Where one donation's notebooks are: delivered (to which school, when), bought and on
    their way, or still waiting to be bought (rewards/deliveries.py allocates them)."""

    notebooks: int
    arrivals: list[Arrival]
    on_the_way: int

    @property
    def waiting(self) -> int:
        return self.notebooks - self.on_the_way - sum(arrival.notebooks for arrival in self.arrivals)


def donation_journeys(*, donations) -> dict[int, Journey]:
    """Each donation's Journey, by donation id (one query for all of them)."""
    journeys = {donation.pk: Journey(notebooks=donation.notebooks, arrivals=[], on_the_way=0) for donation in donations}
    allocations = (
        DonationAllocation.objects.filter(donation_id__in=journeys)
        .select_related("delivery")
        .order_by("donation_id", "delivery__delivered_on", "pk")
    )
    for allocation in allocations:
        journey = journeys[allocation.donation_id]
        delivery = allocation.delivery
        if delivery is None:
            journey.on_the_way += allocation.notebooks
        else:
            arrival = Arrival(notebooks=allocation.notebooks, school=delivery.school, day=delivery.delivered_on)
            journey.arrivals.append(arrival)
    return journeys


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    points: int  # signed, from the member's side: + earned or refunded, - spent
    reason: str  # why the points changed, in the active language
    transfer_id: int


def member_transfers(*, member: Member) -> QuerySet[Transfer]:
    """The member's transfers, newest first, with what history_line() needs joined in.

    Lives in rewards/ because a line's reason may be a redemption or a donation; paginate the
    queryset, then describe each row of the page with history_line()."""
    account_id = member.account.pk
    return (
        Transfer.objects.filter(Q(debit_account_id=account_id) | Q(credit_account_id=account_id))
        .select_related(
            "earning_dropoff__station",
            "redemption__reward",
            "redemption__station",
            "donation__campaign",
            "reversed_dropoff__station",
            "refunded_redemption__reward",
        )
        .order_by("-created_at", "-pk")
    )


def history_line(*, transfer: Transfer, member: Member) -> HistoryLine:
    """One line of a member's history: the signed points and why they changed."""
    sign = 1 if transfer.credit_account_id == member.account.pk else -1
    return HistoryLine(
        at=transfer.created_at, points=sign * transfer.amount, reason=_reason(transfer), transfer_id=transfer.pk
    )


def _reason(transfer: Transfer) -> str:
    kind = Transfer.Kind
    if transfer.kind == kind.EARNING:
        dropoff = transfer.earning_dropoff
        text = ngettext(
            "%(cartons)s carton recycled at %(station)s", "%(cartons)s cartons recycled at %(station)s", dropoff.cartons
        ) % {
            "cartons": dropoff.cartons,
            "station": dropoff.station.name,
        }
        if dropoff.earning_cartons < dropoff.cartons:
            text += " " + _("(%(capped)s over the member's caps earned no points)") % {
                "capped": dropoff.cartons - dropoff.earning_cartons
            }
        return text
    if transfer.kind == kind.REDEMPTION:
        redemption = transfer.redemption
        return _("%(quantity)s × %(reward)s reserved at %(station)s") % {
            "quantity": redemption.quantity,
            "reward": redemption.reward.display_name,
            "station": redemption.station.name,
        }
    if transfer.kind == kind.DONATION:
        donation = transfer.donation
        return ngettext(
            "Donation to %(campaign)s (%(notebooks)s notebook)",
            "Donation to %(campaign)s (%(notebooks)s notebooks)",
            donation.notebooks,
        ) % {
            "campaign": donation.campaign.display_title,
            "notebooks": donation.notebooks,
        }
    # A reversal: the business row that points at it says what it reversed.
    if hasattr(transfer, "reversed_dropoff"):
        return _("Drop-off at %(station)s voided by the station") % {"station": transfer.reversed_dropoff.station.name}
    if hasattr(transfer, "refunded_redemption"):
        redemption = transfer.refunded_redemption
        template = {
            Redemption.Status.CANCELLED: _("Refund: you cancelled the reservation of %(reward)s"),
            Redemption.Status.EXPIRED: _("Refund: the reservation of %(reward)s expired uncollected"),
        }.get(redemption.status, _("Refund of the reservation of %(reward)s"))
        return template % {"reward": redemption.reward.display_name}
    return _("Reversal of transfer #%(id)s") % {"id": transfer.reverses_id}


# --- A member's own data, for download -----------------------------------------------------

EXPORT_SECTIONS = ("profile", "dropoffs", "points_history", "redemptions", "donations", "notices")


def _local(at: datetime | None) -> str | None:
    return timezone.localtime(at).isoformat() if at is not None else None


def member_data_export(*, member: Member) -> dict[str, list[dict]]:
    """Everything GreenBox keeps about the member, for the member themself: their profile, drop-offs,
    points history (history_line(), with each line's reason), reservations, donations and the
    notices sent to them (events.models.Notice), as
    rows of plain values (times in Asia/Shanghai, ISO 8601), one list per EXPORT_SECTIONS name.
    The pickup codes are left out: they prove a reservation at the counter, and the member's
    pages show the open ones. Lives in rewards/ because it reads redemptions and donations."""
    member = Member.objects.select_related("account", "home_station").get(pk=member.pk)
    profile = {
        "mobile": member.mobile,
        "display_name": member.display_name,
        "member_code": member.code,
        "joined_at": _local(member.joined_at),
        "home_station": member.home_station.code if member.home_station_id else None,
        "points_balance": member.account.balance,
        "privacy_notice_version": member.privacy_notice_version,
        "privacy_consent_at": _local(member.privacy_consent_at),
    }
    dropoffs = [
        {
            "id": dropoff.pk,
            "occurred_at": _local(dropoff.occurred_at),
            "recorded_at": _local(dropoff.recorded_at),
            "station": dropoff.station.code,
            "station_name": dropoff.station.name,
            "cartons": dropoff.cartons,
            "earning_cartons": dropoff.earning_cartons,
            "points": dropoff.points,
            "status": dropoff.status,
            "void_reason": dropoff.void_reason,
        }
        for dropoff in member.dropoffs.select_related("station").order_by("occurred_at", "pk")
    ]
    history = [
        {"transfer": line.transfer_id, "at": _local(line.at), "points": line.points, "reason": line.reason}
        for line in (history_line(transfer=transfer, member=member) for transfer in member_transfers(member=member))
    ]
    redemptions = [
        {
            "id": redemption.pk,
            "reserved_at": _local(redemption.reserved_at),
            "reward": redemption.reward.display_name,
            "station": redemption.station.code,
            "quantity": redemption.quantity,
            "points": redemption.points,
            "status": redemption.status,
            "collect_by": _local(redemption.expires_at),
            "collected_at": _local(redemption.collected_at),
            "ended_at": _local(redemption.ended_at),
        }
        for redemption in member_redemptions(member=member).order_by("reserved_at", "pk")
    ]
    donations = [
        {
            "id": donation.pk,
            "at": _local(donation.created_at),
            "campaign": donation.campaign.display_title,
            "notebooks": donation.notebooks,
            "points": donation.points,
        }
        for donation in member_donations(member=member).order_by("created_at", "pk")
    ]
    notices = [
        {"at": _local(notice.created_at), "kind": notice.kind, "message": notice.message()}
        for notice in Notice.objects.filter(member_id=member.pk).order_by("created_at", "pk")
    ]
    return {
        "profile": [profile],
        "dropoffs": dropoffs,
        "points_history": history,
        "redemptions": redemptions,
        "donations": donations,
        "notices": notices,
    }


def waiting_at_station(*, station: Station) -> QuerySet[Redemption]:
    """Reservations waiting to be collected at the station, oldest first (the first to expire)."""
    return (
        Redemption.objects.filter(status=Redemption.Status.RESERVED, station=station)
        .select_related("reward", "member")
        .order_by("reserved_at", "pk")
    )


def handed_out_on_day(*, station: Station, day: date) -> int:
    """Reservations collected at the station on a Shanghai day."""
    start, end = day_bounds(day)
    return Redemption.objects.filter(
        station=station, status=Redemption.Status.COLLECTED, collected_at__gte=start, collected_at__lt=end
    ).count()
