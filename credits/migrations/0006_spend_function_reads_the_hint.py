"""credits_spend() by user id, with the unlocked read folded in: one round trip a spend.

First, without any lock: the account, an earlier entry with this key, and the "empty
until" hint (a payer known to be empty is refused here, never queueing for the lock).
Then the locked admission as in migration 0003, re-checking the key under the lock.
"""

from importlib import import_module

from django.db import migrations

UP = """
DROP FUNCTION IF EXISTS credits_spend(bigint, varchar, timestamptz, timestamptz, varchar);
CREATE OR REPLACE FUNCTION credits_spend(
    p_user_id bigint, p_key varchar, p_now timestamptz, p_expires_at timestamptz, p_note varchar
) RETURNS TABLE (outcome text, next_return_at timestamptz, entry_id bigint, entry_account bigint) AS $$
DECLARE
    v_account bigint;
    v_empty_until timestamptz;
    v_balance bigint;
BEGIN
    SELECT a.id, a.empty_until INTO v_account, v_empty_until
        FROM credits_creditaccount a WHERE a.user_id = p_user_id;
    IF NOT FOUND THEN
        outcome := 'no-account';
        RETURN NEXT;
        RETURN;
    END IF;
    entry_account := v_account;
    IF p_key IS NOT NULL THEN
        SELECT e.id INTO entry_id FROM credits_entry e WHERE e.account_id = v_account AND e.key = p_key;
        IF FOUND THEN
            outcome := 'earlier';
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    IF v_empty_until IS NOT NULL AND v_empty_until > p_now THEN
        outcome := 'empty';
        next_return_at := v_empty_until;
        RETURN NEXT;
        RETURN;
    END IF;

    PERFORM 1 FROM credits_creditaccount WHERE id = v_account FOR UPDATE;

    IF p_key IS NOT NULL THEN
        SELECT e.id INTO entry_id FROM credits_entry e WHERE e.account_id = v_account AND e.key = p_key;
        IF FOUND THEN
            outcome := 'earlier';
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    SELECT COALESCE(SUM(e.amount), 0) INTO v_balance FROM credits_entry e
        WHERE e.account_id = v_account AND (e.expires_at IS NULL OR e.expires_at > p_now);

    IF v_balance >= 1 THEN
        INSERT INTO credits_entry (account_id, created_at, amount, kind, expires_at, key, note)
            VALUES (v_account, p_now, -1, 'use', p_expires_at, p_key, p_note)
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
            WHERE e.account_id = v_account AND e.expires_at > p_now
            GROUP BY e.expires_at
        ) g
    ) w WHERE w.after >= 1 ORDER BY w.expires_at LIMIT 1;

    IF next_return_at IS NOT NULL THEN
        UPDATE credits_creditaccount SET empty_until = next_return_at WHERE id = v_account;
    END IF;
    outcome := 'empty';
    RETURN NEXT;
END;
$$ LANGUAGE plpgsql;
"""

DOWN = "DROP FUNCTION IF EXISTS credits_spend(bigint, varchar, timestamptz, timestamptz, varchar);"
PREVIOUS = import_module("credits.migrations.0003_spend_function").UP


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UP, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DOWN, params=None)
        schema_editor.execute(PREVIOUS, params=None)


class Migration(migrations.Migration):
    dependencies = [("credits", "0005_support_group")]

    operations = [migrations.RunPython(install, remove)]
