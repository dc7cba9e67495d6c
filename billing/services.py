"""Stripe: Checkout and the Customer Portal, and the webhook path that keeps each
user's Entitlement equal to what Stripe says they hold now."""

import json
import logging
import time
from datetime import UTC, datetime

import stripe
from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts import plans
from accounts import services as accounts
from accounts.models import User
from accounts.signals import entitlement_changed
from billing.models import Entitlement, StripeCustomer, WebhookEvent

log = logging.getLogger(__name__)

# Stripe subscription statuses that keep what was bought. past_due is Stripe's grace
# period while it retries a failed payment; when it gives up the subscription becomes
# canceled or unpaid (the customer's Stripe settings decide which).
HOLDING = {"active", "trialing", "past_due"}
HANDLED_EVENTS = {
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
}


# Asking for the same product again within this many seconds reopens the same session.
CHECKOUT_REUSE_SECONDS = 300


class AlreadyHeld(Exception):
    """The user holds this product already (Gold is held once)."""


class CheckoutUnavailable(Exception):
    """Stripe made a Checkout Session but gave no page to send the buyer to."""


class PaymentsNotConfigured(Exception):
    """No Stripe secret key or price ids: buying is switched off."""


def payments_configured():
    return bool(
        settings.STRIPE_SECRET_KEY
        and settings.STRIPE_PRICE_GOLD
        and settings.STRIPE_PRICE_PACK_100
        and settings.STRIPE_PRICE_PACK_250
    )


def stripe_client():
    if not settings.STRIPE_SECRET_KEY:
        raise PaymentsNotConfigured("STRIPE_SECRET_KEY is not set.")
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses=base, max_network_retries=2)


def products():
    """The products on sale, by code: (the catalogue's product, its Stripe price id)."""
    return {product.code: (product, getattr(settings, product.price_setting)) for product in plans.FOR_SALE}


def customer_for(user):
    """The user's Stripe customer id, created on first use and reused after."""
    existing = StripeCustomer.objects.filter(user=user).first()
    if existing:
        return existing.customer_id
    customer = stripe_client().v1.customers.create(
        {"email": user.email, "metadata": {"user_id": str(user.pk)}},
        {"idempotency_key": f"customer-for-user-{user.pk}"},
    )
    record, _ = StripeCustomer.objects.get_or_create(user=user, defaults={"customer_id": customer.id})
    return record.customer_id


def start_checkout(user, *, product, quantity, success_url, cancel_url):
    """A Stripe Checkout Session (subscription mode) for one product; returns its URL.

    Gold is bought once: a Gold member is refused (AlreadyHeld) rather than charged twice
    for the same allowance. The same product and quantity asked again within a few minutes
    (a double click) reopens the same session, through Stripe's idempotency key.
    """
    if not payments_configured():
        raise PaymentsNotConfigured("Payments are not configured.")
    on_sale, price = products()[product]
    if product == "gold" and user.is_gold:
        raise AlreadyHeld("You are on Gold already.")
    if not on_sale.quantity_allowed:
        quantity = 1
    window = int(time.time() // CHECKOUT_REUSE_SECONDS)
    session = stripe_client().v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer_for(user),
            "client_reference_id": str(user.pk),
            "line_items": [{"price": price, "quantity": quantity}],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": {"user_id": str(user.pk), "product": product},
            "subscription_data": {"metadata": {"user_id": str(user.pk), "product": product}},
        },
        {"idempotency_key": f"checkout-{user.pk}-{product}-{quantity}-{window}"},
    )
    if not session.url:
        raise CheckoutUnavailable(f"Checkout Session {session.id} has no URL.")
    return session.url


def start_portal(user, *, return_url):
    """A Stripe Customer Portal session (cancel, change, invoices); returns its URL."""
    customer = StripeCustomer.objects.filter(user=user).first()
    if customer is None:
        raise PaymentsNotConfigured("This account has no billing history yet.")
    session = stripe_client().v1.billing_portal.sessions.create(
        {"customer": customer.customer_id, "return_url": return_url}
    )
    return session.url


# --- webhooks -------------------------------------------------------------------------


class MalformedEvent(Exception):
    """A signed payload that is not a Stripe event: refused, nothing stored."""


class BadSignature(Exception):
    """The webhook's signature is missing, wrong or too old."""


