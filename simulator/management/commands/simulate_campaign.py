"""`manage.py simulate_campaign`: the 2021 and 2022 Green Recycling Box campaigns, at any scale."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from ledger.audit import ledger_violations
from simulator.calibration import CAMPAIGNS, calibration_figures, campaign_summary, format_table, minimum_scale
from simulator.generate import MAXIMUM_SCALE, SimulationError, simulate


class Command(BaseCommand):
    help = (
        "Simulate the Green Recycling Box campaign of 1-20 November 2021 or 2022 into the database, through "
        "the product's own tables, and print the published figures beside the simulated ones. "
        "It creates the 315 largest Chinese cities (GeoNames), round(130,000 x scale) stations spread by "
        "population (at least one per city), members, drop-offs day by day on a festival curve peaking on "
        "11.11, reservations, collections, cancellations, expiries, donations, cartons reused for parcels "
        "and the daily totals. --year 2022 also simulates 2021 first unless the database already holds it "
        "(2022 is compared with 2021: about +50%); --year 2021 simulates 2021 only. Counts scale with "
        "--scale (1.0 = national: about 6 million cartons in 2022 and 4 million in 2021; ratios such as "
        "growth and reuse per carton hold at any scale). The same --seed on an emptied database gives the "
        "same rows. Everything is one transaction: an error leaves the database as it was. A database "
        "that already holds drop-offs of a campaign to simulate is refused unless --reset, which first "
        "empties the ledger and all activity (drop-offs, transfers, redemptions, donations, carton "
        "movements, daily totals, simulated members); cities, stations, staff and the catalog stay."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--year",
            type=int,
            default=2022,
            help="Campaign year: 2021, or 2022 (default; also simulates 2021 if the database does not hold it).",
        )
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help=f"Share of the national campaign, {minimum_scale()} to {MAXIMUM_SCALE} (default 1.0).",
        )
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Empty the ledger and all campaign activity first (cities, stations, staff and catalog stay).",
        )
        parser.add_argument(
            "--plant-anomalies",
            action="store_true",
            help="Plant a few anomalies in 2022 (a station and a staff login far above their city, a member at "
            "the cap at three stations, a late record), in cities given enough stations to judge, as the demo does.",
        )
        parser.add_argument("--no-progress", action="store_true", help="Do not show progress bars.")
        parser.add_argument(
            "--check", action="store_true", help="Run the ledger audit (check_ledger) afterwards; slow at full scale."
        )

    def handle(self, *args, **options):
        year, scale, seed = options["year"], options["scale"], options["seed"]
        if year not in CAMPAIGNS:
            raise CommandError(
                _("There is no %(year)s campaign to simulate; choose %(years)s.")
                % {"year": year, "years": ", ".join(str(y) for y in sorted(CAMPAIGNS))}
            )
        started = time.perf_counter()
        try:
            result = simulate(
                year=year,
                scale=scale,
                seed=seed,
                reset=options["reset"],
                plant_anomalies=options["plant_anomalies"],
                progress=not options["no_progress"] and options["verbosity"] > 0,
            )
        except SimulationError as error:
            raise CommandError(str(error)) from None
        elapsed = time.perf_counter() - started
        if options["verbosity"] > 0:
            for simulated in result.years:
                summary = campaign_summary(simulated)
                self.stdout.write(
                    _("%(year)s: %(cartons)s cartons in %(dropoffs)s drop-offs, %(reused)s reused for parcels.")
                    % {
                        "year": simulated,
                        "cartons": f"{summary['cartons']:,}",
                        "dropoffs": f"{summary['dropoffs']:,}",
                        "reused": f"{summary['reused']:,}",
                    }
                )
            self.stdout.write(
                _("Simulated %(years)s at scale %(scale)s (seed %(seed)s) in %(seconds).1f s.")
                % {"years": ", ".join(map(str, result.years)), "scale": scale, "seed": seed, "seconds": elapsed}
            )
            self.stdout.write("")
            self.stdout.write(format_table(calibration_figures(scale=scale)))
        if options["check"]:
            violations = ledger_violations()
            if violations:
                raise CommandError(
                    _("The ledger audit found %(count)s violation(s), e.g. %(first)s")
                    % {"count": len(violations), "first": violations[0]}
                )
            self.stdout.write(self.style.SUCCESS(_("Ledger audit: consistent.")))
