"""Token authentication that also reads, in the same query, what the permissions ask next.

DRF's TokenAuthentication loads the token with its user (one query); the permission classes
then ask whether the user is a member (user.member) and whether they work at any station
(api.permissions.is_station_staff), one query each. Here the token query joins the member
(a reverse one-to-one, so a user without one comes back as "no member" with no further query)
and tells with an EXISTS whether the user has a StationStaff row, remembered on the user for
is_station_staff(). The user is loaded afresh for every request, so nothing is cached longer.
"""

from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from stations.models import StationStaff

from .permissions import remember_station_staff


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        model = self.get_model()
        try:
            token = (
                model.objects.select_related("user", "user__member")
                .annotate(user_is_station_staff=Exists(StationStaff.objects.filter(user=OuterRef("user_id"))))
                .get(key=key)
            )
        except model.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        remember_station_staff(token.user, token.user_is_station_staff)
        return (token.user, token)
