from django.conf import settings
from django.shortcuts import render

from credits import selectors as credit_selectors

# What each product gives (DESIGN.md section 4).
PRODUCTS = [
    {"name": "Free", "price": "€0", "gives": "25 credits in use at once, each back 30 days after you use it"},
    {"name": "Gold", "price": "monthly", "gives": "1,000 credits in use at once, and runs on your own OpenAI key spend no credits"},
    {"name": "Extra 100", "price": "monthly, any quantity", "gives": "+100 credits in use at once for each pack"},
    {"name": "Extra 250", "price": "monthly, any quantity", "gives": "+250 credits in use at once for each pack"},
]


def payments_configured():
    return bool(settings.STRIPE_SECRET_KEY and settings.STRIPE_PRICE_GOLD)


def plans(request):
    context = {"products": PRODUCTS, "payments_configured": payments_configured()}
    if request.user.is_authenticated:
        context.update(
            allowance=credit_selectors.allowance(request.user),
            available=credit_selectors.available(request.user),
        )
    return render(request, "billing/plans.html", context)
