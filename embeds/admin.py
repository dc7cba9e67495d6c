"""Admin for API keys: staff see them (never a secret: only its hash is kept) and may
revoke them, through the same service as the owner's page."""

from django.contrib import admin

from embeds import services
from embeds.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "owner", "created_at", "expires_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "name", "owner__email"]
    list_select_related = ["owner"]
    exclude = ["secret_hash"]
    readonly_fields = ["owner", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # a key is made by its owner (or `manage.py api_keys create`), to be shown once

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        for key in queryset.filter(revoked_at__isnull=True):
            services.revoke_api_key(key=key)
            self.log_change(request, key, "Revoked")
        self.message_user(request, "Revoked. Calls with these keys are refused from now on.")
