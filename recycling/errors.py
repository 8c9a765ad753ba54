"""Domain errors: refusals that the admin, the pages and the API show to people.

Each carries a stable `code` (for API clients) and a translated message. A service raises
one before it writes anything, or inside its transaction so that nothing is written.
"""

from django.utils.translation import gettext_lazy as _

# DomainError lives on the ground floor now; importing it from here still works.
from core.errors import DomainError
from ledger.errors import InsufficientPoints  # noqa: F401  (the ledger's refusal, raised by recycling too)


class InvalidCartonCount(DomainError):
    code = "invalid_cartons"


class UnknownMember(DomainError):
    code = "unknown_member"
    default_message = _("No member has this member code.")


class UnknownStation(DomainError):
    code = "unknown_station"
    default_message = _("There is no such station.")


class StationInactive(DomainError):
    code = "station_inactive"
    default_message = _("This station is not active.")


class NotStationStaff(DomainError):
    code = "not_station_staff"
    default_message = _("You do not work at this station.")


class NoEarningRule(DomainError):
    code = "no_earning_rule"
    default_message = _("No earning rule is in force for this station's city at that time.")


class InvalidTime(DomainError):
    code = "invalid_time"
    default_message = _("The drop-off time cannot be in the future.")


class DropOffTooOld(DomainError):
    code = "dropoff_too_old"
    default_message = _("The drop-off time is too long ago to be recorded.")


class CampaignClosed(DomainError):
    code = "campaign_closed"
    default_message = _(
        "That day belongs to a campaign that has closed: drop-offs of its days can no longer be recorded."
    )


class AlreadyVoided(DomainError):
    code = "already_voided"
    default_message = _("This drop-off has already been voided.")


class InvalidReason(DomainError):
    code = "invalid_reason"
    default_message = _("Give a reason.")


class NoEmissionFactor(DomainError):
    code = "no_emission_factor"
    default_message = _("No emission factor is in force at that time.")


class NotEnoughCartons(DomainError):
    code = "not_enough_cartons"
    default_message = _("The station does not have that many cartons on hand.")


class UnknownDropOff(DomainError):
    code = "unknown_dropoff"
    default_message = _("There is no such drop-off.")


class InvalidMovementKind(DomainError):
    code = "invalid_movement_kind"
    default_message = _("Choose whether the cartons were reused or baled.")


class RuleInUse(DomainError):
    code = "rule_in_use"
    default_message = _("Drop-offs were priced with this rule: only its end can still be set.")


class FactorInUse(DomainError):
    code = "factor_in_use"
    default_message = _("Drop-offs were recorded with this factor: it can no longer be changed.")


class FactorStartOvertaken(DomainError):
    code = "valid_from_overtaken"
    default_message = _("Drop-offs from this day on were already recorded with an earlier factor. Choose a later day.")


class CampaignCompared(DomainError):
    code = "campaign_compared"
    default_message = _("Another campaign is compared with this one: it cannot be deleted.")


class MemberSearchThrottled(DomainError):
    code = "member_search_throttled"
    default_message = _("Too many member searches. Scan the member's QR code, or try again later.")


class NotAllowedToReveal(DomainError):
    code = "not_allowed_to_reveal"
    default_message = _("Only a superuser may see a member's full mobile number.")


class MemberDeleted(DomainError):
    code = "member_deleted"
    default_message = _("This member deleted their account.")


class InvalidDisplayName(DomainError):
    code = "invalid_display_name"


class FlagAlreadyDecided(DomainError):
    code = "flag_already_decided"
    default_message = _("This flag has already been reviewed.")


class InvalidNote(DomainError):
    code = "invalid_note"
    default_message = _("Write a note of what you found.")


class UnknownFlag(DomainError):
    code = "unknown_flag"
    default_message = _("There is no such anomaly flag.")
