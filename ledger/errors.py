"""The ledger's one refusal, on the ground floor with it."""

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


class InsufficientPoints(DomainError):
    code = "insufficient_points"
    default_message = _("The member does not have enough points.")
