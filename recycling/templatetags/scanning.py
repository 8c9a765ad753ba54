"""What the desk's camera scan button (recycling/_scan_button.html) takes from the server: the
pattern a decoded QR code must match, the member code's own (recycling.models), so the camera
accepts exactly what the member's QR code holds and nothing is copied into the script."""

from django import template

from ..models import MEMBER_CODE_PATTERN

register = template.Library()


@register.simple_tag
def member_code_pattern() -> str:
    return MEMBER_CODE_PATTERN
