"""Any order, any duplicates: a subscription's events end in the same allowance as in order.

Each event only makes us re-read the customer's subscriptions from Stripe, so what
counts is Stripe's state now, not the order or number of the deliveries.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.plans import FREE, GOLD, PACK_100
from billing import services
from billing.models import StripeCustomer
from credits import selectors as credits
from tests.factories import UserFactory
from tests.tasks import run_due_tasks

# How far the subscription's life got, and the allowance that state gives.
GOLD_AND_2_PACKS = GOLD.allowance + 2 * PACK_100.allowance
EXPECTED = {1: GOLD.allowance, 2: GOLD_AND_2_PACKS, 3: GOLD_AND_2_PACKS, 4: GOLD_AND_2_PACKS, 5: FREE.allowance}


def live_a_subscription(fake, prices, steps):
    """Create a customer and take its subscription through `steps` stages; return (user, events)."""
    user = UserFactory()
    customer = fake.create_customer(user.email)["id"]
    StripeCustomer.objects.create(user=user, customer_id=customer)
    subscription = fake.create_subscription(customer, [(prices["gold"], 1)])
    events = [("customer.subscription.created", subscription)]
    sid = subscription["id"]
    if steps >= 2:
        events.append(
            (
                "customer.subscription.updated",
                fake.update_subscription(sid, items=[(prices["gold"], 1), (prices["pack_100"], 2)]),
            )
        )
    if steps >= 3:
        fake.update_subscription(sid, status="past_due")
        events.append(("invoice.payment_failed", fake.create_invoice(sid, paid=False)))
    if steps >= 4:
        fake.update_subscription(sid, status="active")
        events.append(("invoice.paid", fake.create_invoice(sid, paid=True)))
    if steps >= 5:
        events.append(("customer.subscription.deleted", fake.delete_subscription(sid)))
    signed = []
    for index, (kind, obj) in enumerate(events):
        payload, _ = fake.webhook(kind, obj, secret="whsec_test", event_id=f"evt_{user.pk}_{index}")
        signed.append(json.loads(payload))
    return user, signed


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.integers(1, 5), data=st.data())
def test_any_permutation_with_duplicates_ends_with_the_same_allowance_as_in_order(fake_stripe, steps, data):
    prices = {"gold": services.products()["gold"][1], "pack_100": services.products()["pack_100"][1]}

    in_order_user, in_order = live_a_subscription(fake_stripe, prices, steps)
    for event in in_order:
        services.receive_event(event)
        run_due_tasks()

    shuffled_user, events = live_a_subscription(fake_stripe, prices, steps)
    order = data.draw(st.permutations(events))
    duplicates = data.draw(st.lists(st.sampled_from(events), max_size=4))
    for event in [*order, *duplicates]:
        services.receive_event(event)
    run_due_tasks()  # the worker applies them later, in its queue's order

    assert credits.allowance(in_order_user) == EXPECTED[steps]
    assert credits.allowance(shuffled_user) == credits.allowance(in_order_user)
