"""Token authentication in one cheap query that also reads what the permissions ask next.

DRF's TokenAuthentication loads the token with its user through the ORM; the permission classes
then ask whether the user works at any station (api.permissions.is_station_staff) and whether
they are a member (user.member). Here one raw SQL query, on every API request, reads the user's
fields that authentication and the permissions use, whether they have a StationStaff row
(remembered on the user for is_station_staff()) and the id of their member, if any: a user who
is not a member costs no query to find that out, and a member's Member is loaded when first
asked for. Any other field of the user loads when first read. No ORM query is compiled and no
model iterator runs: under load, the ORM's version of this query took a tenth of all the CPU of
a drop-off POST. The user is read afresh for every request, so a revoked token or a deactivated
user is refused at once.
"""

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from .permissions import remember_station_staff

# The user's fields read here, in the model's field order as Model.from_db() expects them; the
# others are deferred (loaded on first access).
USER_FIELDS = ("id", "is_superuser", "username", "is_staff", "is_active")
USER_BY_TOKEN = f"""
SELECT {", ".join(f"u.{field}" for field in USER_FIELDS)},
       EXISTS (SELECT 1 FROM stations_stationstaff s WHERE s.user_id = u.id) AS user_is_station_staff,
       m.id AS user_member_id
  FROM authtoken_token t
  JOIN auth_user u ON u.id = t.user_id
  LEFT JOIN recycling_member m ON m.user_id = u.id
 WHERE t.key = %s
"""


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        with connection.cursor() as cursor:
            cursor.execute(USER_BY_TOKEN, [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user_id, is_superuser, username, is_staff, is_active, is_station_staff, member_id = row
        User = get_user_model()
        # bool(): SQLite returns its booleans as 0 and 1.
        user = User.from_db(
            connection.alias, USER_FIELDS, (user_id, bool(is_superuser), username, bool(is_staff), bool(is_active))
        )
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        remember_station_staff(user, bool(is_station_staff))
        if member_id is None:
            User.member.related.set_cached_value(user, None)  # user.member raises DoesNotExist, no query
        return (user, self.get_model()(key=key, user=user))
