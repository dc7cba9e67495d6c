"""Background tasks (django.tasks) of billing: applying the Stripe events the webhook stored."""

import stripe
from django.tasks import task

from accounts.tasks import retry_later
from billing import services


@task
def apply_webhook_event(event_id, attempt=1):
    """Apply one stored event; while Stripe's API fails, try again later with backoff."""
    try:
        return services.apply_received_event(event_id).result
    except stripe.StripeError:
        retry_later(apply_webhook_event, attempt=attempt, event_id=event_id)
        raise  # this attempt is recorded as failed, with Stripe's error
