from datetime import timedelta

import time_machine
from django.utils import timezone

from credits import services


def test_account_page_needs_sign_in(client, db):
    response = client.get("/account/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_new_user_sees_25_of_25_and_an_empty_timeline(client, user):
    client.force_login(user)
    response = client.get("/account/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<span data-testid="credit-balance">25</span> <span class="muted">of 25</span>' in html
    assert "Nothing to come back" in html


def test_account_page_shows_returns_by_day(client, user):
    with time_machine.travel(timezone.datetime(2026, 11, 12, 10, tzinfo=timezone.UTC), tick=False):
        for _ in range(3):
            services.spend(user)
    with time_machine.travel(timezone.datetime(2026, 11, 14, 10, tzinfo=timezone.UTC), tick=False):
        services.spend(user)
        client.force_login(user)
        html = client.get("/account/").content.decode()
    assert "3 credits</strong> on 12 Dec" in html
    assert "1 credit</strong> on 14 Dec" in html
    assert '<span data-testid="credit-balance">21</span>' in html


def test_account_page_shows_0_when_the_balance_is_below_zero(client, user):
    for _ in range(20):
        services.spend(user)
    services.set_allowance(user, 5, reason="downgrade")
    client.force_login(user)
    html = client.get("/account/").content.decode()
    assert '<span data-testid="credit-balance">0</span> <span class="muted">of 5</span>' in html


def test_navigation_shows_the_signed_in_users_balance_on_every_page(client, user):
    services.grant(user, 5, expires_at=timezone.now() + timedelta(days=3), reason="welcome")
    client.force_login(user)
    html = client.get("/").content.decode()
    assert '<span data-testid="credit-balance">30</span> credits' in html


def test_account_page_query_count_does_not_grow_with_history(client, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(user)

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/account/").status_code == 200
        return len(queries)

    services.spend(user)
    few = count_queries()
    for _ in range(20):
        services.spend(user)
    assert count_queries() == few
