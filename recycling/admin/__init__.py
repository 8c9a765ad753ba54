"""The recycling admin, one module a part:

- desk: what station staff do at the counter (log and void drop-offs, record cartons reused or
  baled, read their cartons on hand); each form's save is one recycling.services call.
- rules: earning rules, emission factors and recycling campaigns, which superusers set; each
  save is one recycling.rules call, which writes the audit event.
- members, totals, reviews: read-only views (members, daily totals, ops decisions on anomaly
  flags) on core.admin.ReadOnlyAdminMixin (accounts and transfers are the ledger app's:
  ledger/admin.py).

Superusers see everything. The daily totals follow the model view permission, so an operations
group can later be given them without being superusers.
"""

from . import desk, members, reviews, rules, totals

__all__ = ["desk", "members", "reviews", "rules", "totals"]
