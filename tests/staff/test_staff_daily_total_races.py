"""The staff daily total holds against parallel requests, on PostgreSQL with real threads."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from credits import selectors as credits
from credits.models import Entry
from tests.credits.test_concurrency import run_in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_daily_total_12_parallel_grants_of_100_from_the_admin_apply_at_most_500(make_user, settings):
    """An attacker's probe: a Support member sent 12 grants of 100 at once from the grant
    page; each counted the day's total before any had written, and 7 applied."""
    settings.STAFF_CREDIT_CEILING, settings.STAFF_CREDIT_DAILY_TOTAL = 100, 500
    support = make_user(is_staff=True)
    support.groups.add(Group.objects.get(name="Support"))
    user = make_user()
    clients = [Client() for _ in range(12)]
    for client in clients:
        client.force_login(support)
    expires_on = (timezone.localdate() + timedelta(days=30)).isoformat()
    data = {"amount": "100", "expires_on": expires_on, "reason": "goodwill", "apply": "1"}

    results, errors = run_in_threads(
        12, lambda i: clients[i].post(f"/admin/accounts/user/{user.pk}/credits/grant/", data).status_code
    )

    assert errors == []
    assert sorted(results) == [200] * 7 + [302] * 5  # the form again, with its message; or done
    granted = Entry.objects.filter(kind="bonus", staff=support)
    assert granted.count() == 5 and credits.credits_moved_by(support, since=support.date_joined) == 500
