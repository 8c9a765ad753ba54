from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = _("Rewards")

    def ready(self):
        from .audit import register_checks
        from .reference_data import ensure_reference_data

        register_checks()  # the ledger audit learns about redemptions, donations and stock from here
        post_migrate.connect(ensure_reference_data, sender=self)
