"""Ledger checks for rewards, added to recycling.audit.LEDGER_CHECKS by RewardsConfig.ready().

Like recycling/audit.py: each check returns a list of violations (human-readable strings),
empty when the invariant holds, and is one set-based query.
"""

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from recycling.models import Transfer

from .models import Donation, DonationCampaign, Redemption, Reward, StationStock

OPEN = [Redemption.Status.RESERVED, Redemption.Status.COLLECTED]
ENDED = [Redemption.Status.CANCELLED, Redemption.Status.EXPIRED]


def redemptions_have_their_transfers() -> list[str]:
    """A redemption's debit is a `redemption` transfer of exactly its points from its member's
    account to its reward's account; a reserved or collected one has no reversal, a cancelled
    or expired one exactly one."""
    wrong = (
        Redemption.objects.annotate(reversals=Count("transfer__reversal"))
        .exclude(
            Q(transfer__kind=Transfer.Kind.REDEMPTION)
            & Q(transfer__amount=F("points"))
            & Q(transfer__debit_account__member=F("member"))
            & Q(transfer__credit_account=F("reward__account"))
            & (Q(status__in=OPEN, reversals=0) | Q(status__in=ENDED, reversals=1))
        )
        .values_list("pk", "status", "points", "transfer_id", "reversals")
    )
    return [
        f"redemption {pk} ({status}, {points} points): debit transfer {transfer_id} does not match "
        f"or has {reversals} reversal(s)"
        for pk, status, points, transfer_id, reversals in wrong
    ]


def donations_have_their_transfers() -> list[str]:
    """A donation's transfer is a `donation` of exactly its points from its member's account to
    its campaign's account, never reversed."""
    wrong = (
        Donation.objects.annotate(reversals=Count("transfer__reversal"))
        .exclude(
            transfer__kind=Transfer.Kind.DONATION,
            transfer__amount=F("points"),
            transfer__debit_account__member=F("member"),
            transfer__credit_account=F("campaign__account"),
            reversals=0,
        )
        .values_list("pk", "points", "transfer_id")
    )
    return [
        f"donation {pk} ({points} points): transfer {transfer_id} does not match it"
        for pk, points, transfer_id in wrong
    ]


def spending_transfers_have_their_records() -> list[str]:
    """Every `redemption` transfer belongs to a redemption and every `donation` transfer to a donation."""
    orphans = Transfer.objects.filter(
        Q(kind=Transfer.Kind.REDEMPTION, redemption__isnull=True)
        | Q(kind=Transfer.Kind.DONATION, donation__isnull=True)
    ).values_list("pk", "kind", "amount")
    return [f"transfer {pk} ({kind}, {amount} points) has no {kind} record" for pk, kind, amount in orphans]


def campaign_balances_match_donations() -> list[str]:
    """A campaign account's balance is the sum of the campaign's donations."""
    wrong = (
        DonationCampaign.objects.annotate(donated=Coalesce(Sum("donations__points"), 0))
        .exclude(account__balance=F("donated"))
        .values_list("pk", "title", "account__balance", "donated")
    )
    return [
        f"campaign {pk} ({title}): account balance {balance}, but donations sum to {donated}"
        for pk, title, balance, donated in wrong
    ]


def reward_balances_match_redemptions() -> list[str]:
    """A reward account's balance is the points of its reserved and collected redemptions."""
    wrong = (
        Reward.objects.annotate(spent=Coalesce(Sum("redemptions__points", filter=Q(redemptions__status__in=OPEN)), 0))
        .exclude(account__balance=F("spent"))
        .values_list("pk", "name", "account__balance", "spent")
    )
    return [
        f"reward {pk} ({name}): account balance {balance}, but open redemptions hold {spent} points"
        for pk, name, balance, spent in wrong
    ]


def stock_not_negative() -> list[str]:
    negative = StationStock.objects.filter(quantity__lt=0).values_list(
        "pk", "station__code", "reward__name", "quantity"
    )
    return [f"stock {pk} ({reward} at {station}): quantity {quantity}" for pk, station, reward, quantity in negative]


REWARDS_CHECKS = [
    redemptions_have_their_transfers,
    donations_have_their_transfers,
    spending_transfers_have_their_records,
    campaign_balances_match_donations,
    reward_balances_match_redemptions,
    stock_not_negative,
]
