from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from credits import selectors


@login_required
def account(request):
    user = request.user
    return render(
        request,
        "credits/account.html",
        {
            "available": selectors.available(user),
            "allowance": selectors.allowance(user),
            "returns": selectors.returns_schedule(user),
            "replenish_days": settings.CREDIT_REPLENISH_DAYS,
        },
    )
