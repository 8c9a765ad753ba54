"""`load_demo_data` lives in rewards/ because rewards/ sits on top of the other apps and the
demo spans all of them: stations, logins and drop-offs (recycling.demo), then the catalog."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from recycling.demo import load_demo_stations_and_members
from rewards.demo import load_demo_catalog
from stations.models import Station


class Command(BaseCommand):
    help = (
        "Load the demo data used by `make run`: three cities, four stations with a staff login each, "
        "an ops superuser, two member logins with a few drop-offs, and the rewards catalog. "
        "All demo logins share the password printed by `demo_logins`."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (and succeed) when the database already has stations.",
        )

    def handle(self, *args, **options):
        if Station.objects.exists():
            if options["if_empty"]:
                self.stdout.write("The database already has data; demo data not loaded.")
                return
            raise CommandError("The database already has stations; demo data is only loaded into an empty database.")
        with transaction.atomic():
            stations = load_demo_stations_and_members()
            load_demo_catalog(stations=stations)
        self.stdout.write(self.style.SUCCESS(f"Loaded demo data: {len(stations)} stations."))
