"""credits_spend(): the admission step of a spend as one server-side call on PostgreSQL.

Locking the account row, checking the key and the balance, and writing the use (or
the "empty until" hint) happen inside one function call, so the row lock is held for
the few statements inside PostgreSQL, never across client round trips. Each statement
in a plpgsql function takes a fresh snapshot, so the balance is read after the lock.
credits.services.spend() runs the same steps in Python on SQLite.
"""

from django.db import migrations

UP = """
CREATE OR REPLACE FUNCTION credits_spend(
    p_account_id bigint, p_key varchar, p_now timestamptz, p_expires_at timestamptz, p_note varchar
) RETURNS TABLE (outcome text, next_return_at timestamptz, entry_id bigint) AS $$
DECLARE
    v_balance bigint;
BEGIN
    PERFORM 1 FROM credits_creditaccount WHERE id = p_account_id FOR UPDATE;

    IF p_key IS NOT NULL THEN
        SELECT e.id INTO entry_id FROM credits_entry e
            WHERE e.account_id = p_account_id AND e.key = p_key;
        IF FOUND THEN
            outcome := 'earlier';
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    SELECT COALESCE(SUM(e.amount), 0) INTO v_balance FROM credits_entry e
        WHERE e.account_id = p_account_id AND (e.expires_at IS NULL OR e.expires_at > p_now);

    IF v_balance >= 1 THEN
        INSERT INTO credits_entry (account_id, created_at, amount, kind, expires_at, key, note)
            VALUES (p_account_id, p_now, -1, 'use', p_expires_at, p_key, p_note)
            RETURNING id INTO entry_id;
        outcome := 'spent';
        RETURN NEXT;
        RETURN;
    END IF;

    -- Refused: the first moment the balance is 1 again, as expiring entries drop out.
    SELECT w.expires_at INTO next_return_at FROM (
        SELECT g.expires_at, v_balance - SUM(g.total) OVER (ORDER BY g.expires_at) AS after
        FROM (
            SELECT e.expires_at, SUM(e.amount) AS total FROM credits_entry e
            WHERE e.account_id = p_account_id AND e.expires_at > p_now
            GROUP BY e.expires_at
        ) g
    ) w WHERE w.after >= 1 ORDER BY w.expires_at LIMIT 1;

    IF next_return_at IS NOT NULL THEN
        UPDATE credits_creditaccount SET empty_until = next_return_at WHERE id = p_account_id;
    END IF;
    outcome := 'empty';
    RETURN NEXT;
END;
$$ LANGUAGE plpgsql;
"""

DOWN = "DROP FUNCTION IF EXISTS credits_spend(bigint, varchar, timestamptz, timestamptz, varchar);"


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UP, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DOWN, params=None)


class Migration(migrations.Migration):
    dependencies = [("credits", "0002_entries_are_append_only")]

    operations = [migrations.RunPython(install, remove)]
