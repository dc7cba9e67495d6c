"""The fake Stripe server, driven by the real `stripe` SDK (16.x) over real HTTP."""

import json
import time
import urllib.error
import urllib.request

import pytest
import stripe

from accounts import plans
from tests.fakes.stripe_server import FakeStripeServer, parse_form


def client_for(server, key="sk_test_fake", **kwargs):
    return stripe.StripeClient(key, base_addresses={"api": server.url}, **kwargs)


@pytest.fixture
def client(fake_stripe):
    return client_for(fake_stripe)


def test_the_fixture_points_the_settings_at_the_fake_and_puts_three_prices_on_sale(fake_stripe, settings):
    assert settings.STRIPE_SECRET_KEY == "sk_test_fake"
    assert settings.STRIPE_WEBHOOK_SECRET == "whsec_test"
    assert settings.STRIPE_API_BASE == fake_stripe.url
    assert fake_stripe.url.startswith("http://127.0.0.1:")
    gold = fake_stripe.get_price(settings.STRIPE_PRICE_GOLD)
    assert gold["lookup_key"] == "pickaxe_gold_monthly"
    assert gold["recurring"]["interval"] == "month" and gold["type"] == "recurring"
    assert fake_stripe.get_product(gold["product"])["name"] == "Gold"
    assert fake_stripe.price_by_lookup_key("pickaxe_pack_100_monthly")["id"] == settings.STRIPE_PRICE_PACK_100
    assert fake_stripe.price_by_lookup_key("pickaxe_pack_250_monthly")["id"] == settings.STRIPE_PRICE_PACK_250
    assert fake_stripe.requests == []


def test_create_and_retrieve_a_customer(fake_stripe, client):
    customer = client.v1.customers.create(
        {"email": "ada@example.com", "metadata": {"user_id": "7"}},
        {"idempotency_key": "customer-for-user-7"},
    )
    assert customer.id.startswith("cus_") and customer.object == "customer"
    assert customer.email == "ada@example.com" and customer.metadata["user_id"] == "7"
    assert customer.livemode is False and isinstance(customer.created, int)

    request = fake_stripe.last_request("POST", "/v1/customers")
    assert request["form"] == {"email": "ada@example.com", "metadata": {"user_id": "7"}}
    assert request["headers"]["authorization"] == "Bearer sk_test_fake"
    assert request["headers"]["stripe-version"] == stripe.api_version
    assert request["headers"]["idempotency-key"] == "customer-for-user-7"
    assert request["headers"]["content-type"] == "application/x-www-form-urlencoded"

    again = client.v1.customers.retrieve(customer.id)
    assert again.email == "ada@example.com"
    assert fake_stripe.last_request()["method"] == "GET"


def test_the_same_idempotency_key_replays_the_first_answer(fake_stripe, client):
    params = {"email": "ada@example.com", "metadata": {"user_id": "7"}}
    first = client.v1.customers.create(params, {"idempotency_key": "k1"})
    second = client.v1.customers.create(params, {"idempotency_key": "k1"})
    assert second.id == first.id and len(fake_stripe.customers) == 1
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create({"email": "other@example.com"}, {"idempotency_key": "k1"})


