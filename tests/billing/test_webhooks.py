"""The Stripe webhook: signed, stored once, and the entitlement follows Stripe's current state."""

import time

from django.core import mail

from accounts.models import User
from accounts.plans import FREE, GOLD, PACK_100, PACK_250
from billing.models import Entitlement, WebhookEvent
from credits import selectors as credits
from credits import services as credit_services


def test_a_wrong_secret_is_refused_and_nothing_stored(deliver, customer):
    response = deliver("invoice.paid", {"id": "in_1", "customer": customer}, secret="whsec_wrong")
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_an_old_signature_is_refused(client, fake_stripe, settings, customer):
    payload, signature = fake_stripe.webhook(
        "invoice.paid",
        {"id": "in_1", "customer": customer},
        secret=settings.STRIPE_WEBHOOK_SECRET,
        timestamp=int(time.time()) - 3600,
    )
    response = client.post(
        "/billing/webhook/", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_a_missing_signature_header_is_refused(client, fake_stripe, settings, customer):
    payload, _ = fake_stripe.webhook("invoice.paid", {"id": "in_1", "customer": customer}, secret="whsec_test")
    response = client.post("/billing/webhook/", payload, content_type="application/json")
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_gold_bought_raises_the_allowance_to_1000(deliver, fake_stripe, settings, customer, user):
    subscription = fake_stripe.create_subscription(customer, [(settings.STRIPE_PRICE_GOLD, 1)])
    response = deliver("customer.subscription.created", subscription)
    assert response.status_code == 200
    entitlement = Entitlement.objects.get(user=user)
    assert (entitlement.gold, entitlement.status) == (True, "active")
    assert credits.allowance(user) == GOLD.allowance
    user.refresh_from_db()
    assert user.plan == User.Plan.GOLD


def test_packs_add_100_or_250_each(deliver, fake_stripe, settings, customer, user):
    subscription = fake_stripe.create_subscription(
        customer, [(settings.STRIPE_PRICE_PACK_100, 2), (settings.STRIPE_PRICE_PACK_250, 1)]
    )
    deliver("customer.subscription.created", subscription)
    assert credits.allowance(user) == FREE.allowance + 2 * PACK_100.allowance + PACK_250.allowance


def test_an_event_delivered_twice_is_applied_once(deliver, fake_stripe, settings, customer, user):
    subscription = fake_stripe.create_subscription(customer, [(settings.STRIPE_PRICE_PACK_100, 1)])
    deliver("customer.subscription.created", subscription, event_id="evt_same")
    deliver("customer.subscription.created", subscription, event_id="evt_same")
    assert WebhookEvent.objects.count() == 1
    assert credits.allowance(user) == FREE.allowance + PACK_100.allowance


def test_unknown_event_types_are_stored_and_ignored_with_200(deliver, customer):
    response = deliver("customer.tax_id.created", {"id": "txi_1", "customer": customer})
    assert response.status_code == 200
    assert WebhookEvent.objects.get().result.startswith("ignored")


def test_a_late_created_event_after_deletion_does_not_bring_gold_back(deliver, fake_stripe, settings, customer, user):
    subscription = fake_stripe.create_subscription(customer, [(settings.STRIPE_PRICE_GOLD, 1)])
    fake_stripe.delete_subscription(subscription["id"])
    deliver("customer.subscription.deleted", fake_stripe.get_subscription(subscription["id"]))
    deliver("customer.subscription.created", subscription)  # arrives last, out of order
    assert credits.allowance(user) == FREE.allowance
    assert Entitlement.objects.get(user=user).gold is False


def test_gold_ended_drops_the_allowance_and_used_credits_stay_used(deliver, fake_stripe, settings, customer, user):
    subscription = fake_stripe.create_subscription(customer, [(settings.STRIPE_PRICE_GOLD, 1)])
    deliver("customer.subscription.created", subscription)
    for _ in range(40):
        credit_services.spend(user)
    fake_stripe.delete_subscription(subscription["id"])
    mail.outbox.clear()
    deliver("customer.subscription.deleted", fake_stripe.get_subscription(subscription["id"]))
    assert credits.allowance(user) == FREE.allowance
    assert credits.balance(user) == FREE.allowance - 40 and credits.available(user) == 0
    assert [message.subject for message in mail.outbox] == ["Your Gold plan has ended"]


def test_past_due_keeps_the_plan_during_stripes_grace_and_unpaid_ends_it(
    deliver, fake_stripe, settings, customer, user
):
    subscription = fake_stripe.create_subscription(customer, [(settings.STRIPE_PRICE_GOLD, 1)])
    deliver("customer.subscription.created", subscription)
    fake_stripe.update_subscription(subscription["id"], status="past_due")
    invoice = fake_stripe.create_invoice(subscription["id"], paid=False)
    deliver("invoice.payment_failed", invoice)
    assert Entitlement.objects.get(user=user).status == "past_due"
    assert credits.allowance(user) == GOLD.allowance
    assert "Your payment failed" in [message.subject for message in mail.outbox]
    fake_stripe.update_subscription(subscription["id"], status="unpaid")
    deliver("customer.subscription.updated", fake_stripe.get_subscription(subscription["id"]))
    assert credits.allowance(user) == FREE.allowance


def test_checkout_completed_links_the_customer_by_client_reference(deliver, fake_stripe, settings, make_user):
    buyer = make_user()
    created = fake_stripe.create_customer(buyer.email)
    fake_stripe.create_subscription(created["id"], [(settings.STRIPE_PRICE_PACK_250, 1)])
    response = deliver(
        "checkout.session.completed",
        {
            "id": "cs_test_1",
            "object": "checkout.session",
            "customer": created["id"],
            "client_reference_id": str(buyer.pk),
            "mode": "subscription",
            "status": "complete",
        },
    )
    assert response.status_code == 200
    assert credits.allowance(buyer) == 275


def test_events_for_customers_we_do_not_know_are_stored_and_ignored(deliver, fake_stripe, settings):
    stranger = fake_stripe.create_customer("stranger@example.com")
    subscription = fake_stripe.create_subscription(stranger["id"], [(settings.STRIPE_PRICE_GOLD, 1)])
    response = deliver("customer.subscription.created", subscription)
    assert response.status_code == 200
    assert "not one of ours" in WebhookEvent.objects.get().result


def test_staff_setting_an_entitlement_resyncs_the_allowance(user):
    from billing.services import set_entitlement_by_staff

    set_entitlement_by_staff(user, gold=True, packs_100=1, packs_250=0)
    assert credits.allowance(user) == GOLD.allowance + PACK_100.allowance
    set_entitlement_by_staff(user, gold=False, packs_100=0, packs_250=0)
    assert credits.allowance(user) == FREE.allowance


def test_cancel_at_period_end_shows_when_gold_ends_instead_of_a_renewal(
    deliver, fake_stripe, settings, customer, user, client
):
    subscription = fake_stripe.create_subscription(customer, [(settings.STRIPE_PRICE_GOLD, 1)])
    deliver("customer.subscription.created", subscription)
    client.force_login(user)
    assert "Renews" in client.get("/billing/").content.decode()
    fake_stripe.update_subscription(subscription["id"], cancel_at_period_end=True)
    deliver("customer.subscription.updated", fake_stripe.get_subscription(subscription["id"]))
    html = client.get("/billing/").content.decode()
    assert "Renews" not in html
    assert 'data-testid="plan-ends">Gold ends on' in html and "it will not renew" in html
    assert credits.allowance(user) == GOLD.allowance  # held until the period ends
