from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = _("Rewards")

    def ready(self):
        from .audit import register_checks
        from .reference_data import ensure_reference_data
        from .totals import register_spending

        register_checks()  # the ledger audit learns about redemptions, donations and stock from here
        register_spending()  # the daily totals count points spent at each station from here
        post_migrate.connect(ensure_reference_data, sender=self)