def verify_event(payload, signature):
    """The event, when Stripe signed this payload with our webhook secret (else BadSignature)
    and it has the shape of an event (else MalformedEvent: nothing is stored)."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise BadSignature("STRIPE_WEBHOOK_SECRET is not set.")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"),
            signature or "",
            settings.STRIPE_WEBHOOK_SECRET,
            tolerance=stripe.Webhook.DEFAULT_TOLERANCE,
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as error:
        raise BadSignature(str(error)) from error
    # The payload as Stripe sent it (the SDK's objects hold Decimals JSON cannot store).
    try:
        event = json.loads(payload)
    except ValueError as error:
        raise MalformedEvent("The payload is not JSON.") from error
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and event["id"]
        and isinstance(event.get("type"), str)
        and isinstance(event.get("created"), int)
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    ):
        raise MalformedEvent("The payload is not an event (id, type, created, data.object).")
    return event


def receive_event(event):
    """Store the event (a dict, as verify_event returns it) by id and queue its applying
    (billing.tasks.apply_webhook_event), so the webhook answers at once, whatever Stripe's
    API or the mail server are doing. A redelivery of an event not yet applied is queued
    again (applying twice changes nothing); one applied already is left alone.
    Returns the stored WebhookEvent."""
    from billing.tasks import apply_webhook_event  # billing.tasks imports this module

    data = event
    with transaction.atomic():
        stored, _ = WebhookEvent.objects.get_or_create(
            event_id=data["id"],
            defaults={
                "type": data["type"],
                "created": datetime.fromtimestamp(data["created"], tz=UTC),
                "payload": data,
            },
        )
        if stored.processed_at is None:
            apply_webhook_event.enqueue(event_id=stored.event_id)
    return stored


def apply_received_event(event_id):
    """Apply a stored event unless it was applied already (its task may run twice).
    Raises stripe.StripeError when Stripe cannot be read; the event stays unapplied."""
    stored = WebhookEvent.objects.get(event_id=event_id)
    if stored.processed_at is not None:
        return stored
    return apply_event(stored)


def apply_event(stored):
    """Apply a stored event (again, for staff re-apply): re-sync its customer from Stripe."""
    obj = stored.payload["data"]["object"]
    user = None
    if stored.type not in HANDLED_EVENTS:
        result = "ignored: not an event we act on"
    else:
        customer_id = obj.get("customer")
        if stored.type == "checkout.session.completed":
            _link_customer(customer_id, obj.get("client_reference_id"))
        user = _user_for_customer(customer_id)
        if user is None:
            result = f"ignored: customer {customer_id} is not one of ours"
        else:
            result = sync_customer(user, stripe_event_id=stored.event_id)
    with transaction.atomic():
        if user is not None and stored.type == "invoice.payment_failed":
            # Keyed by the event: a re-apply or a second run of the task emails once.
            _email(
                user, "Your payment failed", "billing/email/payment_failed.txt", key=f"payment-failed:{stored.event_id}"
            )
        WebhookEvent.objects.filter(pk=stored.pk).update(processed_at=timezone.now(), result=result[:300])
    stored.refresh_from_db()
    return stored


def _link_customer(customer_id, client_reference_id):
    if not customer_id or not client_reference_id or not str(client_reference_id).isdigit():
        return
    user = User.objects.filter(pk=int(client_reference_id)).first()
    if user:
        StripeCustomer.objects.get_or_create(user=user, defaults={"customer_id": customer_id})


def _user_for_customer(customer_id):
    record = StripeCustomer.objects.filter(customer_id=customer_id).select_related("user").first()
    return record.user if record else None


def sync_customer(user, *, stripe_event_id=None):
    """Re-read the customer's subscriptions from Stripe and make the Entitlement match.

    The only writer of Entitlement on the webhook path: the state is recomputed from
    Stripe's current answer, never incremented from an event, and a read older than
    the stored one is dropped. `stripe_event_id` is the event that asked for the re-read
    (None for a re-read on our own initiative); the ledger links its entry to it.
    """
    customer_id = user.stripe_customer.customer_id
    read_at = timezone.now()
    subscriptions = stripe_client().v1.subscriptions.list({"customer": customer_id, "status": "all", "limit": 100})
    held = holdings(subscription.to_dict() for subscription in subscriptions.auto_paging_iter())
    with transaction.atomic():
        entitlement, _ = Entitlement.objects.select_for_update().get_or_create(user=user)
        if entitlement.synced_at and entitlement.synced_at > read_at:
            return "skipped: a newer read of Stripe was applied already"
        entitlement.synced_at = read_at
        why = f"Stripe event {stripe_event_id}" if stripe_event_id else "a re-read of Stripe"
        return apply_holdings(user, entitlement, why=why, stripe_event_id=stripe_event_id, **held)


def holdings(subscriptions):
    """What a customer holds, from Stripe subscription objects (pure: no I/O)."""
    kinds = {
        settings.STRIPE_PRICE_GOLD: "gold",
        settings.STRIPE_PRICE_PACK_100: "packs_100",
        settings.STRIPE_PRICE_PACK_250: "packs_250",
    }
    held = {"gold": False, "packs_100": 0, "packs_250": 0, "current_period_end": None, "ends_at_period_end": False}
    statuses = []
    for subscription in subscriptions:
        statuses.append(subscription["status"])
        if subscription["status"] not in HOLDING:
            continue
        if subscription.get("cancel_at_period_end") or subscription.get("cancel_at"):
            held["ends_at_period_end"] = True
        for item in subscription["items"]["data"]:
            kind = kinds.get(item["price"]["id"])
            if kind == "gold":
                held["gold"] = True
            elif kind:
                held[kind] += item.get("quantity") or 1
            end = item.get("current_period_end") or subscription.get("current_period_end")
            if end:
                end = datetime.fromtimestamp(end, tz=UTC)
                held["current_period_end"] = max(end, held["current_period_end"] or end)
    if "past_due" in statuses:
        held["status"] = Entitlement.Status.PAST_DUE
    elif HOLDING.intersection(statuses):
        held["status"] = Entitlement.Status.ACTIVE
    else:
        held["status"] = Entitlement.Status.ENDED if statuses else Entitlement.Status.NONE
    return held


def apply_holdings(
    user,
    entitlement,
    *,
    gold,
    packs_100,
    packs_250,
    status,
    current_period_end,
    why,
    ends_at_period_end=False,
    stripe_event_id=None,
    staff=None,
):
    """Write what the user holds; on a change, tell credits the new allowance (and its cause)."""
    before = (entitlement.gold, entitlement.packs_100, entitlement.packs_250)
    was_gold = entitlement.gold
    entitlement.gold, entitlement.packs_100, entitlement.packs_250 = gold, packs_100, packs_250
    entitlement.status, entitlement.current_period_end = status, current_period_end
    entitlement.ends_at_period_end = ends_at_period_end
    entitlement.save()
    accounts.set_plan(user, User.Plan.GOLD if gold else User.Plan.FREE)
    if (gold, packs_100, packs_250) != before or entitlement._state.adding:
        entitlement_changed.send(
            sender=Entitlement,
            user=user,
            allowance=entitlement.allowance,
            reason=f"{entitlement.describe()} ({why})",
            plan_name=entitlement.describe(),
            stripe_event_id=stripe_event_id,
            staff=staff,
        )
    if was_gold and not gold:
        # Queued in this transaction: the email exists exactly when the change is saved.
        occasion = stripe_event_id or timezone.now().isoformat()
        _email(user, "Your Gold plan has ended", "billing/email/gold_ended.txt", key=f"gold-ended:{user.pk}:{occasion}")
    return f"synced: {entitlement.describe()} ({status}), allowance {entitlement.allowance}"


def set_entitlement_by_staff(user, *, gold, packs_100, packs_250, staff=None):
    """Staff set what a user holds (admin); the allowance re-syncs through the same signal."""
    with transaction.atomic():
        entitlement, _ = Entitlement.objects.select_for_update().get_or_create(user=user)
        status = Entitlement.Status.ACTIVE if (gold or packs_100 or packs_250) else Entitlement.Status.NONE
        return apply_holdings(
            user,
            entitlement,
            gold=gold,
            packs_100=packs_100,
            packs_250=packs_250,
            status=status,
            current_period_end=entitlement.current_period_end,
            why=f"set by staff {staff}" if staff else "set by staff",
            staff=staff,
        )


def _email(user, subject, template, *, key):
    """Queue an email to the user (sent by a task, once per key)."""
    context = {
        "user": user,
        "billing_url": settings.SITE_URL.rstrip("/") + "/billing/",
        "free_plan": plans.FREE,
        "replenish_days": settings.CREDIT_REPLENISH_DAYS,
    }
    accounts.queue_email(key=key, to=user.email, subject=subject, body=render_to_string(template, context))
