from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("Audit log")

    def ready(self) -> None:
        # Sign-ins are recorded from django.contrib.auth's signals: the login views belong to
        # Django (admin) and members/, and audit/ imports neither.
        from . import receivers  # noqa: F401
