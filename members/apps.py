from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    """The consumer pages: sign-up and sign-in, points, history, rewards, donations, stations."""

    name = "members"
    verbose_name = _("Member pages")
