"""Mainland China mobile numbers: validation, normalization and masking."""

import re

from django.core.exceptions import ValidationError
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

# 11 digits starting 13-19 (China Mobile, Unicom, Telecom, Broadnet and virtual operators).
MOBILE_PATTERN = re.compile(r"^1[3-9][0-9]{9}$")
_SEPARATORS = re.compile(r"[\s\-().]")
KEYED_HASH_LENGTH = 24  # hex digits: 96 bits, no collision among all possible numbers
_COUNTRY_PREFIX = re.compile(r"^(\+86|0086|86)(?=1[0-9]{10}$)")


def normalize_mobile(raw: str) -> str:
    """Return the bare 11-digit number, accepting spaces, dashes and a +86 / 0086 prefix.

    Raises ValidationError for anything that is not a mainland China mobile number.
    """
    number = _COUNTRY_PREFIX.sub("", _SEPARATORS.sub("", raw or ""))
    if not MOBILE_PATTERN.match(number):
        raise ValidationError(
            _("Enter a mainland China mobile number: 11 digits starting with 13 to 19."), code="invalid_mobile"
        )
    return number


def validate_mobile(value: str) -> None:
    """Model-field validator: the stored value must already be normalized."""
    if not MOBILE_PATTERN.match(value or ""):
        raise ValidationError(
            _("Enter a mainland China mobile number: 11 digits starting with 13 to 19."), code="invalid_mobile"
        )


def mask_mobile(number: str) -> str:
    """138****5678: what everyone but the member sees."""
    return f"{number[:3]}****{number[-4:]}" if len(number) == 11 else "****"


def keyed_mobile(number: str) -> str:
    """138****5678#<keyed hash>: a number as records that must tell numbers apart without
    holding them keep it (django-axes' lockout records). The hash is an HMAC keyed with
    SECRET_KEY, so nobody without the key can test candidate numbers against it (11-digit
    mobiles are few enough to enumerate through a plain hash); rotating SECRET_KEY starts the
    records afresh, which only forgets the lockouts in progress."""
    digest = salted_hmac("greenbox.mobile.keyed", number, algorithm="sha256").hexdigest()
    return f"{mask_mobile(number)}#{digest[:KEYED_HASH_LENGTH]}"