def test_checkout_session_with_two_line_items(fake_stripe, client, settings):
    customer = fake_stripe.create_customer("ada@example.com")
    session = client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer["id"],
            "client_reference_id": "7",
            "line_items": [
                {"price": settings.STRIPE_PRICE_GOLD, "quantity": 1},
                {"price": settings.STRIPE_PRICE_PACK_100, "quantity": 3},
            ],
            "success_url": "https://pickaxe.test/billing/done?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://pickaxe.test/billing/",
            "metadata": {"user_id": "7", "product": "gold"},
            "subscription_data": {"metadata": {"user_id": "7"}},
        }
    )
    assert session.id.startswith("cs_test_") and session.object == "checkout.session"
    assert session.url == f"https://checkout.stripe.test/c/pay/{session.id}"
    assert (session.mode, session.customer, session.client_reference_id) == ("subscription", customer["id"], "7")
    assert session.success_url == "https://pickaxe.test/billing/done?session={CHECKOUT_SESSION_ID}"
    assert session.cancel_url == "https://pickaxe.test/billing/"
    assert session.status == "open" and session.payment_status == "unpaid"
    assert session.amount_total == plans.GOLD.monthly_price_cents + 3 * plans.PACK_100.monthly_price_cents
    assert session.currency == plans.CURRENCY
    assert session.metadata.to_dict() == {"user_id": "7", "product": "gold"}

    form = fake_stripe.last_request("POST", "/v1/checkout/sessions")["form"]
    assert form["line_items"] == [
        {"price": settings.STRIPE_PRICE_GOLD, "quantity": "1"},
        {"price": settings.STRIPE_PRICE_PACK_100, "quantity": "3"},
    ]
    assert form["subscription_data"] == {"metadata": {"user_id": "7"}}
    assert form["metadata"] == {"user_id": "7", "product": "gold"}
    assert form["mode"] == "subscription" and form["customer"] == customer["id"]

    expanded = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["line_items"]})
    assert [(item.price.id, item.quantity) for item in expanded.line_items.data] == [
        (settings.STRIPE_PRICE_GOLD, 1),
        (settings.STRIPE_PRICE_PACK_100, 3),
    ]


def test_checkout_refuses_unknown_prices_customers_and_parameters(fake_stripe, client, settings):
    with pytest.raises(stripe.InvalidRequestError) as missing_price:
        client.v1.checkout.sessions.create(
            {"mode": "subscription", "line_items": [{"price": "price_nope", "quantity": 1}]}
        )
    assert missing_price.value.param == "line_items[0][price]" and missing_price.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as missing_customer:
        client.v1.checkout.sessions.create(
            {
                "mode": "subscription",
                "customer": "cus_nope",
                "line_items": [{"price": settings.STRIPE_PRICE_GOLD, "quantity": 1}],
            }
        )
    assert "No such customer: 'cus_nope'" in str(missing_customer.value)
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.checkout.sessions.create(
            {"mode": "subscription", "line_itemz": [{"price": settings.STRIPE_PRICE_GOLD, "quantity": 1}]}
        )
    assert unknown.value.code == "parameter_unknown" and unknown.value.param == "line_itemz"
    with pytest.raises(stripe.InvalidRequestError, match="Quantity is required"):
        client.v1.checkout.sessions.create(
            {"mode": "subscription", "line_items": [{"price": settings.STRIPE_PRICE_GOLD}]}
        )


def test_list_prices_by_lookup_keys(fake_stripe, client, settings):
    prices = client.v1.prices.list({"lookup_keys": ["pickaxe_gold_monthly", "pickaxe_pack_250_monthly"]})
    assert prices.object == "list" and prices.has_more is False and prices.url == "/v1/prices"
    assert {price.lookup_key: price.id for price in prices.data} == {
        "pickaxe_gold_monthly": settings.STRIPE_PRICE_GOLD,
        "pickaxe_pack_250_monthly": settings.STRIPE_PRICE_PACK_250,
    }
    request = fake_stripe.last_request("GET", "/v1/prices")
    assert request["query"] == {"lookup_keys": ["pickaxe_gold_monthly", "pickaxe_pack_250_monthly"]}

    product = fake_stripe.get_price(settings.STRIPE_PRICE_GOLD)["product"]
    old = client.v1.prices.create(
        {"product": product, "unit_amount": 500, "currency": "eur", "recurring": {"interval": "month"}, "active": False}
    )
    assert old.active is False
    assert [p.id for p in client.v1.prices.list({"active": False}).data] == [old.id]
    assert len(client.v1.prices.list({"active": True}).data) == 3
    assert len(client.v1.prices.list().data) == 4


