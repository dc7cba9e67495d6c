from django.contrib import admin

from credits.models import CreditAccount, Entry


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    """The ledger is read-only here as everywhere: corrections are new entries."""

    list_display = ["created_at", "account", "kind", "amount", "expires_at", "note", "staff"]
    list_filter = ["kind", "created_at"]
    search_fields = ["account__user__email", "note", "key"]
    list_select_related = ["account__user", "staff"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    list_display = ["user", "empty_until"]
    search_fields = ["user__email"]
    readonly_fields = ["user", "empty_until"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
