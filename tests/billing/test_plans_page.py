"""The plans page states the catalogue's figures (accounts/plans.py), not copies of them."""

import re

from accounts import plans
from billing.models import Entitlement


def card(html, code):
    return re.search(rf'data-testid="plan-{code}">(.*?)</section>', html, re.S).group(1)


def test_each_card_shows_the_catalogue_name_allowance_and_price(client):
    html = client.get("/billing/").content.decode()
    for product in plans.PRODUCTS:
        shown = card(html, product.code)
        assert f"<h2>{product.name}</h2>" in shown
        assert f'data-testid="allowance">{product.allowance:,}</span>' in shown
        assert f'data-testid="price">{product.price_text}</p>' in shown
    assert "own OpenAI key" in card(html, plans.GOLD.code)
    assert "for each pack" in card(html, plans.PACK_100.code)


def test_the_replenishment_period_comes_from_the_setting(client, settings):
    settings.CREDIT_REPLENISH_DAYS = 14
    html = client.get("/billing/").content.decode()
    assert "each one you use comes back 14 days later" in card(html, plans.FREE.code)
    assert "30 days" not in html


def test_list_prices_read_as_money():
    assert plans.FREE.price_text == "free"
    assert plans.GOLD.price_text == "€19 a month"
    assert plans.Product("x", "X", allowance=1, monthly_price_cents=450).price_text == "€4.50 a month"


def test_an_entitlement_allows_and_describes_what_the_catalogue_says():
    held = Entitlement(gold=True, packs_100=2, packs_250=1)
    assert held.allowance == plans.GOLD.allowance + 2 * plans.PACK_100.allowance + plans.PACK_250.allowance
    assert held.describe() == f"{plans.GOLD.name} + 2 × {plans.PACK_100.name} + 1 × {plans.PACK_250.name}"
    assert Entitlement().allowance == plans.FREE.allowance


def test_without_stripe_the_prices_come_from_the_settings(client, settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.BILLING_DISPLAY_PRICES = {"gold": 2450, "pack_100": 600, "pack_250": 1100}
    html = client.get("/billing/").content.decode()
    assert 'data-testid="price">€24.50 a month</p>' in card(html, "gold")
    assert 'data-testid="price">€6 a month</p>' in card(html, "pack_100")
    assert 'data-testid="price">free</p>' in card(html, "free")


def test_with_stripe_the_prices_are_stripes(client, fake_stripe, settings):
    product = fake_stripe.create_product("Gold")
    price = fake_stripe.create_price(product["id"], 2900, currency="usd", interval="month")
    settings.STRIPE_PRICE_GOLD = price["id"]
    settings.BILLING_DISPLAY_PRICES = {"gold": 1, "pack_100": 1, "pack_250": 1}
    html = client.get("/billing/").content.decode()
    assert 'data-testid="price">$29 a month</p>' in card(html, "gold")
    assert f'data-testid="price">{plans.PACK_250.price_text}</p>' in card(html, "pack_250")
    # Kept a while: the next page asks Stripe nothing.
    asked = len(fake_stripe.requests)
    client.get("/billing/")
    assert len(fake_stripe.requests) == asked


def test_when_stripe_does_not_answer_the_prices_come_from_the_settings(client, fake_stripe, settings):
    settings.STRIPE_PRICE_GOLD = "price_that_does_not_exist"
    html = client.get("/billing/").content.decode()
    assert client.get("/billing/").status_code == 200
    assert f'data-testid="price">{plans.GOLD.price_text}</p>' in card(html, "gold")


def test_the_current_plan_is_marked_and_packs_held_are_counted(client, user):
    Entitlement.objects.create(user=user, gold=True, packs_250=2)
    client.force_login(user)
    html = client.get("/billing/").content.decode()
    assert "Your plan" in card(html, "gold") and "Your plan" not in card(html, "free")
    assert "You hold 2" in card(html, "pack_250") and "You hold" not in card(html, "pack_100")


def test_a_free_user_has_free_marked(client, user):
    client.force_login(user)
    html = client.get("/billing/").content.decode()
    assert "Your plan" in card(html, "free") and "Your plan" not in card(html, "gold")


def test_without_stripe_not_configured_is_said_once(client, user, settings):
    settings.STRIPE_SECRET_KEY = ""
    client.force_login(user)
    html = client.get("/billing/").content.decode()
    assert html.lower().count("not configured") == 1


def test_a_bonus_is_shown_as_a_bonus_not_as_more_than_the_plan_allows(client, user):
    from credits import services as credits

    credits.grant(user, 23, reason="outage")
    client.force_login(user)
    html = client.get("/billing/").content.decode()
    line = re.search(r'data-testid="balance-line">(.*?)</p>', html, re.S).group(1)
    assert 'data-testid="credit-balance">48</span> credits' in line
    assert "25 from Free, 23 bonus until" in line
    assert "of 25" not in html


def test_plans_say_what_a_buyer_gets_not_credits_in_use_at_once(client):
    html = client.get("/billing/").content.decode()
    assert "in use at once" not in html
    gold = card(html, plans.GOLD.code)
    assert 'data-testid="allowance">1,000</span> credits; each one you use comes back 30 days later' in gold
