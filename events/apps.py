from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = _("Events and webhooks")

    def ready(self) -> None:
        from .reference_data import ensure_reference_data

        post_migrate.connect(ensure_reference_data, sender=self)
