"""What users hold through Stripe, and every webhook event Stripe sent us.

Webhooks are the only source of truth: an event only triggers a
re-read of the customer's subscriptions from Stripe, and the Entitlement is computed
from what Stripe says now, so duplicated or reordered events cannot corrupt it.
"""

from django.conf import settings
from django.db import models

from accounts import plans


class StripeCustomer(models.Model):
    """One Stripe customer per user, created on the first purchase and reused."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="stripe_customer")
    customer_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.customer_id} ({self.user})"


class Entitlement(models.Model):
    """What a user holds: Gold or not, and extra packs. Written only by the webhook path
    (billing.services.sync_customer) and by staff in the admin."""

    class Status(models.TextChoices):
        NONE = "none", "no subscription"
        ACTIVE = "active", "active"
        PAST_DUE = "past_due", "payment overdue (grace period)"
        ENDED = "ended", "ended"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="entitlement")
    gold = models.BooleanField(default=False)
    packs_100 = models.PositiveIntegerField(default=0)
    packs_250 = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NONE)
    current_period_end = models.DateTimeField(null=True, blank=True)
    # Cancelled in the Portal "at period end": what is held ends at current_period_end
    # instead of renewing.
    ends_at_period_end = models.BooleanField(default=False)
    # When the Stripe state this row reflects was read; an older read never overwrites it.
    synced_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.user}: {self.describe()}"

    @property
    def allowance(self):
        return plans.allowance(gold=self.gold, packs_100=self.packs_100, packs_250=self.packs_250)

    def describe(self):
        return plans.describe(gold=self.gold, packs_100=self.packs_100, packs_250=self.packs_250)


class WebhookEvent(models.Model):
    """Every Stripe event, stored by its id and applied once."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.type} {self.event_id}"
