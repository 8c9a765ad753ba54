"""Refusals of the rewards services, each with a stable `code` for API clients.

They are recycling.errors.DomainError subclasses, so the admin, the pages and the API show
them the same way. The rewards services also raise these from recycling.errors:
InsufficientPoints, StationInactive and NotStationStaff; and, from idempotency.errors, the
idempotency mechanism's InvalidKey, KeyInProgress and KeyReused.
"""

from django.utils.translation import gettext_lazy as _

from recycling.errors import DomainError


class InvalidQuantity(DomainError):
    code = "invalid_quantity"
    default_message = _("The quantity is out of range.")


class RewardInactive(DomainError):
    code = "reward_inactive"
    default_message = _("This reward is no longer available.")


class RewardNotYetActive(DomainError):
    code = "reward_not_yet_active"
    default_message = _("This reward is not available yet.")


class RewardNotReservable(DomainError):
    code = "reward_not_reservable"
    default_message = _("This reward is a donation: donate to its campaign instead of reserving it.")


class OutOfStock(DomainError):
    code = "out_of_stock"
    default_message = _("This reward is out of stock at this station.")


class DailyLimitReached(DomainError):
    code = "daily_limit_reached"
    default_message = _("You have reached today's limit for this reward.")


class CampaignNotStarted(DomainError):
    code = "campaign_not_started"
    default_message = _("This campaign has not started yet.")


class CampaignEnded(DomainError):
    code = "campaign_ended"
    default_message = _("This campaign has ended.")


class WrongPickupCode(DomainError):
    code = "wrong_pickup_code"
    default_message = _("The pickup code is wrong.")


class WrongStation(DomainError):
    code = "wrong_station"
    default_message = _("This reservation is collected at another station.")


class AlreadyCollected(DomainError):
    code = "already_collected"
    default_message = _("This reward has already been collected.")


class ReservationClosed(DomainError):
    code = "reservation_closed"
    default_message = _("This reservation was cancelled or has expired.")


class NotYourRedemption(DomainError):
    code = "not_your_redemption"
    default_message = _("This reservation belongs to another member.")


class NoSuchReservation(DomainError):
    code = "no_such_reservation"
    default_message = _("No reservation is waiting at this station with this pickup code.")


class InvalidStockChange(DomainError):
    code = "invalid_stock_change"
    default_message = _("The stock cannot go below zero.")


class TooManyPickupCodes(DomainError):
    code = "too_many_pickup_codes"
    default_message = _("Too many wrong pickup codes at this station: wait, then type the code the member shows again.")


class NotebooksNotAvailable(DomainError):
    code = "notebooks_not_available"
    default_message = _("There are not that many notebooks to allocate.")


class InvalidRecordDay(DomainError):
    code = "invalid_record_day"
    default_message = _("Choose a day that has come, and not before the notebooks were bought.")
