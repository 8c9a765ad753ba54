from django.core.management.base import BaseCommand, CommandError

from recycling.audit import LEDGER_CHECKS
from recycling.models import Account, DropOff, Transfer


class Command(BaseCommand):
    help = (
        "Audit the points ledger: every cached balance equals its credits minus debits, no member "
        "balance is negative, all balances sum to zero, and every drop-off (and, with rewards, every "
        "redemption and donation) has exactly the transfers it should. Prints a summary; exits with "
        "status 1 and names each violation if any invariant is broken."
    )

    def handle(self, *args, **options):
        self.stdout.write(
            f"Checking {Account.objects.count()} accounts, {Transfer.objects.count()} transfers, "
            f"{DropOff.objects.count()} drop-offs."
        )
        violations = []
        for check in LEDGER_CHECKS:
            found = check()
            name = check.__name__.replace("_", " ")
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
