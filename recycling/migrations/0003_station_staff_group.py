"""The "Station staff" group: what every station worker may do in the admin.

Which stations they may act at is not a permission but their StationStaff rows; the admin
filters by those.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

STATION_STAFF_GROUP = "Station staff"
PERMISSIONS = [
    ("stations", "view_station"),
    ("recycling", "view_member"),
    ("recycling", "view_dropoff"),
    ("recycling", "add_dropoff"),
]


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure these exist now.
    for app_label in {app for app, _codename in PERMISSIONS}:
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True  # the historical app stub lacks it; create_permissions checks it
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _created = Group.objects.get_or_create(name=STATION_STAFF_GROUP)
    for app_label, codename in PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=STATION_STAFF_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recycling", "0002_transfers_append_only"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
