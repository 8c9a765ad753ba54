"""Creating the django-celery-beat schedules the apps' reference data hold: here, in core/, so that
the ground-floor apps (events/) create theirs the same way as recycling and rewards."""


def ensure_periodic_task(*, name: str, task: str, every_minutes: int | None = None, daily_at_hour: int | None = None):
    """Create a django-celery-beat schedule once; ops may then change or disable it in the admin."""
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    if PeriodicTask.objects.filter(name=name).exists():
        return
    if every_minutes is not None:
        interval, _created = IntervalSchedule.objects.get_or_create(
            every=every_minutes, period=IntervalSchedule.MINUTES
        )
        PeriodicTask.objects.create(name=name, task=task, interval=interval)
    else:
        crontab, _created = CrontabSchedule.objects.get_or_create(
            minute="0",
            hour=str(daily_at_hour),
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=settings.TIME_ZONE,
        )
        PeriodicTask.objects.create(name=name, task=task, crontab=crontab)
