"""Admin for pickaxes and runs. The staff view of users, which combines every app, is
config/admin.py's."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from credits import services as credit_services
from pickaxes import services
from pickaxes.models import Conversation, InputField, Pickaxe, Run


class InputFieldInline(admin.TabularInline):
    model = InputField
    extra = 0


@admin.register(Pickaxe)
class PickaxeAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "owner", "visibility", "runs_count", "created_at"]
    list_filter = ["kind", "visibility", "model"]
    search_fields = ["name", "slug", "owner__email"]
    list_select_related = ["owner"]
    inlines = [InputFieldInline]
    actions = ["unpublish"]

    @admin.action(description="Unpublish (make private)", permissions=["change"])
    def unpublish(self, request, queryset):
        for pickaxe in queryset:
            pickaxe.visibility = Pickaxe.Visibility.PRIVATE
            pickaxe.save(update_fields=["visibility", "updated_at"])
            self.log_change(request, pickaxe, "Unpublished (made private)")
        self.message_user(request, f"Unpublished {queryset.count()} pickaxe(s).")


class RefundForm(forms.Form):
    reason = forms.CharField(max_length=400, help_text="Required: why the credit is given back.")


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "pickaxe", "payer", "source", "status", "charge", "latency_ms"]
    list_filter = ["status", "source", "refunded", "own_key", "started_at"]
    search_fields = ["payer__email", "pickaxe__name", "pickaxe__slug"]
    list_select_related = ["pickaxe", "payer", "entry"]
    date_hierarchy = "started_at"
    actions = ["refund"]
    readonly_fields = [field.name for field in Run._meta.fields]

    @admin.display(description="charge")
    def charge(self, run):
        if run.own_key:
            return "own key"
        if run.refunded:
            return "refunded"
        if run.entry_id:
            url = reverse("admin:credits_entry_changelist") + f"?q=run%3A{run.submission_key}"
            return format_html('<a href="{}">1 credit</a>', url)
        return "—"

    def has_refund_run_permission(self, request):
        return request.user.has_perm("credits.refund_run")

    @admin.action(description="Refund the credit of the selected runs…", permissions=["refund_run"])
    def refund(self, request, queryset):
        form = RefundForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            done = 0
            for run in queryset:
                try:
                    services.refund_run(run, reason=form.cleaned_data["reason"], staff=request.user)
                except (ValueError, credit_services.AlreadyRefunded) as error:
                    self.message_user(request, f"Run {run.pk}: {error}", messages.WARNING)
                    continue
                self.log_change(request, run, f"Refunded: {form.cleaned_data['reason']}")
                done += 1
            self.message_user(request, f"Refunded {done} run(s).")
            return None
        return TemplateResponse(
            request,
            "admin/credits/credit_action.html",
            {
                **self.admin_site.each_context(request),
                "title": "Refund runs",
                "form": form,
                "users": [run.payer for run in queryset],
                "action": "refund",
                "from_list": True,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
                "selected": [run.pk for run in queryset],
            },
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MessageInline(admin.TabularInline):
    """A conversation's messages (its runs), in order, as staff read them."""

    model = Run
    fk_name = "conversation"
    fields = ["position", "message", "answer", "status", "charge", "started_at"]
    readonly_fields = fields
    ordering = ["position"]
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description="message")
    def message(self, run):
        return (run.inputs or {}).get("message", "") if isinstance(run.inputs, dict) else ""

    @admin.display(description="answer")
    def answer(self, run):
        return run.output or run.error

    @admin.display(description="charge")
    def charge(self, run):
        if run.own_key:
            return "own key"
        if run.refunded:
            return "not charged"
        return "1 credit" if run.entry_id else "—"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Read-only: a conversation belongs to its holder; staff only look."""

    list_display = ["title", "pickaxe", "holder", "source", "created_at", "updated_at"]
    list_filter = ["source", "created_at"]
    search_fields = ["public_id", "title", "pickaxe__slug", "holder"]
    list_select_related = ["pickaxe"]
    date_hierarchy = "created_at"
    readonly_fields = ["public_id", "pickaxe", "holder", "source", "title", "created_at", "updated_at"]
    inlines = [MessageInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
