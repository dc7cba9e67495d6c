import pytest

from billing.models import StripeCustomer


@pytest.fixture
def customer(fake_stripe, user):
    """The user as a Stripe customer, as after their first Checkout."""
    created = fake_stripe.create_customer(user.email, metadata={"user_id": str(user.pk)})
    StripeCustomer.objects.create(user=user, customer_id=created["id"])
    return created["id"]


@pytest.fixture
def deliver(db, client, fake_stripe, settings):
    """Send a signed event to the webhook view, as Stripe would; returns the response."""

    def send(event_type, obj, *, event_id=None, secret=None, created=None):
        payload, signature = fake_stripe.webhook(
            event_type, obj, secret=secret or settings.STRIPE_WEBHOOK_SECRET, event_id=event_id, created=created
        )
        return client.post(
            "/billing/webhook/", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )

    return send
