"""api_lock_idempotency_key(): take an Idempotency-Key for this transaction and read its record.

On PostgreSQL a request that writes in one transaction (api.idempotency, atomic views) first
calls this: a transaction-level advisory lock on the user's key, taken without waiting (false:
another request with that key is running, a 409), then the key's record if one exists, read
after the lock is held so that a request which has just committed the key is seen and replayed.
The lock ends with the transaction, so a request that crashes leaves nothing behind.

Two different keys whose 64-bit hashes collide would make the second wait as if it were a
duplicate in progress (a 409, retried): a chance of about one in 10^19 per pair of keys.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION api_lock_idempotency_key(p_user_id bigint, p_key text)
RETURNS TABLE (
    locked boolean,
    record_id bigint,
    fingerprint text,
    status text,
    response_status integer,
    response_body text,
    locked_at timestamptz
) LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended(p_user_id || ':' || p_key, 0)) THEN
        RETURN QUERY SELECT false, NULL::bigint, NULL::text, NULL::text, NULL::integer, NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    RETURN QUERY
        SELECT true, r.id, r.fingerprint::text, r.status::text, r.response_status::integer, r.response_body,
               r.locked_at
          FROM (SELECT 1) AS one
          LEFT JOIN api_idempotencyrecord r ON r.user_id = p_user_id AND r.key = p_key;
END;
$$;
"""
POSTGRES_BACKWARD = "DROP FUNCTION IF EXISTS api_lock_idempotency_key(bigint, text);"


def forward(apps, schema_editor):
    schema_editor.execute(POSTGRES_FORWARD, params=None)  # no placeholders: '%' in the SQL is literal


def backward(apps, schema_editor):
    schema_editor.execute(POSTGRES_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("api", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
