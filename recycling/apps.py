from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class RecyclingConfig(AppConfig):
    name = "recycling"
    verbose_name = _("Recycling")

    def ready(self) -> None:
        from .audit import register_checks
        from .reference_data import ensure_reference_data

        register_checks()  # the ledger audit learns about drop-offs from here (ledger/ imports no app)
        post_migrate.connect(ensure_reference_data, sender=self)
