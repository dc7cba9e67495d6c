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
    assert "each comes back 14 days after you use it" in card(html, plans.FREE.code)
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
