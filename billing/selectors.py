"""Reads for billing pages."""

from billing.models import Entitlement, WebhookEvent


def entitlement_of(user):
    """The user's entitlement, or an unsaved Free one when they never bought anything."""
    return Entitlement.objects.filter(user=user).first() or Entitlement(user=user)


def checkout_applied(session_id):
    """Whether the webhook for this Checkout Session has been applied."""
    if not session_id:
        return False
    return WebhookEvent.objects.filter(
        type="checkout.session.completed",
        payload__data__object__id=session_id,
        processed_at__isnull=False,
    ).exists()
