"""The recycling admin, one module a part:

- records: read-only lists of what the station desk (desk/) records: drop-offs, carton movements
  and each station's cartons on hand.
- rules: earning rules, emission factors and recycling campaigns, which superusers set; each
  save is one recycling.rules call, which writes the audit event.
- members, totals, reviews: read-only views (members, daily totals, ops decisions on anomaly
  flags) on core.admin.ReadOnlyAdminMixin (accounts and transfers are the ledger app's:
  ledger/admin.py).

Superusers see everything. The daily totals follow the model view permission, so an operations
group can later be given them without being superusers.
"""

from . import members, records, reviews, rules, totals

__all__ = ["members", "records", "reviews", "rules", "totals"]
