from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from recycling.totals import aggregate_campaign, aggregate_day, campaigns_containing


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"'{value}' is not a date: use YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = (
        "Recompute the daily station and city totals for every Shanghai day from --from to --to "
        "(inclusive), with a progress bar. Each day is overwritten in its own transaction by the same "
        "service the Celery tasks use, so the command is safe to re-run or to interrupt. Then the station "
        "totals of every campaign sharing a day with the range are refreshed (the dashboards read them). "
        "Example: manage.py aggregate_totals --from 2022-11-01 --to 2022-11-20"
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", required=True, help="First day, YYYY-MM-DD.")
        parser.add_argument("--to", dest="last", help="Last day, YYYY-MM-DD (default: the first day).")

    def handle(self, *args, first, last, **options):
        first_day = _day(first)
        last_day = _day(last) if last else first_day
        if last_day < first_day:
            raise CommandError("--to is before --from.")
        if last_day > timezone.localdate():
            raise CommandError("--to is in the future.")
        days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
        stations = 0
        for day in tqdm(days, desc="Aggregating days", unit="day", disable=options["verbosity"] == 0):
            stations += aggregate_day(day=day).stations
        for campaign in campaigns_containing(first=first_day, last=last_day):
            refreshed = aggregate_campaign(campaign=campaign)
            self.stdout.write(f"Refreshed the station totals of {campaign}: {refreshed.stations} stations.")
        self.stdout.write(
            self.style.SUCCESS(f"Aggregated {len(days)} day(s), {first_day} to {last_day}: {stations} station rows.")
        )
