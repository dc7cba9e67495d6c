"""Ledger entries are never updated or deleted: not by the ORM, not by raw SQL."""

import pytest
from django.db import DatabaseError, connection, transaction

from credits import services
from credits.models import Entry, LedgerError


@pytest.fixture
def entry(user):
    return services.spend(user, key="k1").entry


def test_entries_cannot_be_updated_through_the_model(entry):
    entry.note = "changed"
    with pytest.raises(LedgerError):
        entry.save()


def test_entries_cannot_be_deleted_through_the_model(entry):
    with pytest.raises(LedgerError):
        entry.delete()


def test_entries_cannot_be_updated_or_deleted_through_querysets(entry):
    with pytest.raises(LedgerError):
        Entry.objects.filter(pk=entry.pk).update(amount=-5)
    with pytest.raises(LedgerError):
        Entry.objects.filter(pk=entry.pk).delete()
    assert Entry.objects.get(pk=entry.pk).amount == -1


def test_a_user_with_ledger_entries_cannot_be_deleted(entry, user):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        user.delete()


@pytest.mark.postgres
def test_entries_cannot_be_updated_with_raw_sql_on_postgresql(entry):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE credits_entry SET amount = 100 WHERE id = %s", [entry.pk])
    assert Entry.objects.get(pk=entry.pk).amount == -1


@pytest.mark.postgres
def test_entries_cannot_be_deleted_with_raw_sql_on_postgresql(entry):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM credits_entry WHERE id = %s", [entry.pk])
    assert Entry.objects.filter(pk=entry.pk).exists()


@pytest.mark.postgres
def test_a_second_use_with_the_same_key_is_refused_by_the_database(entry):
    with pytest.raises(DatabaseError), transaction.atomic():
        Entry.objects.create(
            account=entry.account,
            created_at=entry.created_at,
            amount=-1,
            kind="use",
            expires_at=entry.expires_at,
            key="k1",
        )
