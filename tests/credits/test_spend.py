"""spend() and the running balance on the account row, on SQLite and PostgreSQL alike."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credits import selectors, services
from credits.models import CreditAccount, Entry
from tests.credits.conftest import START, spend_all

REPLENISH = timedelta(days=django_settings.CREDIT_REPLENISH_DAYS)


def account_of(user):
    return CreditAccount.objects.get(user=user)


def statements(captured):
    """The SQL a block sent, without the transaction's own BEGIN/COMMIT."""
    return [q["sql"] for q in captured.captured_queries if q["sql"].split()[0].upper() not in ("BEGIN", "COMMIT")]


# --------------------------------------------------------------------------- one key, one charge


def test_idempotency_a_retried_key_returns_the_earlier_entry_marked_replayed_and_charges_nothing(person):
    first = services.spend(person, key="submission-1")
    again = services.spend(person, key="submission-1")
    assert first.replayed is False
    assert again.replayed is True and again.entry.pk == first.entry.pk
    assert again.balance_after == 24 and again.alert_below is None
    assert Entry.objects.filter(kind=Entry.Kind.USE).count() == 1
    assert selectors.balance(person) == 24 and account_of(person).balance == 24


def test_idempotency_a_retried_key_inside_a_callers_transaction_replays_without_a_savepoint(person):
    first = services.spend(person, key="submission-1")
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        again = services.spend(person, key="submission-1")
        assert selectors.balance(person) == 24  # the caller's transaction is still usable
    assert again.replayed is True and again.entry.pk == first.entry.pk
    assert not any("SAVEPOINT" in sql.upper() for sql in statements(captured))
    assert selectors.balance(person) == 24 and account_of(person).balance == 24


def test_idempotency_a_retry_keeps_counted_until_at_the_earliest_counted_expiry(person, clock):
    """The retry's UPDATE lowered counted_until to the expiry of a use it never wrote."""
    first = services.spend(person, key="submission-1")
    clock.shift(timedelta(hours=1))
    services.spend(person, key="submission-1")
    assert account_of(person).counted_until == first.entry.expires_at


def test_a_new_use_is_marked_not_replayed_and_mirrors_the_stored_row(person):
    spent = services.spend(person, key="run-1", note="run of haiku")
    entry = spent.entry
    stored = Entry.objects.get(pk=entry.pk)
    assert spent.replayed is False
    # The balance after it, and the default threshold: 20 % of the Free allowance of 25.
    assert (spent.balance_after, spent.alert_below) == (24, 5)
    fields = ["account_id", "created_at", "amount", "kind", "expires_at", "key", "note", "refund_of_id", "staff_id"]
    assert [getattr(entry, f) for f in fields] == [getattr(stored, f) for f in fields]
    assert stored.expires_at == START + REPLENISH


# --------------------------------------------------------------------------- the cost of a spend


# The admission: on PostgreSQL the UPDATE and the INSERT as one statement (WITH taken AS
# (UPDATE …), written AS (INSERT …) SELECT …); SQLite has no data-modifying CTEs and gets two.
ADMISSION = ["WITH"] if connection.vendor == "postgresql" else ["UPDATE", "INSERT"]


def first_words(captured):
    return [q["sql"].split()[0].upper() for q in captured.captured_queries]


@pytest.mark.django_db(transaction=True)
def test_an_admitted_spend_is_an_unlocked_read_then_the_admission_alone_in_a_transaction(person):
    services.spend(person, key="warm-up")  # the first spend of an account may catch up
    with CaptureQueriesContext(connection) as captured:
        services.spend(person, key="run-2")
    assert first_words(captured) == ["SELECT", "BEGIN", *ADMISSION, "COMMIT"], captured.captured_queries


def test_an_admitted_spend_inside_a_callers_transaction_is_the_read_and_the_admission_and_no_savepoint(person):
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        services.spend(person, key="run-2")
    assert first_words(captured) == ["SELECT", *ADMISSION], captured.captured_queries


def test_an_admission_with_a_key_used_since_the_unlocked_read_takes_the_credit_and_writes_no_use(person):
    """The admission alone, sent with a key the account has already used (as a retry that
    raced the first finds it): it takes the credit and reports no new use, which spend()
    then gives back (tests/credits/test_concurrency.py races two spends through it)."""
    first = services.spend(person, key="submission-1").entry
    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:
            admitted = services._admit(first.account_id, now=timezone.now(), key="submission-1", note="")
        assert first_words(captured) == ADMISSION, captured.captured_queries
        assert admitted == (23, None, None)
        assert account_of(person).balance == 23
        assert list(Entry.objects.filter(kind=Entry.Kind.USE).values_list("pk", flat=True)) == [first.pk]


