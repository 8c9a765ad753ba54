"""`load_demo_data` lives in simulator/, the app on top of all others, because the demo spans
them all: stations, logins and drop-offs (recycling.demo), the catalog (rewards.demo), then the
2021 and 2022 campaigns simulated at a small scale, with a few planted anomalies, and today's
totals (the demo drop-offs of today), so that every ops page has something to show."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from recycling.demo import load_demo_stations_and_members
from recycling.totals import aggregate_day
from rewards.demo import load_demo_catalog
from simulator.generate import simulate
from stations.models import Station

# The demo's 2021 and 2022 campaigns: 1/1000 of the national figures (6,000 cartons in 2022 over
# the 315 cities, one station each, but 12 in the two cities with planted anomalies; a target of
# 6,000 cartons), a second or two of simulation.
DEMO_SIMULATION_SCALE = 0.001


class Command(BaseCommand):
    help = (
        "Load the demo data used by `make run`: three cities, four stations with a staff login each, "
        "an ops superuser, two member logins with a few drop-offs, and the rewards catalog; then the 2021 "
        "and 2022 campaigns simulated at 1/1000 scale (simulate_campaign --plant-anomalies) in 315 cities, the "
        "demo's stations among them, and today's totals. "
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
        # Not one transaction: the demo drop-offs go through record_dropoff(), an entry point
        # that runs outside any (durable). Each step is its own; a load that fails part way leaves
        # a database this command refuses, to be reset.
        stations = load_demo_stations_and_members()
        load_demo_catalog(stations=stations)
        simulate(year=2022, scale=DEMO_SIMULATION_SCALE, seed=42, progress=False, plant_anomalies=True)
        aggregate_day(day=timezone.localdate())  # the demo's drop-offs of today, for the ops "now" page
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded demo data: {len(stations)} demo stations and the 2021 and 2022 campaigns "
                f"simulated at scale {DEMO_SIMULATION_SCALE} in {Station.objects.count()} stations."
            )
        )
