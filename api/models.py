"""API tokens: one per station device or partner system, stored hashed.

As django-rest-knox does, the database never holds a token itself: a token is shown once, when
it is created (api.services.create_api_token), and only its SHA-256 digest is kept, with its
first characters (`prefix`) to find the row. A stolen database dump, or a glance at the admin,
gives no working token. Tokens are random (256 bits), so one unsalted SHA-256 is enough: there
is nothing to guess a password hash would protect against.

Each token has a name (which device), its user (whose permissions it carries), the station it
serves (none for a partner), an expiry, the last time it was used (to the minute) and, once
revoked, when. Revoking one token leaves the user's other tokens working.

The module also keeps the API's post_migrate hook alive: Django sends post_migrate only to apps
with a models module, and the API's reference data (the Ops group, the purge's schedule:
api/reference_data.py) is made then. The idempotency keys of the API's writes are the
idempotency app's.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

PREFIX_LENGTH = 10


class ApiToken(models.Model):
    prefix = models.CharField(
        _("prefix"), max_length=PREFIX_LENGTH, unique=True, help_text=_("The token's first characters, to tell it.")
    )
    digest = models.CharField(_("digest"), max_length=64, help_text=_("SHA-256 of the token, in hex."))
    name = models.CharField(_("name"), max_length=100, help_text=_("Which device or partner system uses it."))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    station = models.ForeignKey(
        "stations.Station",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="api_tokens",
        verbose_name=_("station"),
        help_text=_("The station whose device uses it; empty for a partner system."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(
        _("last used at"), null=True, blank=True, help_text=_("Updated at most once a minute.")
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(expires_at__gt=models.F("created_at")), name="api_token_expiry"),
            models.CheckConstraint(
                condition=models.Q(digest__regex=r"^[0-9a-f]{64}$"), name="api_token_digest_is_sha256"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
