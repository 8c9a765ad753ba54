"""Transfers are append-only: the database itself rejects UPDATE and DELETE of a transfer.

On PostgreSQL a BEFORE UPDATE OR DELETE row trigger raises. TRUNCATE (used only by test
teardown and the simulator's --reset, which empty the whole ledger at once) is not a row
operation and stays possible. On SQLite, the embedded default, UPDATE is rejected too;
DELETE stays possible there because Django's test flush empties tables with DELETE.
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
SQLITE_FORWARD = """
CREATE TRIGGER recycling_transfer_no_update BEFORE UPDATE ON recycling_transfer
BEGIN
    SELECT RAISE(ABORT, 'recycling_transfer is append-only: UPDATE is not allowed; post a reversal instead');
END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS recycling_transfer_no_update;"


def forward(apps, schema_editor):
    sql = {"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql, params=None)  # no placeholders: '%' in the SQL is literal


def backward(apps, schema_editor):
    sql = {"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql, params=None)  # no placeholders: '%' in the SQL is literal


class Migration(migrations.Migration):
    dependencies = [("recycling", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
