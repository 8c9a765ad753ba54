from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = _("Rewards")

    def ready(self):
        # rewards/ depends on recycling/, never the reverse: the ledger audit learns about
        # redemptions, donations and stock from here.
        from recycling.audit import LEDGER_CHECKS

        from .audit import REWARDS_CHECKS
        from .reference_data import ensure_reference_data

        LEDGER_CHECKS.extend(check for check in REWARDS_CHECKS if check not in LEDGER_CHECKS)
        post_migrate.connect(ensure_reference_data, sender=self)
