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


# The pictures shipped in members/static/members/rewards/, by a word of the reward's English name;
# any other reward gets the generic gift.
REWARD_PICTURES = {"egg": "eggs", "tote": "tote", "bag": "tote", "notebook": "notebook"}


@register.filter
def reward_picture(reward) -> str:
    """The static path of a reward's picture: eggs, a tote bag, a notebook, else a gift."""
    name = reward.name.lower()
    picture = next((file for word, file in REWARD_PICTURES.items() if word in name), "gift")
    return f"members/rewards/{picture}.svg"


@register.filter
def get_item(mapping: dict, key):
    return mapping.get(key)


@register.filter
def metres(km: float) -> int:
    """A distance under a kilometre in whole metres, rounded to 10 m (a phone's fix is no better)."""
    return int(round(km * 100)) * 10
