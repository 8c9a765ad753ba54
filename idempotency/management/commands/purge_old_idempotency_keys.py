from django.conf import settings
from django.core.management.base import BaseCommand

from idempotency.services import purge_expired_keys


class Command(BaseCommand):
    help = "Delete the idempotency keys older than the retention period (GREENBOX_IDEMPOTENCY_RETENTION_HOURS)."

    def handle(self, *args, **options):
        deleted = purge_expired_keys()
        hours = settings.GREENBOX_IDEMPOTENCY_RETENTION_HOURS
        self.stdout.write(f"Deleted {deleted} idempotency keys older than {hours} hours.")
