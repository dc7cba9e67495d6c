"""Pytest fixtures: the fake Stripe server of `tests/fakes/stripe_server.py`, a user as
its customer, and signed webhook deliveries."""

import pytest

from accounts import plans
from billing.models import StripeCustomer
from tests.fakes.stripe_server import FakeStripeServer
from tests.tasks import run_due_tasks


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
    # The fake's Checkout and Portal pages live on stripe.test: forms may lead there, as
    # they may to Stripe's own (the pages' CSP form-action).
    form_action = [*settings.SECURE_CSP["form-action"], "https://checkout.stripe.test", "https://billing.stripe.test"]
    settings.SECURE_CSP = {**settings.SECURE_CSP, "form-action": form_action}
    for on_sale in plans.FOR_SALE:  # what the catalogue sells, at its list prices
        product = server.create_product(on_sale.name, metadata={"lookup_key": on_sale.lookup_key})
        price = server.create_price(
            product["id"],
            on_sale.monthly_price_cents,
            currency=plans.CURRENCY,
            interval="month",
            lookup_key=on_sale.lookup_key,
            nickname=on_sale.name,
        )
        setattr(settings, on_sale.price_setting, price["id"])
    yield server
    server.stop()


@pytest.fixture
def customer(fake_stripe, user):
    """The user as a Stripe customer, as after their first Checkout."""
    created = fake_stripe.create_customer(user.email, metadata={"user_id": str(user.pk)})
    StripeCustomer.objects.create(user=user, customer_id=created["id"])
    return created["id"]


@pytest.fixture
def deliver(db, client, fake_stripe, settings):
    """Send a signed event to the webhook view, as Stripe would; returns the response.

    Then the due background tasks run, as a worker would pick them up (the webhook only
    stores the event; its task applies it). `run_tasks=False` leaves them queued.
    """

    def send(event_type, obj, *, event_id=None, secret=None, created=None, run_tasks=True):
        payload, signature = fake_stripe.webhook(
            event_type, obj, secret=secret or settings.STRIPE_WEBHOOK_SECRET, event_id=event_id, created=created
        )
        response = client.post(
            "/billing/webhook/", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
        if run_tasks:
            run_due_tasks()
        return response

    return send