def test_price_lookup_keys_are_unique_unless_transferred(fake_stripe, client, settings):
    product = fake_stripe.get_price(settings.STRIPE_PRICE_GOLD)["product"]
    params = {
        "product": product,
        "unit_amount": 1200,
        "currency": "eur",
        "recurring": {"interval": "month"},
        "lookup_key": "pickaxe_gold_monthly",
        "nickname": "Gold (new price)",
    }
    with pytest.raises(stripe.InvalidRequestError, match="already uses that lookup key"):
        client.v1.prices.create(params)
    new = client.v1.prices.create({**params, "transfer_lookup_key": True})
    assert new.id.startswith("price_") and new.unit_amount == 1200 and new.recurring.interval == "month"
    assert fake_stripe.get_price(settings.STRIPE_PRICE_GOLD)["lookup_key"] is None
    found = client.v1.prices.list({"lookup_keys": ["pickaxe_gold_monthly"]}).data
    assert [price.id for price in found] == [new.id]
    assert fake_stripe.last_request("POST", "/v1/prices")["form"]["recurring"] == {"interval": "month"}


def test_products_over_http(fake_stripe, client):
    product = client.v1.products.create({"name": "Sticker", "metadata": {"kind": "swag"}})
    assert product.id.startswith("prod_") and product.object == "product" and product.active is True
    assert client.v1.products.retrieve(product.id).name == "Sticker"


def test_billing_portal_session(fake_stripe, client):
    customer = fake_stripe.create_customer("ada@example.com")
    portal = client.v1.billing_portal.sessions.create(
        {"customer": customer["id"], "return_url": "https://pickaxe.test/billing/"}
    )
    assert portal.id.startswith("bps_") and portal.object == "billing_portal.session"
    assert portal.url.startswith("https://billing.stripe.test/p/session/")
    assert portal.customer == customer["id"] and portal.return_url == "https://pickaxe.test/billing/"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.billing_portal.sessions.create({"customer": "cus_nope"})


def test_a_subscription_made_in_python_reads_back_through_the_sdk(fake_stripe, client, settings):
    customer = fake_stripe.create_customer("ada@example.com")
    end = int(time.time()) + 30 * 86400
    made = fake_stripe.create_subscription(
        customer["id"],
        items=[(settings.STRIPE_PRICE_GOLD, 1), ("pickaxe_pack_100_monthly", 2)],
        current_period_end=end,
        metadata={"user_id": "7"},
    )
    assert made["id"].startswith("sub_")

    subscription = client.v1.subscriptions.retrieve(made["id"])
    assert subscription.object == "subscription" and subscription.status == "active"
    assert subscription.customer == customer["id"] and subscription.current_period_end == end
    assert subscription.cancel_at_period_end is False and subscription.metadata["user_id"] == "7"
    items = subscription["items"].data  # attribute access works too: StripeObject is not a dict
    assert items == subscription.items.data
    assert [(item.price.lookup_key, item.quantity) for item in items] == [
        ("pickaxe_gold_monthly", 1),
        ("pickaxe_pack_100_monthly", 2),
    ]
    assert all(item.id.startswith("si_") and item.current_period_end == end for item in items)
    assert items[0].price.product == fake_stripe.get_price(settings.STRIPE_PRICE_GOLD)["product"]

    item_ids = [item.id for item in items]
    fake_stripe.update_subscription(
        made["id"], items=[(settings.STRIPE_PRICE_GOLD, 1), (settings.STRIPE_PRICE_PACK_100, 5)], status="past_due"
    )
    changed = client.v1.subscriptions.retrieve(made["id"])
    assert changed.status == "past_due"
    assert [(item.id, item.quantity) for item in changed.items.data] == [(item_ids[0], 1), (item_ids[1], 5)]

    expanded = client.v1.subscriptions.retrieve(made["id"], {"expand": ["customer", "items.data.price.product"]})
    assert expanded.customer.email == "ada@example.com"
    assert expanded.items.data[0].price.product.name == "Gold"


