"""Before Submit: the pickaxe page says how the balance stands, and Submit is disabled at 0."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from accounts import services as accounts
from accounts.models import User
from credits import services as credits
from tests.credits.conftest import START
from tests.pickaxes.factories import open_run

# `data-spends-credits`: the person pays with credits, so the page's script keeps Submit
# off after a run that spent the last one (static/js/run.js).
BUTTON_DISABLED = '<button type="submit" data-run-button data-spends-credits disabled aria-describedby="before-submit">'
BUTTON_ENABLED = '<button type="submit" data-run-button data-spends-credits>'
BUTTON_NO_CREDITS = '<button type="submit" data-run-button>'  # signed out, or Gold on their own key


def page(client, user, pickaxe):
    client.force_login(user)
    return client.get(f"/p/{pickaxe.slug}/").content.decode()


def test_at_0_credits_the_page_says_when_the_next_credit_returns_and_submit_is_disabled(client, user, pickaxe):
    with time_machine.travel(START - timedelta(days=2), tick=False):
        open_run(pickaxe, user, "early")  # back on 29 Mar at 09:00
    with time_machine.travel(START, tick=False):
        for index in range(24):
            open_run(pickaxe, user, f"k{index}")
        html = page(client, user, pickaxe)
    assert BUTTON_DISABLED in html
    assert "You have no credits left: your next credit comes back on <strong>29 Mar at 09:00 UTC</strong>." in html


def test_below_the_threshold_the_page_shows_the_credits_left(client, user, pickaxe):
    for index in range(22):
        open_run(pickaxe, user, f"k{index}")
    html = page(client, user, pickaxe)
    assert BUTTON_ENABLED in html
    assert "<strong>3 credits left</strong>, below your alert at 5." in html


def test_above_the_threshold_or_signed_out_the_page_says_nothing_more(client, user, pickaxe):
    html = page(client, user, pickaxe)
    assert BUTTON_ENABLED in html and 'data-testid="before-submit"' not in html
    client.logout()
    html = client.get(f"/p/{pickaxe.slug}/").content.decode()
    assert BUTTON_NO_CREDITS in html and 'data-testid="before-submit"' not in html


def test_a_balance_below_zero_shows_as_0_and_disables_submit(client, user, pickaxe):
    credits.deduct(user, 30, reason="chargeback")
    html = page(client, user, pickaxe)
    assert BUTTON_DISABLED in html and "You have no credits left" in html


def test_a_gold_member_on_their_own_key_is_not_held_back_by_credits(client, make_user, pickaxe):
    gold = make_user(plan=User.Plan.GOLD)
    accounts.save_own_api_key(gold, "sk-test-0123456789abcdef")
    credits.deduct(gold, 1000, reason="test")
    html = page(client, gold, pickaxe)
    assert BUTTON_NO_CREDITS in html and 'data-testid="before-submit"' not in html


def test_the_before_submit_status_is_computed_at_the_moment_of_the_page(client, user, pickaxe):
    credits.deduct(user, 25, reason="r")
    with time_machine.travel(timezone.now() + timedelta(days=31), tick=False):
        assert BUTTON_ENABLED in page(client, user, pickaxe)
