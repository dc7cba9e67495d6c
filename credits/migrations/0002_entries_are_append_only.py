"""A database-level guard: ledger entries can be inserted, never updated or deleted.

On PostgreSQL only. The model refuses too; this stops raw SQL, other clients and bulk
paths that skip it. TRUNCATE stays possible (test databases are reset with it); SQLite
gets no trigger because Django resets SQLite test databases with DELETE.
"""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION credits_entry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'credits_entry is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER credits_entry_append_only
    BEFORE UPDATE OR DELETE ON credits_entry
    FOR EACH ROW EXECUTE FUNCTION credits_entry_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS credits_entry_append_only ON credits_entry;
DROP FUNCTION IF EXISTS credits_entry_append_only();
"""


def install_guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)


def remove_guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)


class Migration(migrations.Migration):
    dependencies = [("credits", "0001_initial")]

    operations = [migrations.RunPython(install_guard, remove_guard)]
