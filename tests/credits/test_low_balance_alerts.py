"""Low-balance alerts: one email and one banner per crossing of the user's threshold, with
the projected run-out date; the settings on /account/, through the views."""

import itertools
from datetime import timedelta

import pytest
from django.core import mail

from credits import selectors, services
from credits.models import LowBalanceAlert
from embeds.models import Embed
from embeds.services import start_embed_run
from tests.credits.conftest import START
from tests.pickaxes.factories import PickaxeFactory, open_run

DAY = timedelta(days=1)
BANNER = 'data-testid="low-balance-banner"'


@pytest.fixture
def tool(db):
    return PickaxeFactory(name="Cold email writer")


KEYS = itertools.count()


def run(tool, user, n=1):
    """`n` runs of `tool` paid by `user`, charged as the run service charges them."""
    for _ in range(n):
        open_run(tool, user, f"key-{next(KEYS)}")


def test_the_default_threshold_is_20_percent_of_the_allowance_and_crossing_it_sends_one_email(
    clock, person, tool, run_tasks, client
):
    run(tool, person, 20)  # 25 → 5: not below 5 yet
    assert not LowBalanceAlert.objects.exists()
    run(tool, person)  # 5 → 4: crossed
    alert = LowBalanceAlert.objects.get()
    assert (alert.balance, alert.threshold, alert.about) == (4, 5, "“Cold email writer”")
    run(tool, person, 3)  # still below: no second alert
    run_tasks()
    assert [message.subject for message in mail.outbox] == ["Your Pickaxe credits are low: 4 left"]
    body = mail.outbox[0].body
    assert "fell below 5 credits after a run of “Cold email writer”: you have 4 left" in body
    # At the crossing: 21 runs today, 3 a day; 4 credits last 1 day and 8 hours. Back above
    # the threshold when today's runs return, 30 days on: all 21 of them, so 25 by then.
    assert "(3.0 a day) they run out around 2 Mar" in body
    assert "you have 25 credits back by 31 Mar" in body and "back at 5" not in body
    client.force_login(person)
    html = client.get("/account/").content.decode()
    assert html.count(BANNER) == 1
    assert "Your credits are low: 1 left" in html


def test_the_banner_shows_until_dismissed_and_not_again_for_the_same_crossing(clock, person, tool, client):
    run(tool, person, 21)
    client.force_login(person)
    assert BANNER in client.get("/p/" + tool.slug + "/").content.decode()
    alert = LowBalanceAlert.objects.get()
    response = client.post(f"/account/alerts/{alert.pk}/dismiss/", {"next": f"/p/{tool.slug}/"})
    assert response.status_code == 302 and response["Location"] == f"/p/{tool.slug}/"
    run(tool, person)
    assert BANNER not in client.get("/account/").content.decode()
    assert BANNER not in client.get(f"/p/{tool.slug}/").content.decode()


def test_a_new_crossing_after_the_credits_came_back_alerts_again(clock, person, tool, run_tasks):
    run(tool, person, 21)  # crossed once
    clock.shift(31 * DAY)  # everything is back: 25
    run(tool, person, 20)
    assert LowBalanceAlert.objects.count() == 1
    run(tool, person)
    assert LowBalanceAlert.objects.count() == 2
    run_tasks()
    assert len(mail.outbox) == 2


def test_the_banner_goes_when_the_balance_is_back_at_the_threshold(clock, person, tool, client):
    run(tool, person, 21)
    client.force_login(person)
    services.grant(person, 10, reason="sorry")
    assert BANNER not in client.get("/account/").content.decode()


def test_a_user_sets_their_own_threshold_or_turns_the_alert_off(clock, person, tool, client):
    client.force_login(person)
    response = client.post("/account/alerts/", {"when": "own", "threshold": "10"})
    assert response.status_code == 302 and response["Location"] == "/account/#alerts"
    assert selectors.alert_settings(person).threshold == 10
    run(tool, person, 16)  # 25 → 9
    assert LowBalanceAlert.objects.get().threshold == 10

    client.post("/account/alerts/", {"when": "off"})
    assert selectors.alert_settings(person).threshold is None
    clock.shift(31 * DAY)
    client.force_login(person)  # the session of a month ago has expired
    run(tool, person, 20)
    assert LowBalanceAlert.objects.count() == 1
    assert 'data-testid="before-submit"' not in client.get(f"/p/{tool.slug}/").content.decode()
    run(tool, person, 5)  # at 0 the page says so, alert or not
    assert "You have no credits left" in client.get(f"/p/{tool.slug}/").content.decode()