def test_subscription_list_by_customer_and_status(fake_stripe, client, settings):
    ada = fake_stripe.create_customer("ada@example.com")
    bob = fake_stripe.create_customer("bob@example.com")
    old = fake_stripe.create_subscription(ada["id"], items=[(settings.STRIPE_PRICE_GOLD, 1)])
    fake_stripe.delete_subscription(old["id"])
    new = fake_stripe.create_subscription(ada["id"], items=[(settings.STRIPE_PRICE_PACK_250, 2)])
    fake_stripe.create_subscription(bob["id"], items=[(settings.STRIPE_PRICE_GOLD, 1)])

    everything = client.v1.subscriptions.list({"customer": ada["id"], "status": "all", "limit": 100})
    assert [(s.id, s.status) for s in everything.auto_paging_iter()] == [(new["id"], "active"), (old["id"], "canceled")]
    assert fake_stripe.last_request("GET", "/v1/subscriptions")["query"] == {
        "customer": ada["id"],
        "status": "all",
        "limit": "100",
    }
    assert [s.id for s in client.v1.subscriptions.list({"customer": ada["id"]}).data] == [new["id"]]
    canceled = client.v1.subscriptions.retrieve(old["id"])
    assert canceled.status == "canceled" and canceled.ended_at is not None


def test_list_pages_follow_the_cursor(fake_stripe, client):
    made = [fake_stripe.create_customer(f"user{n}@example.com")["id"] for n in range(5)]
    page = client.v1.customers.list({"limit": 2})
    assert page.has_more is True and len(page.data) == 2
    assert [c.id for c in page.auto_paging_iter()] == made[::-1]
    assert len(fake_stripe.find_requests("GET", "/v1/customers")) == 3


def test_checkout_completion_webhook_flow(fake_stripe, client, settings):
    customer = fake_stripe.create_customer("ada@example.com")
    session = client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer["id"],
            "client_reference_id": "7",
            "line_items": [{"price": settings.STRIPE_PRICE_PACK_250, "quantity": 2}],
            "success_url": "https://pickaxe.test/ok",
            "subscription_data": {"metadata": {"user_id": "7"}},
        }
    )
    completed = fake_stripe.complete_checkout_session(session.id)
    assert completed["status"] == "complete" and completed["subscription"].startswith("sub_")
    subscription = fake_stripe.get_subscription(completed["subscription"])
    assert subscription["metadata"] == {"user_id": "7"}
    assert [(i["price"]["id"], i["quantity"]) for i in subscription["items"]["data"]] == [
        (settings.STRIPE_PRICE_PACK_250, 2)
    ]

    payload, header = fake_stripe.webhook("checkout.session.completed", completed, secret="whsec_test")
    event = stripe.Webhook.construct_event(payload, header, "whsec_test")
    assert event.type == "checkout.session.completed"
    assert event.data.object.client_reference_id == "7"
    assert client.v1.events.retrieve(event.id).type == "checkout.session.completed"

    invoice = fake_stripe.create_invoice(subscription["id"], paid=False)
    assert invoice["customer"] == customer["id"] and invoice["status"] == "open"
    assert invoice["amount_due"] == 2 * plans.PACK_250.monthly_price_cents


def test_a_wrong_or_missing_api_key_is_refused(fake_stripe):
    with pytest.raises(stripe.AuthenticationError) as error:
        client_for(fake_stripe, "sk_test_wrong").v1.customers.create({"email": "ada@example.com"})
    assert error.value.http_status == 401 and "Invalid API Key provided" in str(error.value)
    assert fake_stripe.customers == {}

    request = urllib.request.Request(fake_stripe.url + "/v1/customers/cus_x")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(request, timeout=5)
    assert missing.value.code == 401
    assert json.loads(missing.value.read())["error"]["type"] == "invalid_request_error"


