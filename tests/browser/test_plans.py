"""The plans page in Chromium: Free, Gold, and a site without Stripe keys."""

import re

import pytest
from playwright.sync_api import expect

from billing.models import StripeCustomer
from billing.services import set_entitlement_by_staff
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, user):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url("/account/")


def test_a_free_user_sees_free_and_upgrading_opens_stripe_checkout(page, fake_stripe, screenshot):
    user = UserFactory()
    page.route(
        "https://checkout.stripe.test/**", lambda route: route.fulfill(body="Stripe Checkout", content_type="text/html")
    )
    log_in(page, user)
    page.goto("/billing/")
    expect(page.get_by_test_id("current-plan")).to_have_text("Free")
    expect(page.locator("main [data-testid=credit-balance]")).to_have_text("25")
    expect(page.get_by_test_id("payments-off")).to_have_count(0)
    screenshot("plans-free")
    page.get_by_test_id("plan-gold").get_by_role("button", name="Upgrade").click()
    page.wait_for_url("https://checkout.stripe.test/c/pay/*")
    assert fake_stripe.last_request("POST", "/v1/checkout/sessions")["form"]["client_reference_id"] == str(user.pk)


def test_a_gold_user_sees_gold_their_allowance_and_manage_billing(page, fake_stripe, screenshot):
    user = UserFactory()
    StripeCustomer.objects.create(user=user, customer_id=fake_stripe.create_customer(user.email)["id"])
    set_entitlement_by_staff(user, gold=True, packs_100=1, packs_250=0)
    log_in(page, user)
    page.goto("/billing/")
    expect(page.get_by_test_id("current-plan")).to_have_text("Gold + 1 × Extra 100")
    expect(page.locator("main [data-testid=credit-balance]")).to_have_text("1100")
    expect(page.get_by_test_id("plan-gold").get_by_test_id("current-plan-mark")).to_have_text("Your plan")
    expect(page.get_by_test_id("plan-pack_100").get_by_test_id("held-packs")).to_have_text("You hold 1")
    expect(page.get_by_test_id("plan-free").get_by_test_id("current-plan-mark")).to_have_count(0)
    expect(page.get_by_role("button", name="Manage billing")).to_be_visible()
    screenshot("plans-gold")


def test_without_stripe_keys_the_buy_buttons_explain_why_they_are_off(page, settings, screenshot):
    settings.STRIPE_SECRET_KEY = ""
    log_in(page, UserFactory())
    page.goto("/billing/")
    expect(page.get_by_test_id("payments-off")).to_contain_text("Payments are not configured")
    for plan in ("gold", "pack_100", "pack_250"):
        card = page.get_by_test_id(f"plan-{plan}")
        expect(card.get_by_role("button")).to_be_disabled()
    # Said once, on the page, not on every card.
    expect(page.get_by_text(re.compile("not configured", re.I))).to_have_count(1)
    screenshot("plans-no-stripe")
    page.set_viewport_size({"width": 375, "height": 800})
    screenshot("plans-no-stripe-mobile")