@pytest.mark.parametrize(
    "data",
    [{"when": "own"}, {"when": "own", "threshold": "0"}, {"when": "own", "threshold": "many"}, {"when": "sometimes"}],
)
def test_bad_alert_settings_are_refused_with_a_message_and_change_nothing(person, client, data):
    client.force_login(person)
    response = client.post("/account/alerts/", data, follow=True)
    assert response.status_code == 200
    assert "The alert was not changed." in response.content.decode()
    assert selectors.alert_settings(person).threshold == 5


def test_alert_settings_need_a_post_and_a_login(client, person):
    assert client.post("/account/alerts/", {"when": "off"}).status_code == 302  # to the login page
    client.force_login(person)
    assert client.get("/account/alerts/").status_code == 405


def test_nobody_dismisses_another_users_alert(clock, person, tool, make_user, client):
    run(tool, person, 21)
    alert = LowBalanceAlert.objects.get()
    client.force_login(make_user())
    client.post(f"/account/alerts/{alert.pk}/dismiss/", {"next": "https://evil.example/"})
    alert.refresh_from_db()
    assert alert.dismissed_at is None


def test_a_deduction_that_crosses_the_threshold_alerts_too(clock, person, run_tasks):
    services.deduct(person, 21, reason="chargeback")
    assert LowBalanceAlert.objects.get().balance == 4
    run_tasks()
    assert len(mail.outbox) == 1


def test_an_embed_that_takes_its_owner_below_the_threshold_tells_them_on_the_usage_page(clock, tool, run_tasks, client):
    owner = tool.owner
    embed = Embed.objects.create(pickaxe=tool)
    run(tool, owner, 20)
    start_embed_run(
        embed=embed, visitor_id="a" * 32, visitor_ip="203.0.113.9", inputs={"topic": "x"}, submission_key="v1"
    )
    alert = LowBalanceAlert.objects.get()
    assert alert.about == "your embed of “Cold email writer”"
    run_tasks()
    assert f"/studio/{tool.slug}/usage/" in mail.outbox[0].body
    client.force_login(owner)
    html = client.get(f"/studio/{tool.slug}/usage/").content.decode()
    assert BANNER in html and "after a run of your embed of “Cold email writer”" in html
    assert '<strong data-testid="embed-spent">1</strong>' in html
    other = PickaxeFactory(owner=owner)
    assert BANNER not in client.get(f"/studio/{other.slug}/usage/").content.decode()


def test_a_crossing_is_recorded_at_the_moment_of_the_run(clock, person, tool):
    run(tool, person, 21)
    assert LowBalanceAlert.objects.get().crossed_at == START


def test_a_crossing_is_seen_when_the_spend_first_catches_the_balance_up(clock, person, tool):
    """The spend after a use expired takes the locked path (the row's counted_until has
    passed), which must decide the crossing as the one-statement path does."""
    run(tool, person, 3)  # 25 → 22, the three uses expire 30 days on
    clock.move_to(START + 29 * DAY)
    run(tool, person, 17)  # 22 → 5
    assert not LowBalanceAlert.objects.exists()
    clock.move_to(START + 30 * DAY + timedelta(minutes=1))  # the first three are back: 8
    run(tool, person, 3)  # caught up at the first, 8 → 5: not below 5
    assert not LowBalanceAlert.objects.exists()
    run(tool, person)  # 5 → 4
    assert LowBalanceAlert.objects.get().balance == 4


def test_the_catch_up_path_alone_can_cross(clock, person, tool):
    run(tool, person, 20)  # 25 → 5, the uses expire 30 days on
    clock.move_to(START + 30 * DAY + timedelta(minutes=1))
    account = person.credit_account
    services.set_low_balance_alert(person, on=True, threshold=25)
    run(tool, person)  # caught up (25) on the locked path, then 25 → 24: crossed
    alert = LowBalanceAlert.objects.get()
    assert (alert.balance, alert.threshold) == (24, 25)
    assert account.pk == alert.account_id
