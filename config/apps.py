from django.contrib.admin.apps import AdminConfig


class GreenBoxAdminConfig(AdminConfig):
    default_site = "config.admin.GreenBoxAdminSite"

    def ready(self):
        super().ready()  # autodiscovers every app's admin.py
        from .admin import harden_celery_beat_admin

        harden_celery_beat_admin(self.module.site)
