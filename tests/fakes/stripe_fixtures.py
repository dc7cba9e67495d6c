"""Pytest fixture for the fake Stripe server in `tests/fakes/stripe_server.py`."""

import pytest

from accounts import plans
from tests.fakes.stripe_server import FakeStripeServer


@pytest.fixture
def fake_stripe(settings):
    """A running fake Stripe that the settings point at, with the three monthly prices.

    `settings.STRIPE_PRICE_GOLD`, `..._PACK_100` and `..._PACK_250` hold the price ids
    (lookup keys `pickaxe_gold_monthly`, `pickaxe_pack_100_monthly`,
    `pickaxe_pack_250_monthly`); they are made through the Python helpers, so
    `server.requests` starts empty.
    """
    server = FakeStripeServer().start()
    settings.STRIPE_SECRET_KEY = server.api_key
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test"
    settings.STRIPE_API_BASE = server.url
    for on_sale in plans.FOR_SALE:  # what the catalogue sells, at its list prices
        product = server.create_product(on_sale.name, metadata={"lookup_key": on_sale.lookup_key})
        price = server.create_price(
            product["id"], on_sale.monthly_price_cents, currency=plans.CURRENCY, interval="month",
            lookup_key=on_sale.lookup_key, nickname=on_sale.name,
        )
        setattr(settings, on_sale.price_setting, price["id"])
    yield server
    server.stop()
