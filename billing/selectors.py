"""Reads for billing pages."""

import logging
from dataclasses import dataclass

import stripe
from django.conf import settings
from django.core.cache import cache

from accounts import plans
from billing import services
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


CURRENCY_SIGNS = {"eur": "€", "usd": "$", "gbp": "£"}
PRICES_CACHE_KEY = "billing:display-prices:{}"
PRICES_CACHE_SECONDS = 3600

log = logging.getLogger(__name__)


def money_a_month(cents, currency, interval="month"):
    """Money as the plans page says it: "€19 a month", "€4.50 a month", "12 CHF a month", "free"."""
    if not cents:
        return "free"
    amount = f"{cents // 100}" if cents % 100 == 0 else f"{cents / 100:.2f}"
    sign = CURRENCY_SIGNS.get(currency.lower())
    return f"{sign}{amount} a {interval}" if sign else f"{amount} {currency.upper()} a {interval}"


def display_prices():
    """{product code: its price as text}. With payments configured, Stripe's prices (what a
    buyer pays), kept an hour; else, or while Stripe does not answer, the settings'."""
    prices = {code: money_a_month(cents, settings.BILLING_DISPLAY_CURRENCY) for code, cents in _settings_prices()}
    if not services.payments_configured():
        return prices
    key = PRICES_CACHE_KEY.format("|".join(price for _, price in services.products().values()))
    from_stripe = cache.get(key)
    if from_stripe is None:
        try:
            from_stripe = _stripe_prices()
        except stripe.StripeError:
            log.warning("Stripe did not answer for the prices; the plans page shows the settings' prices")
            return prices
        cache.set(key, from_stripe, PRICES_CACHE_SECONDS)
    return {**prices, **from_stripe}


def _settings_prices():
    yield plans.FREE.code, 0
    for product in plans.FOR_SALE:
        yield product.code, settings.BILLING_DISPLAY_PRICES[product.code]


def _stripe_prices():
    client = services.stripe_client()
    texts = {}
    for code, (_, price_id) in services.products().items():
        price = client.v1.prices.retrieve(price_id)
        interval = price.recurring.interval if price.recurring else "month"
        texts[code] = money_a_month(price.unit_amount or 0, price.currency, interval)
    return texts


@dataclass(frozen=True)
class PlanCard:
    product: plans.Product
    price: str
    current: bool  # the user's plan (Free or Gold)
    held: int  # packs of this kind the user holds


def plan_cards(entitlement):
    """The plans page's cards: each product with its price, and for a signed-in user's
    `entitlement` (None for a visitor) which plan is theirs and how many packs they hold."""
    prices = display_prices()
    held = {}
    if entitlement is not None:
        held = {plans.PACK_100.code: entitlement.packs_100, plans.PACK_250.code: entitlement.packs_250}
    cards = []
    for product in plans.PRODUCTS:
        current = entitlement is not None and product.code == (plans.GOLD if entitlement.gold else plans.FREE).code
        cards.append(
            PlanCard(product=product, price=prices[product.code], current=current, held=held.get(product.code, 0))
        )
    return cards
