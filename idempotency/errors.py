"""The refusals of the idempotency mechanism itself. None of them is ever stored under a key:
each is raised before the write runs, and the write does not run.

The API answers KeyInProgress with 409 and KeyReused and InvalidKey as its other domain refusals
(422 and 400): api/idempotency_keys.py.
"""

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


class InvalidKey(DomainError):
    code = "invalid_idempotency_key"
    default_message = _("The idempotency key must be 1 to 100 characters.")


class KeyInProgress(DomainError):
    """Another request holding this key, in this scope, is still running."""

    # The code the API has always answered this 409 with: clients retry on it.
    code = "idempotency_request_in_progress"
    default_message = _("A request with this idempotency key is still being processed; retry once it has finished.")


class KeyReused(DomainError):
    """The key was claimed before, in this scope, for another operation or another request."""

    code = "idempotency_key_reused"
    default_message = _("This idempotency key was already used for a different request.")
