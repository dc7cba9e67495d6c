import logging

import stripe
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import plans as catalogue
from billing import selectors, services
from billing.forms import CheckoutForm
from credits import selectors as credit_selectors

log = logging.getLogger(__name__)


def plans(request):
    entitlement = selectors.entitlement_of(request.user) if request.user.is_authenticated else None
    context = {
        "cards": selectors.plan_cards(entitlement),
        "replenish_days": settings.CREDIT_REPLENISH_DAYS,
        "payments_configured": services.payments_configured(),
        "free_allowance": catalogue.FREE.allowance,
    }
    if request.user.is_authenticated:
        # The balance with where it comes from ("48 credits: 25 from Free, 23 bonus until 7 Jan"),
        # never "48 of 25": a bonus is not part of the plan's allowance.
        breakdown = credit_selectors.balance_breakdown(request.user)
        context.update(
            entitlement=entitlement,
            breakdown=breakdown,
            balance_parts=breakdown.parts(request.user.plan),
            has_customer=hasattr(request.user, "stripe_customer"),
        )
    return render(request, "billing/plans.html", context)


@login_required
@require_POST
def checkout(request):
    form = CheckoutForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a product and a quantity from 1 to 20.")
        return redirect("billing")
    try:
        url = services.start_checkout(
            request.user,
            product=form.cleaned_data["product"],
            quantity=form.cleaned_data["quantity"],
            # Stripe fills in {CHECKOUT_SESSION_ID}: the return page waits for that session's webhook.
            success_url=request.build_absolute_uri(reverse("billing_return")) + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=request.build_absolute_uri(reverse("billing")),
        )
    except services.PaymentsNotConfigured:
        messages.error(request, "Payments are not configured on this site.")
        return redirect("billing")
    except services.AlreadyHeld as held:
        messages.info(request, f"{held} Nothing was charged; manage your plan below.")
        return redirect("billing")
    except (stripe.StripeError, services.CheckoutUnavailable):
        log.exception("Stripe refused a Checkout Session")
        messages.error(
            request, "Stripe could not start the payment just now. Nothing was charged; try again in a moment."
        )
        return redirect("billing")
    return redirect(url)


@login_required
def checkout_return(request):
    """After Checkout: "payment received" until the webhook is applied, then the new allowance."""
    applied = selectors.checkout_applied(request.GET.get("session_id", "")[:255])
    return render(
        request,
        "billing/return.html",
        {
            "applied": applied,
            "entitlement": selectors.entitlement_of(request.user),
            "allowance": credit_selectors.allowance(request.user),
            "available": credit_selectors.available(request.user),
            "replenish_days": settings.CREDIT_REPLENISH_DAYS,
        },
    )


@login_required
@require_POST
def portal(request):
    try:
        url = services.start_portal(request.user, return_url=request.build_absolute_uri(reverse("billing")))
    except services.PaymentsNotConfigured as error:
        messages.error(request, str(error))
        return redirect("billing")
    except stripe.StripeError:
        log.exception("Stripe refused a portal session")
        messages.error(request, "Stripe could not open the billing portal just now; try again in a moment.")
        return redirect("billing")
    return redirect(url)


@csrf_exempt
@require_POST
def webhook(request):
    """Stripe's events: signature checked, stored by id, answered at once; a task applies
    each (billing.tasks), retrying while Stripe's API fails."""
    try:
        event = services.verify_event(request.body, request.headers.get("Stripe-Signature"))
    except services.BadSignature as error:
        log.warning("Refused a webhook: %s", error)
        return HttpResponseBadRequest("bad signature")
    except services.MalformedEvent as error:
        log.warning("Refused a signed webhook: %s", error)
        return HttpResponseBadRequest("not an event")
    stored = services.receive_event(event)
    return HttpResponse("applied already" if stored.processed_at else "received", content_type="text/plain")
