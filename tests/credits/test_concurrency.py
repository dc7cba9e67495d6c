"""Concurrent spends on PostgreSQL, with real threads and real row locks."""

import threading

import pytest
from django.db import close_old_connections, connection

from accounts.plans import FREE
from credits import selectors, services
from credits.models import Entry

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


def test_no_credit_no_output_50_threads_against_10_credits_make_exactly_10_uses(make_user):
    payer = make_user()
    services.set_allowance(payer, 10, reason="ten to spend")

    def attempt(i):
        try:
            services.spend(payer, key=f"submission-{i}")
            return "spent"
        except services.OutOfCredits:
            return "refused"

    results, errors = run_in_threads(50, attempt)
    assert errors == []
    assert results.count("spent") == 10 and results.count("refused") == 40
    assert Entry.objects.filter(account__user=payer, kind="use").count() == 10
    assert selectors.balance(payer) == 0


def test_idempotency_20_threads_with_one_shared_key_make_exactly_one_use(make_user):
    payer = make_user()

    results, errors = run_in_threads(20, lambda i: services.spend(payer, key="double-click").pk)
    assert errors == []
    assert len(set(results)) == 1
    assert Entry.objects.filter(account__user=payer, kind="use").count() == 1
    assert selectors.balance(payer) == FREE.allowance - 1


def test_refund_20_threads_refunding_one_use_refund_it_once(make_user):
    payer = make_user()
    use = services.spend(payer, key="failed-run")

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
