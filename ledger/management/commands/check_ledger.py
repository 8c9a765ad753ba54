import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ledger.audit import registered_checks
from ledger.models import Account, Transfer


class Command(BaseCommand):
    help = (
        "Audit the points ledger. Runs every registered check: the ledger's own (each cached "
        "balance equals its credits minus debits, all balances sum to zero, no flagged balance is "
        "negative, every transfer has exactly one business cause) and those of the apps that cause "
        "transfers (recycling: each earning and reversal agrees with its drop-off, and each drop-off's "
        "points with its pricing; rewards: each redemption debit, refund and donation agrees with "
        "its row, reward and campaign accounts hold what their rows say, stock is never negative). "
        "Prints one line per check, 'ok' or 'FAIL' with each violation by id below it; exits with "
        "status 1 if any check fails, 0 when the ledger is consistent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not show the progress bar (shown only on a terminal)."
        )

    def handle(self, *args, **options):
        checks = registered_checks()
        self.stdout.write(
            f"Checking {Account.objects.count()} accounts and {Transfer.objects.count()} transfers "
            f"with {len(checks)} checks."
        )
        violations = []
        progress = tqdm(
            checks.items(),
            unit="check",
            leave=False,
            disable=options["no_progress"] or not sys.stderr.isatty(),
        )
        for name, check in progress:
            progress.set_description(name)
            found = check()
            with progress.external_write_mode():  # the bar steps aside while a line is printed
                if found:
                    self.stdout.write(self.style.ERROR(f"FAIL  {name}: {len(found)} violation(s)"))
                    for violation in found:
                        self.stdout.write(f"      {violation}")
                else:
                    self.stdout.write(self.style.SUCCESS(f"ok    {name}"))
            violations.extend(found)
        if violations:
            raise CommandError(f"check_ledger found {len(violations)} violation(s).")
        self.stdout.write(self.style.SUCCESS("Ledger is consistent."))
