"""The API has no models of its own in the admin: tokens are created and revoked with
rest_framework.authtoken's own admin ("Tokens"), and the idempotency keys its writes claim are
the idempotency app's (idempotency/admin.py)."""