def test_the_use_the_admission_writes_mirrors_the_stored_row_in_every_field(person):
    services.spend(person, key="warm-up")  # the first spend of an account may catch up
    account_id = account_of(person).pk
    with transaction.atomic():
        balance_after, alert_below, use = services._admit(account_id, now=timezone.now(), key="run-1", note="haiku")
    stored = Entry.objects.get(pk=use.pk)
    assert (balance_after, alert_below) == (23, 5)
    for field in Entry._meta.concrete_fields:
        assert getattr(use, field.attname) == getattr(stored, field.attname), field.name
    assert not use._state.adding


def test_a_payer_known_to_be_empty_is_refused_without_the_lock(person):
    spend_all(person)
    with pytest.raises(services.OutOfCredits):
        services.spend(person)  # records empty_until
    with CaptureQueriesContext(connection) as captured, pytest.raises(services.OutOfCredits) as refused:
        services.spend(person)
    assert refused.value.next_return_at == START + REPLENISH
    sent = statements(captured)
    assert len(sent) == 1 and not any("FOR UPDATE" in sql.upper() for sql in sent), sent


def test_a_refusal_inside_a_callers_transaction_leaves_it_usable(person):
    spend_all(person)
    with transaction.atomic():
        with pytest.raises(services.OutOfCredits):
            services.spend(person, key="too-many")
        assert selectors.balance(person) == 0
        services.grant(person, 1, reason="the caller goes on")
    assert services.spend(person, key="too-many").replayed is False


# --------------------------------------------------------------------------- the running balance


def test_a_use_expiring_makes_the_next_spend_admit_again(person, clock):
    services.set_allowance(person, 1, reason="one credit")
    use = services.spend(person).entry
    clock.shift(REPLENISH)  # the use expires: counted_until has passed, nothing refused
    assert account_of(person).empty_until is None
    again = services.spend(person)
    account = account_of(person)
    assert again.replayed is False
    assert (account.balance, account.counted_until) == (0, again.entry.expires_at)
    assert use.expires_at < again.entry.expires_at


def test_an_expired_bonus_stops_counting_for_the_next_spend(person, clock):
    services.set_allowance(person, 1, reason="one credit")
    services.grant(person, 2, expires_at=START + timedelta(days=7), reason="launch week")
    services.spend(person)
    assert selectors.balance(person) == 2
    clock.shift(timedelta(days=7))
    assert selectors.balance(person) == 0
    with pytest.raises(services.OutOfCredits) as refused:
        services.spend(person)
    assert refused.value.next_return_at == START + REPLENISH
    assert account_of(person).balance == 0


def test_balance_reads_the_row_and_never_writes_it(person, clock):
    services.spend(person)
    before = account_of(person)
    clock.shift(REPLENISH)
    with CaptureQueriesContext(connection) as captured:
        assert selectors.balance(person) == 25
    assert len(captured.captured_queries) == 1
    after = account_of(person)
    assert (after.balance, after.counted_until) == (before.balance, before.counted_until) == (24, START + REPLENISH)


def test_a_refund_of_an_already_expired_use_never_counts(person, clock):
    use = services.spend(person).entry
    clock.shift(REPLENISH + timedelta(days=1))
    services.refund(use)
    assert selectors.balance(person) == 25
    account = account_of(person)
    assert (account.balance, account.counted_until) == (25, None)


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda user, staff: services.refund(Entry.objects.filter(kind="use").first()), id="refund"),
        pytest.param(lambda user, staff: services.grant(user, 1, reason="sorry"), id="grant"),
        pytest.param(lambda user, staff: services.deduct(user, 1, reason="chargeback"), id="deduct"),
        pytest.param(lambda user, staff: services.set_allowance(user, 30, reason="Extra"), id="set_allowance"),
        pytest.param(lambda user, staff: services.adjust_allowance(user, 2, reason="beta", staff=staff), id="adjust"),
        pytest.param(lambda user, staff: services.reset_window(user, reason="support", staff=staff), id="reset"),
    ],
)
def test_every_other_ledger_write_clears_empty_until_and_keeps_the_row_in_step(person, make_user, write):
    staff = make_user(is_staff=True)
    spend_all(person)
    with pytest.raises(services.OutOfCredits):
        services.spend(person)
    assert account_of(person).empty_until == START + REPLENISH
    write(person, staff)
    account = account_of(person)
    assert account.empty_until is None
    assert account.balance == selectors.balance(person, at=timezone.now())  # summed from the entries
