from django.contrib import admin, messages

from billing import services
from billing.forms import EntitlementForm
from billing.models import Entitlement, StripeCustomer, WebhookEvent


@admin.register(Entitlement)
class EntitlementAdmin(admin.ModelAdmin):
    """Staff may set what a user holds; saving re-syncs the allowance like a webhook."""

    form = EntitlementForm
    list_display = ["user", "gold", "packs_100", "packs_250", "status", "current_period_end", "updated_at"]
    list_filter = ["gold", "status"]
    search_fields = ["user__email"]
    autocomplete_fields = ["user"]
    fields = ["user", "gold", "packs_100", "packs_250", "status", "current_period_end", "synced_at"]
    readonly_fields = ["status", "current_period_end", "synced_at"]

    def save_model(self, request, obj, form, change):
        services.set_entitlement_by_staff(
            obj.user, gold=obj.gold, packs_100=obj.packs_100, packs_250=obj.packs_250, staff=request.user
        )
        obj.refresh_from_db()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "type", "event_id", "processed_at", "result"]
    list_filter = ["type"]
    search_fields = ["event_id", "result"]
    readonly_fields = ["event_id", "type", "created", "payload", "received_at", "processed_at", "result"]
    actions = ["reapply"]

    @admin.action(description="Re-apply (re-read the customer's subscriptions from Stripe)", permissions=["change"])
    def reapply(self, request, queryset):
        for event in queryset:
            try:
                services.apply_event(event)
            except Exception as error:  # shown to staff; the event stays stored
                self.message_user(request, f"{event.event_id}: {error}", messages.ERROR)
        self.message_user(request, f"Re-applied {queryset.count()} event(s).")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StripeCustomer)
class StripeCustomerAdmin(admin.ModelAdmin):
    list_display = ["user", "customer_id", "created_at"]
    search_fields = ["user__email", "customer_id"]
    readonly_fields = ["user", "customer_id", "created_at"]

    def has_add_permission(self, request):
        return False
