"""Checkout, the Customer Portal and the plans pages, through the real stripe SDK and a fake Stripe."""

from io import StringIO

from django.core.management import call_command

from accounts.plans import GOLD
from billing.models import StripeCustomer


def test_buying_gold_opens_checkout_in_subscription_mode_for_the_user(client, user, fake_stripe, settings):
    client.force_login(user)
    response = client.post("/billing/checkout/", {"product": "gold"})
    assert response.status_code == 302 and response["Location"].startswith("https://checkout.stripe.test/")
    session = fake_stripe.last_request("POST", "/v1/checkout/sessions")["form"]
    assert session["mode"] == "subscription"
    assert session["client_reference_id"] == str(user.pk)
    assert session["line_items"] == [{"price": settings.STRIPE_PRICE_GOLD, "quantity": "1"}]
    assert session["success_url"] == "http://testserver/billing/return/?session_id={CHECKOUT_SESSION_ID}"
    assert session["cancel_url"] == "http://testserver/billing/"
    assert session["customer"] == StripeCustomer.objects.get(user=user).customer_id


def test_packs_are_bought_with_a_quantity(client, user, fake_stripe, settings):
    client.force_login(user)
    client.post("/billing/checkout/", {"product": "pack_250", "quantity": "3"})
    session = fake_stripe.last_request("POST", "/v1/checkout/sessions")["form"]
    assert session["line_items"] == [{"price": settings.STRIPE_PRICE_PACK_250, "quantity": "3"}]


def test_one_stripe_customer_per_user_created_once_and_reused(client, user, fake_stripe):
    client.force_login(user)
    client.post("/billing/checkout/", {"product": "pack_100", "quantity": "1"})
    client.post("/billing/checkout/", {"product": "gold"})
    assert len(fake_stripe.find_requests("POST", "/v1/customers")) == 1
    customers = {r["form"]["customer"] for r in fake_stripe.find_requests("POST", "/v1/checkout/sessions")}
    assert customers == {StripeCustomer.objects.get(user=user).customer_id}
    assert fake_stripe.last_request("POST", "/v1/customers")["form"]["email"] == user.email


def writes_to_stripe(fake_stripe):
    """What was asked of Stripe besides reading prices (the plans page shows Stripe's prices)."""
    return [request for request in fake_stripe.requests if not request["path"].startswith("/v1/prices/")]


def test_bad_checkout_input_is_refused_without_calling_stripe(client, user, fake_stripe):
    client.force_login(user)
    for data in (
        {"product": "platinum"},
        {"product": "pack_100", "quantity": "0"},
        {"product": "pack_100", "quantity": "500"},
    ):
        response = client.post("/billing/checkout/", data, follow=True)
        assert "Choose a product and a quantity" in response.content.decode()
    assert writes_to_stripe(fake_stripe) == []


def test_stripe_refusing_checkout_says_nothing_was_charged(client, user, fake_stripe):
    client.force_login(user)
    fake_stripe.fail(400, path=r"^/v1/checkout/sessions$", message="No such price")
    response = client.post("/billing/checkout/", {"product": "gold"}, follow=True)
    assert "Nothing was charged" in response.content.decode()


def test_a_checkout_session_without_a_url_is_a_clear_error_not_a_500(client, user, fake_stripe):
    client.force_login(user)
    fake_stripe.sessions_without_url = True
    response = client.post("/billing/checkout/", {"product": "gold"}, follow=True)
    assert response.status_code == 200
    assert "Nothing was charged" in response.content.decode()


def test_manage_billing_opens_the_portal_for_the_users_customer(client, user, fake_stripe):
    client.force_login(user)
    client.post("/billing/checkout/", {"product": "gold"})
    response = client.post("/billing/portal/")
    assert response.status_code == 302
    portal = fake_stripe.last_request("POST", "/v1/billing_portal/sessions")["form"]
    assert portal == {
        "customer": StripeCustomer.objects.get(user=user).customer_id,
        "return_url": "http://testserver/billing/",
    }


def test_the_portal_needs_a_billing_history(client, user, fake_stripe):
    client.force_login(user)
    response = client.post("/billing/portal/", follow=True)
    assert "no billing history" in response.content.decode()
    assert writes_to_stripe(fake_stripe) == []


def test_the_return_page_waits_for_the_webhook_then_shows_the_new_allowance(
    client, user, fake_stripe, deliver, settings
):
    client.force_login(user)
    checkout_url = client.post("/billing/checkout/", {"product": "gold"})["Location"]
    session_id = checkout_url.rsplit("/", 1)[-1]
    waiting = client.get(f"/billing/return/?session_id={session_id}").content.decode()
    assert "Payment received, your credits are being added" in waiting and 'http-equiv="refresh"' in waiting
    fake_stripe.complete_checkout_session(session_id)
    deliver("checkout.session.completed", fake_stripe.get_checkout_session(session_id))
    done = client.get(f"/billing/return/?session_id={session_id}").content.decode()
    assert (
        f'<strong data-testid="new-allowance">{GOLD.allowance}</strong>' in done and 'http-equiv="refresh"' not in done
    )


def test_without_stripe_keys_the_plans_page_says_payments_are_off(client, user, settings):
    settings.STRIPE_SECRET_KEY = ""
    client.force_login(user)
    html = client.get("/billing/").content.decode()
    assert "Payments are not configured" in html and "disabled" in html
    response = client.post("/billing/checkout/", {"product": "gold"}, follow=True)
    assert "Payments are not configured on this site." in response.content.decode()


def test_stripe_setup_creates_products_once_by_lookup_key(fake_stripe, settings):
    out = StringIO()
    call_command("stripe_setup", stdout=out)
    assert "found price" in out.getvalue()  # the fixture's prices carry the lookup keys
    assert f"STRIPE_PRICE_GOLD={settings.STRIPE_PRICE_GOLD}" in out.getvalue()
    assert fake_stripe.find_requests("POST", "/v1/prices") == []


def test_stripe_setup_in_an_empty_account_creates_and_prints_settings(settings):
    from tests.fakes.stripe_server import FakeStripeServer

    with FakeStripeServer() as empty:
        settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE = empty.api_key, empty.url
        out = StringIO()
        call_command("stripe_setup", stdout=out)
        call_command("stripe_setup", stdout=StringIO())
        assert len(empty.find_requests("POST", "/v1/products")) == 3
        created = empty.price_by_lookup_key("pickaxe_gold_monthly")
        assert created["recurring"]["interval"] == "month"
        assert f"STRIPE_PRICE_GOLD={created['id']}" in out.getvalue()


def test_a_gold_member_cannot_buy_gold_again(client, user, fake_stripe):
    user.plan = user.Plan.GOLD
    user.save(update_fields=["plan"])
    client.force_login(user)
    response = client.post("/billing/checkout/", {"product": "gold"}, follow=True)
    assert "You are on Gold already" in response.content.decode()
    assert fake_stripe.find_requests("POST", "/v1/checkout/sessions") == []


def test_a_double_click_on_upgrade_opens_one_checkout_session(client, user, fake_stripe):
    client.force_login(user)
    first = client.post("/billing/checkout/", {"product": "gold"})
    again = client.post("/billing/checkout/", {"product": "gold"})
    assert first["Location"] == again["Location"]
    assert len(fake_stripe.checkout_sessions) == 1
