"""The user's own credit settings: the low-balance alert and its banner."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from credits import selectors, services
from credits.forms import LowBalanceAlertForm


@login_required
@require_POST
def low_balance_alert(request):
    form = LowBalanceAlertForm(request.POST, alert_settings=selectors.alert_settings(request.user))
    if form.is_valid():
        on, threshold = form.choice()
        services.set_low_balance_alert(request.user, on=on, threshold=threshold)
        threshold = selectors.alert_settings(request.user).threshold
        messages.success(request, f"Low-balance alert: below {threshold} credits." if on else "Low-balance alert: off.")
    else:
        problems = [error for errors in form.errors.values() for error in errors]
        messages.error(request, "The alert was not changed. " + " ".join(problems))
    return redirect(reverse("account") + "#alerts")


@login_required
@require_POST
def dismiss_low_balance_alert(request, alert_id):
    services.dismiss_low_balance_alert(request.user, alert_id=alert_id)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("account")
    return redirect(back)
