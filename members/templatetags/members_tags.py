"""Small filters for the member pages."""

from datetime import timedelta

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()


@register.filter
def minutes(value: timedelta) -> int:
    """Whole minutes of a duration, rounded up (a cool-off of 15 minutes reads 15)."""
    return -(-int(value.total_seconds()) // 60)


@register.filter
def signed_points(value: int) -> str:
    """+30 or −20, localized, with a real minus sign."""
    return f"+{intcomma(value)}" if value > 0 else f"\u2212{intcomma(-value)}"
