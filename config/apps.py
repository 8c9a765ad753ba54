from django.contrib.admin.apps import AdminConfig


class GreenBoxAdminConfig(AdminConfig):
    default_site = "config.admin.GreenBoxAdminSite"
