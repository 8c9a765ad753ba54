"""The Permissions-Policy header: which browser features the pages may use.

None anywhere (camera, microphone, geolocation, payment, USB), except the camera on the station
desk's own pages, where staff scan a member's QR code or a pickup code (the view names in
GREENBOX_CAMERA_VIEWS): there the camera is allowed for the page itself ("self"), never for a
frame of another origin. One small middleware rather than a package: the one thing that varies
is the camera, by view.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

FEATURES_OFF = ("microphone", "geolocation", "payment", "usb")


def permissions_policy(*, camera: bool) -> str:
    return ", ".join([f"camera={'(self)' if camera else '()'}", *(f"{feature}=()" for feature in FEATURES_OFF)])


class PermissionsPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.camera_views = frozenset(settings.GREENBOX_CAMERA_VIEWS)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        camera = match is not None and match.view_name in self.camera_views
        response.headers.setdefault("Permissions-Policy", permissions_policy(camera=camera))
        return response
