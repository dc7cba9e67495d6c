"""Figures that pages state in their text, from the one place each is defined."""

from django.conf import settings

from accounts import plans


def credit_rules(request):
    """The Free plan (its name and allowance) and the days after which a used credit returns."""
    return {"free_plan": plans.FREE, "replenish_days": settings.CREDIT_REPLENISH_DAYS}
