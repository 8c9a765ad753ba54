"""Members sign in with their mobile number and password."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError

from .mobile import normalize_mobile
from .models import Member


class MobileNumberBackend(ModelBackend):
    """Authenticate a member by mobile number (any accepted spelling: spaces, dashes, +86)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        try:
            number = normalize_mobile(username or "")
        except ValidationError:
            return None
        member = Member.objects.select_related("user").filter(mobile=number).first()
        if member is None:
            # Hash anyway, as ModelBackend does, so an unknown number takes as long as a wrong password.
            get_user_model()().set_password(password)
            return None
        if member.user.check_password(password) and self.user_can_authenticate(member.user):
            return member.user
        return None
