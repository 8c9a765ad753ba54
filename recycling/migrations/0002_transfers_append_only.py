"""Transfers are append-only: the database itself rejects UPDATE and DELETE of a transfer.

A BEFORE UPDATE OR DELETE row trigger raises. TRUNCATE (used only by test teardown and the
simulator's --reset, which empty the whole ledger at once) is not a row operation and stays
possible.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE FUNCTION recycling_transfer_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'recycling_transfer is append-only: % is not allowed; post a reversal instead', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER recycling_transfer_append_only
    BEFORE UPDATE OR DELETE ON recycling_transfer
    FOR EACH ROW EXECUTE FUNCTION recycling_transfer_append_only();
"""
POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS recycling_transfer_append_only ON recycling_transfer;
DROP FUNCTION IF EXISTS recycling_transfer_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("recycling", "0001_initial")]

    # In a list, each script is sent whole: not split, and without placeholders ('%' is literal).
    operations = [migrations.RunSQL([POSTGRES_FORWARD], [POSTGRES_BACKWARD])]
