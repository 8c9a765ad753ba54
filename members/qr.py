"""QR codes as inline SVG made on the server: the member's code, which station staff scan to log
cartons, and a reservation's pickup code, which they scan to hand it out."""

import segno
from django.utils.safestring import SafeString, mark_safe

# A plain QR code (never Micro QR, which many scanners cannot read), medium error correction,
# the 4-module quiet zone the standard asks for. A viewBox instead of a fixed size, so the
# stylesheet sizes it for the screen; crisp edges so the modules stay sharp when scaled.
QR_ERROR = "m"
QR_SVG_OPTIONS = {"border": 4, "svgclass": "qr", "lineclass": None, "omitsize": True}


def qr_svg(code: str) -> SafeString:
    """The SVG of a QR code holding exactly the code (segno escapes what it writes)."""
    return mark_safe(segno.make_qr(code, error=QR_ERROR).svg_inline(**QR_SVG_OPTIONS))
