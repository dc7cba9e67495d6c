"""The webhook answers at once; a task applies the event, retrying with backoff while
Stripe or the mail server fail (billing.tasks, accounts.tasks)."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from accounts.models import OutgoingEmail
from accounts.plans import GOLD
from accounts.tasks import FIRST_RETRY_AFTER
from billing.models import Entitlement, WebhookEvent
from credits import selectors as credits
from tests.tasks import queued_tasks

LATER = FIRST_RETRY_AFTER + timedelta(seconds=1)


def test_the_webhook_stores_the_event_and_answers_before_it_is_applied(deliver, fake_stripe, settings, customer):
    subscription = fake_stripe.create_subscription(customer, [(settings.STRIPE_PRICE_GOLD, 1)])
    response = deliver("customer.subscription.created", subscription, run_tasks=False)
    assert (response.status_code, response.content) == (200, b"received")
    assert WebhookEvent.objects.get().processed_at is None
    assert fake_stripe.requests == []  # Stripe is read by the task, not by the request
    assert queued_tasks("billing.tasks.apply_webhook_event").count() == 1


def test_a_webhook_while_stripe_answers_500_answers_200_and_its_task_applies_it_later(
    deliver, fake_stripe, settings, customer, user, run_tasks
):
    subscription = fake_stripe.create_subscription(customer, [(settings.STRIPE_PRICE_GOLD, 1)])
    fake_stripe.fail(500, path=r"^/v1/subscriptions$")
    assert deliver("customer.subscription.created", subscription).status_code == 200
    assert WebhookEvent.objects.get().processed_at is None
    assert credits.allowance(user) != GOLD.allowance

    fake_stripe.failures.clear()  # Stripe is back
    with time_machine.travel(timezone.now() + LATER):
        assert run_tasks() == 1  # the retry, after its backoff
        assert WebhookEvent.objects.get().processed_at is not None
        assert credits.allowance(user) == GOLD.allowance


def test_an_event_redelivered_after_it_was_applied_queues_nothing(deliver, fake_stripe, settings, customer):
    subscription = fake_stripe.create_subscription(customer, [(settings.STRIPE_PRICE_GOLD, 1)])
    deliver("customer.subscription.created", subscription, event_id="evt_twice")
    response = deliver("customer.subscription.created", subscription, event_id="evt_twice", run_tasks=False)
    assert (response.status_code, response.content) == (200, b"applied already")
    assert not queued_tasks().exists()


def test_the_apply_task_run_twice_applies_once(deliver, fake_stripe, settings, customer, user):
    from billing.tasks import apply_webhook_event

    subscription = fake_stripe.create_subscription(customer, [(settings.STRIPE_PRICE_GOLD, 1)])
    fake_stripe.update_subscription(subscription["id"], status="past_due")
    invoice = fake_stripe.create_invoice(subscription["id"], paid=False)
    deliver("invoice.payment_failed", invoice, event_id="evt_failed")
    reads = len(fake_stripe.requests)
    apply_webhook_event.call(event_id="evt_failed")
    assert len(fake_stripe.requests) == reads  # applied already: Stripe is not read again
    assert OutgoingEmail.objects.filter(key="payment-failed:evt_failed").count() == 1


def test_a_webhook_while_the_mail_server_refuses_connections_answers_200_and_the_email_goes_out_once_when_mail_returns(
    deliver, fake_stripe, settings, customer, user, smtp_sink, run_tasks
):
    subscription = fake_stripe.create_subscription(customer, [(settings.STRIPE_PRICE_GOLD, 1)])
    deliver("customer.subscription.created", subscription)
    fake_stripe.update_subscription(subscription["id"], status="past_due")
    invoice = fake_stripe.create_invoice(subscription["id"], paid=False)

    response = deliver("invoice.payment_failed", invoice)  # the mail server refuses connections
    assert response.status_code == 200
    assert WebhookEvent.objects.get(type="invoice.payment_failed").processed_at is not None
    assert Entitlement.objects.get(user=user).status == "past_due"
    assert smtp_sink.messages == []

    smtp_sink.start()  # mail is back
    with time_machine.travel(timezone.now() + LATER):
        run_tasks()
        run_tasks()
    assert [message["to"] for message in smtp_sink.messages] == [[f"<{user.email}>"]]
    assert "Subject: Your payment failed" in smtp_sink.messages[0]["data"]


def test_gold_ending_while_mail_is_down_still_ends_gold_and_emails_once_later(
    deliver, fake_stripe, settings, customer, user, smtp_sink, run_tasks
):
    subscription = fake_stripe.create_subscription(customer, [(settings.STRIPE_PRICE_GOLD, 1)])
    deliver("customer.subscription.created", subscription)
    fake_stripe.delete_subscription(subscription["id"])
    deliver("customer.subscription.deleted", fake_stripe.get_subscription(subscription["id"]))
    assert Entitlement.objects.get(user=user).gold is False
    smtp_sink.start()
    with time_machine.travel(timezone.now() + LATER):
        run_tasks()
    assert len(smtp_sink.messages) == 1
    assert "Subject: Your Gold plan has ended" in smtp_sink.messages[0]["data"]
