"""Pytest fixture for the fake Stripe server in `tests/fakes/stripe_server.py`."""

import pytest

from tests.fakes.stripe_server import FakeStripeServer

# What the fixture puts on sale: (settings name, product name, lookup key, monthly cents).
CATALOGUE = [
    ("STRIPE_PRICE_GOLD", "Gold", "pickaxe_gold_monthly", 900),
    ("STRIPE_PRICE_PACK_100", "Extra 100", "pickaxe_pack_100_monthly", 300),
    ("STRIPE_PRICE_PACK_250", "Extra 250", "pickaxe_pack_250_monthly", 600),
]


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
    for setting, name, lookup_key, amount in CATALOGUE:
        product = server.create_product(name, metadata={"lookup_key": lookup_key})
        price = server.create_price(
            product["id"], amount, currency="eur", interval="month", lookup_key=lookup_key, nickname=name
        )
        setattr(settings, setting, price["id"])
    yield server
    server.stop()
