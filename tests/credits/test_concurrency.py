"""Concurrent spends on PostgreSQL, with real threads and real row locks."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.plans import FREE
from credits import selectors, services
from credits.models import CreditAccount, Entry

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_in_threads(count, work):
    """Start `count` threads together; each runs work(i) on its own connection."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as error:  # collected and reported by the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    close_old_connections()
    return results, errors


def attempt_to_spend(payer, key):
    try:
        services.spend(payer, key=key)
        return "spent"
    except services.OutOfCredits:
        return "refused"


def test_no_credit_no_output_64_threads_against_10_credits_make_exactly_10_uses(make_user):
    payer = make_user()
    services.set_allowance(payer, 10, reason="ten to spend")

    results, errors = run_in_threads(64, lambda i: attempt_to_spend(payer, f"submission-{i}"))
    assert errors == []
    assert results.count("spent") == 10 and results.count("refused") == 54
    assert Entry.objects.filter(account__user=payer, kind="use").count() == 10
    assert selectors.balance(payer) == 0 and CreditAccount.objects.get(user=payer).balance == 0


def test_no_credit_no_output_64_threads_catching_up_returned_credits_make_exactly_10_uses(make_user):
    """All 64 find counted_until passed: one catches the balance up under the lock, the
    others then spend or are refused on the row it left."""
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    with time_machine.travel(start) as clock:
        payer = make_user()
        services.set_allowance(payer, 10, reason="ten to spend")
        for i in range(10):
            services.spend(payer, key=f"last-month-{i}")
        clock.move_to(start + services.replenish_period() + timedelta(seconds=1))

        results, errors = run_in_threads(64, lambda i: attempt_to_spend(payer, f"submission-{i}"))
        assert errors == []
        assert results.count("spent") == 10 and results.count("refused") == 54
        assert Entry.objects.filter(account__user=payer, kind="use").count() == 20
        assert selectors.balance(payer) == 0 and CreditAccount.objects.get(user=payer).balance == 0


def test_idempotency_64_threads_spending_one_key_inside_their_own_transactions_charge_once(make_user):
    payer = make_user()

    def attempt(i):
        with transaction.atomic():  # as the run service calls it
            spent = services.spend(payer, key="double-click")
            return spent.entry.pk, spent.replayed

    results, errors = run_in_threads(64, attempt)
    assert errors == []
    assert len({pk for pk, _ in results}) == 1
    assert sorted(replayed for _, replayed in results) == [False] + [True] * 63
    assert selectors.balance(payer) == 24 and CreditAccount.objects.get(user=payer).balance == 24


def test_idempotency_20_threads_with_one_shared_key_make_exactly_one_use(make_user):
    payer = make_user()

    results, errors = run_in_threads(20, lambda i: services.spend(payer, key="double-click").entry.pk)
    assert errors == []
    assert len(set(results)) == 1
    assert Entry.objects.filter(account__user=payer, kind="use").count() == 1
    assert selectors.balance(payer) == FREE.allowance - 1


def backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def wait_until_blocked(pid, *, by):
    """Until PostgreSQL's backend `pid` waits for a lock that backend `by` holds."""
    deadline = time.monotonic() + 20
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_blocking_pids(%s)", [pid])
            if by in cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    pytest.fail(f"backend {pid} never waited for a lock of backend {by}")


def test_idempotency_a_retry_that_raced_the_first_past_the_unlocked_read_gives_its_credit_back(make_user):
    """The first spend of a key holds the row lock, its use not yet committed, when the
    retry reads without a lock (no earlier entry yet) and sends its admission, which
    waits for the lock. Once the first commits, the admission takes a credit but its
    INSERT finds the key: the retry gives the credit back and returns the earlier entry."""
    payer = make_user()
    retry = {}
    started = threading.Event()

    def spend_again():
        try:
            retry["pid"] = backend_pid()
            started.set()
            with CaptureQueriesContext(connection) as captured:
                retry["entry"] = services.spend(payer, key="double-click")
            retry["sent"] = [query["sql"].split()[0].upper() for query in captured.captured_queries]
        except Exception as error:  # reported by the test
            retry["error"] = error
        finally:
            started.set()
            connection.close()

    thread = threading.Thread(target=spend_again)
    with transaction.atomic():
        first = services.spend(payer, key="double-click")
        thread.start()
        assert started.wait(timeout=20) and "pid" in retry, retry
        wait_until_blocked(retry["pid"], by=backend_pid())
    thread.join(timeout=60)
    assert "error" not in retry, retry["error"]
    # The unlocked read; the admission (one statement, its INSERT skipped), the give-back,
    # the earlier entry's id; then that entry and the balance now.
    assert retry["sent"] == ["SELECT", "BEGIN", "WITH", "UPDATE", "SELECT", "COMMIT", "SELECT", "SELECT"]
    again = retry["entry"]
    assert again.replayed is True and again.entry.pk == first.entry.pk
    assert Entry.objects.filter(account__user=payer, kind="use").count() == 1
    account = CreditAccount.objects.get(user=payer)
    assert (account.balance, account.counted_until) == (FREE.allowance - 1, first.entry.expires_at)
    assert selectors.balance(payer) == FREE.allowance - 1


def test_refund_20_threads_refunding_one_use_refund_it_once(make_user):
    payer = make_user()
    use = services.spend(payer, key="failed-run").entry

    def attempt(i):
        try:
            services.refund(use)
            return "refunded"
        except services.AlreadyRefunded:
            return "already"

    results, errors = run_in_threads(20, attempt)
    assert errors == []
    assert results.count("refunded") == 1
    assert selectors.balance(payer) == FREE.allowance
