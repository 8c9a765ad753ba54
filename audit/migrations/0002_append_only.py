"""Audit events are append-only: the database itself rejects UPDATE and DELETE of an event.

As for ledger transfers (recycling/migrations/0002_transfers_append_only.py): a BEFORE UPDATE
OR DELETE row trigger raises (TRUNCATE, used only by test teardown, stays possible).
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE FUNCTION audit_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_auditevent is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_auditevent_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_append_only();
"""
POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_auditevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    # In a list, each script is sent whole: not split, and without placeholders ('%' is literal).
    operations = [migrations.RunSQL([POSTGRES_FORWARD], [POSTGRES_BACKWARD])]
