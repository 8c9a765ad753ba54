"""The API has no models of its own (its writes' idempotency keys are the idempotency app's).

The module stays: Django sends post_migrate only to apps with a models module, and the API's
reference data (the Ops group, the purge's schedule: api/reference_data.py) is made then.
"""