def test_unknown_paths_and_objects_raise_invalid_request_error(fake_stripe, client):
    with pytest.raises(stripe.InvalidRequestError) as unknown_path:
        client.raw_request("get", "/v1/nonexistent_things")
    assert unknown_path.value.http_status == 404
    assert "Unrecognized request URL (GET: /v1/nonexistent_things)" in str(unknown_path.value)
    with pytest.raises(stripe.InvalidRequestError) as unknown_object:
        client.v1.subscriptions.retrieve("sub_nope")
    assert unknown_object.value.http_status == 404 and unknown_object.value.code == "resource_missing"


def test_injected_failures_and_the_sdk_retry(fake_stripe):
    fake_stripe.fail(500, times=1, method="POST", path="^/v1/customers$")
    retrying = client_for(fake_stripe, max_network_retries=2)
    customer = retrying.v1.customers.create({"email": "ada@example.com"})
    attempts = fake_stripe.find_requests("POST", "/v1/customers")
    assert [r["status"] for r in attempts] == [500, 200] and customer.id.startswith("cus_")
    assert attempts[0]["headers"]["idempotency-key"] == attempts[1]["headers"]["idempotency-key"]

    fake_stripe.fail(402, code="card_declined")
    with pytest.raises(stripe.CardError):
        client_for(fake_stripe).v1.customers.retrieve(customer.id)


def test_webhook_signatures(fake_stripe):
    subscription = {"id": "sub_123", "object": "subscription", "customer": "cus_123", "status": "active"}
    payload, header = fake_stripe.webhook("customer.subscription.updated", subscription, secret="whsec_test")
    event = stripe.Webhook.construct_event(payload, header, "whsec_test")
    assert event.id.startswith("evt_") and event.object == "event" and event.livemode is False
    assert event.type == "customer.subscription.updated" and event.api_version == stripe.api_version
    assert event.data.object.customer == "cus_123"
    assert json.loads(payload)["data"]["object"] == subscription
    assert header.startswith("t=") and ",v1=" in header

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, "whsec_other")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload.replace(b"active", b"canceled"), header, "whsec_test")
    old_payload, old_header = fake_stripe.webhook(
        "customer.subscription.updated", subscription, secret="whsec_test", timestamp=int(time.time()) - 301
    )
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(old_payload, old_header, "whsec_test")
    # An old signature is still a correct one: it passes without the age check.
    assert stripe.WebhookSignature.verify_header(old_payload, old_header, "whsec_test", tolerance=None)

    fixed, _ = fake_stripe.webhook(
        "invoice.paid", {"id": "in_1"}, secret="s", event_id="evt_fixed", created=1_700_000_000
    )
    assert json.loads(fixed)["id"] == "evt_fixed" and json.loads(fixed)["created"] == 1_700_000_000


def test_parse_form_builds_stripes_nested_structure():
    assert parse_form(
        "mode=subscription&line_items[0][price]=p1&line_items[0][quantity]=1"
        "&line_items[1][price]=p2&metadata[user_id]=7&expand[]=a&expand[]=b"
        "&subscription_data[metadata][k]=v&empty="
    ) == {
        "mode": "subscription",
        "line_items": [{"price": "p1", "quantity": "1"}, {"price": "p2"}],
        "metadata": {"user_id": "7"},
        "expand": ["a", "b"],
        "subscription_data": {"metadata": {"k": "v"}},
        "empty": "",
    }
    assert parse_form("line_items%5B0%5D%5Bprice%5D=p1") == {"line_items": [{"price": "p1"}]}


def test_the_server_runs_on_its_own_without_the_fixture():
    with FakeStripeServer() as server:
        server.api_key = None  # any key
        customer = client_for(server, "sk_test_anything").v1.customers.create({"email": "x@example.com"})
        assert server.get_customer(customer.id)["email"] == "x@example.com"
