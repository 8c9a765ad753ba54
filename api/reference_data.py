"""Reference data of the API app, (re)created after every migrate like recycling's (see
recycling/reference_data.py): the "Ops" group, whose members read the daily totals, and the
daily purge of expired idempotency keys.

The API treats superusers and members of this group as ops (api.permissions.IsOps); the
dashboards reuse the same group name.
"""

OPS_GROUP = "Ops"

OPS_PERMISSIONS = [
    ("recycling", "view_dailystationtotal"),
    ("recycling", "view_dailycitytotal"),
]


def ensure_ops_group() -> None:
    """Create the "Ops" group with its view permissions; never removes what ops added to it."""
    from django.contrib.auth.models import Group, Permission

    group, _created = Group.objects.get_or_create(name=OPS_GROUP)
    for app_label, codename in OPS_PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def ensure_reference_data(**kwargs) -> None:
    """post_migrate handler of the api app (runs after auth's and recycling's handlers)."""
    from core.periodic import ensure_periodic_task

    ensure_ops_group()
    # The idempotency app's task (idempotency/tasks.py): that app sits below recycling's scheduler.
    ensure_periodic_task(name="Purge expired idempotency keys", task="idempotency.purge_expired_keys", daily_at_hour=3)
