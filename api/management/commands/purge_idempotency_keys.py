from django.core.management.base import BaseCommand

from api.idempotency import purge_expired_records


class Command(BaseCommand):
    help = "Delete the API's idempotency records older than the retention period (24 hours)."

    def handle(self, *args, **options):
        deleted = purge_expired_records()
        self.stdout.write(f"Deleted {deleted} idempotency records.")
