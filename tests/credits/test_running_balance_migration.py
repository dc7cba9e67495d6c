"""Migration 0007 fills every account's running balance from its entries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from credits import selectors
from credits.models import CreditAccount

# Before: credits as it was, every other app as it is (the historical User needs its plan).
BEFORE = [("credits", "0006_spend_function_reads_the_hint"), ("accounts", "0002_user_plan_ownapikey")]


def latest():
    """Every app at its newest migration, as the rest of the suite expects the database."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_migration_fills_balance_and_counted_until_from_the_live_entries():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    User = apps.get_model("accounts", "User")
    Account = apps.get_model("credits", "CreditAccount")
    Entry = apps.get_model("credits", "Entry")
    now = timezone.now()
    soon, later = now + timedelta(days=3), now + timedelta(days=20)
    busy = Account.objects.create(user=User.objects.create(email="busy@example.com"))
    idle = Account.objects.create(user=User.objects.create(email="idle@example.com"))
    for amount, kind, created, expires in [
        (25, "allowance", now - timedelta(days=90), None),
        (-1, "use", now - timedelta(days=60), now - timedelta(days=30)),  # expired
        (-1, "use", now - timedelta(days=27), soon),
        (-1, "use", now - timedelta(days=10), later),
        (5, "bonus", now - timedelta(days=1), later),
    ]:
        Entry.objects.create(account=busy, amount=amount, kind=kind, created_at=created, expires_at=expires)
    Entry.objects.create(account=idle, amount=25, kind="allowance", created_at=now)

    executor = MigrationExecutor(connection)
    executor.migrate(latest())

    busy, idle = CreditAccount.objects.get(pk=busy.pk), CreditAccount.objects.get(pk=idle.pk)
    assert (busy.balance, busy.counted_until) == (28, soon)
    assert (idle.balance, idle.counted_until) == (25, None)
    assert selectors.balance(busy.user) == 28


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_migration_drops_the_plpgsql_spend_function_and_reversing_brings_it_back():
    def spend_function_exists():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_proc WHERE proname = 'credits_spend'")
            return cursor.fetchone()[0] == 1

    assert not spend_function_exists()
    MigrationExecutor(connection).migrate(BEFORE)
    assert spend_function_exists()
    MigrationExecutor(connection).migrate(latest())
    assert not spend_function_exists()
