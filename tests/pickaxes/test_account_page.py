from datetime import timedelta

import time_machine
from django.utils import timezone

from credits import services
from tests.pickaxes.pages import balance_line, timeline_rows


def test_account_page_needs_sign_in(client, db):
    response = client.get("/account/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_new_user_sees_25_credits_from_free_and_an_empty_timeline(client, user):
    client.force_login(user)
    response = client.get("/account/")
    html = response.content.decode()
    assert response.status_code == 200
    assert balance_line(html) == "25 credits: 25 from Free"
    assert "Nothing to come back" in html


def test_account_page_shows_returns_by_day(client, user):
    with time_machine.travel(timezone.datetime(2026, 11, 12, 10, tzinfo=timezone.UTC), tick=False):
        for _ in range(3):
            services.spend(user)
    with time_machine.travel(timezone.datetime(2026, 11, 14, 10, tzinfo=timezone.UTC), tick=False):
        services.spend(user)
        client.force_login(user)
        html = client.get("/account/").content.decode()
    assert timeline_rows(html) == [("Sat 12 Dec", "+3", "–", "24 credits"), ("Mon 14 Dec", "+1", "–", "25 credits")]
    assert balance_line(html) == "21 credits: 25 from Free, 4 in use"


def test_account_page_shows_0_when_the_balance_is_below_zero(client, user):
    for _ in range(20):
        services.spend(user)
    services.set_allowance(user, 5, reason="downgrade")
    client.force_login(user)
    html = client.get("/account/").content.decode()
    assert balance_line(html) == "0 credits: 5 from Free, 20 in use"
    assert "Your balance is 15 below zero" in html


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


def test_at_0_credits_the_account_page_says_when_the_next_credit_returns_not_a_run_out_date(client, user):
    from django.utils import timezone

    from credits import services as credits

    for _ in range(25):
        credits.spend(user)
    client.force_login(user)
    html = client.get("/account/").content.decode()
    pace = html[html.index('data-testid="pace"') :].split("</p>", 1)[0]
    assert "run out around" not in pace
    assert "You have run out of credits: the next one comes back on" in pace
    back = timezone.localtime(timezone.now() + timezone.timedelta(days=30))
    assert back.strftime("%-d %b") in pace
