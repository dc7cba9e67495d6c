"""Numbers a reader can trust, in Chromium at 1280 and 390 px: a bonus on the plans page is
a bonus (not "48 of 25"), the plans say what a buyer gets, and at 0 credits the account
page says when the next credit returns instead of a run-out date."""

import pytest
from playwright.sync_api import expect

from credits import services as credits
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_credits_account import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [1280, 390]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_plans_page_shows_a_bonus_as_a_bonus_and_what_each_plan_gives(
    new_page, asgi_live_server, screenshot, width
):
    user = UserFactory(email="bonus@example.com")
    credits.grant(user, 23, reason="outage")
    page = new_page(asgi_live_server, viewport={"width": width, "height": 900})
    log_in(page, user.email)
    page.goto("/billing/")
    expect(page.get_by_test_id("balance-line")).to_contain_text("48 credits: 25 from Free, 23 bonus until")
    expect(page.locator("main")).not_to_contain_text("of 25")
    expect(page.get_by_test_id("plan-gold")).to_contain_text("1,000 credits; each one you use comes back 30 days later")
    expect(page.get_by_test_id("plan-pack_100")).to_contain_text("+100 credits for each pack")
    expect(page.locator("main")).not_to_contain_text("in use at once")
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    screenshot(f"billing-bonus-{width}", page)


@pytest.mark.parametrize("width", WIDTHS)
def test_at_0_credits_the_account_page_says_when_the_next_credit_returns(new_page, asgi_live_server, screenshot, width):
    user = UserFactory(email="empty@example.com")
    for _ in range(25):
        credits.spend(user)
    page = new_page(asgi_live_server, viewport={"width": width, "height": 900})
    log_in(page, user.email)
    pace = page.get_by_test_id("pace")
    expect(pace).to_contain_text("You have run out of credits: the next one comes back on")
    expect(pace).not_to_contain_text("run out around")
    expect(page.get_by_test_id("next-credit")).to_be_visible()
    pace.scroll_into_view_if_needed()
    screenshot(f"account-at-0-{width}", page)
    page.locator("#timeline").screenshot(path=SCREENSHOTS / f"account-at-0-timeline-{width}.png")
