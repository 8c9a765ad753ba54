from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class DashboardsConfig(AppConfig):
    """The ops dashboards at /ops/: national overview, city pages and anomaly flags, read-only,
    read from the daily totals only."""

    name = "dashboards"
    verbose_name = _("Ops dashboards")

    def ready(self) -> None:
        from .access import ensure_ops_group

        post_migrate.connect(ensure_ops_group, sender=self)
