"""Admin for pickaxes and runs, and the staff view of users.

The user admin lives here because its page composes every app below pickaxes: plan and
own-key status (accounts), balance and credit actions (credits), the entitlement
(billing) and the last run (pickaxes).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import OuterRef, Subquery
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin import UserAdmin
from accounts.models import OwnApiKey, User
from billing import services as billing
from billing.models import Entitlement
from credits import selectors as credit_selectors
from credits import services as credit_services
from credits.admin import CREDIT_ACTIONS, CreditActionsMixin
from pickaxes import services
from pickaxes.models import InputField, Pickaxe, Run


class InputFieldInline(admin.TabularInline):
    model = InputField
    extra = 0


@admin.register(Pickaxe)
class PickaxeAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "owner", "visibility", "runs_count", "created_at"]
    list_filter = ["visibility", "model"]
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
        return TemplateResponse(request, "admin/credits/credit_action.html", {
            **self.admin_site.each_context(request),
            "title": "Refund runs",
            "form": form,
            "users": [run.payer for run in queryset],
            "action": "refund",
            "from_list": True,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
            "selected": [run.pk for run in queryset],
        })

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EntitlementInline(admin.StackedInline):
    """Staff set a plan here; saving re-syncs the allowance through the same signal."""

    model = Entitlement
    fields = ["gold", "packs_100", "packs_250", "status", "current_period_end"]
    readonly_fields = ["status", "current_period_end"]
    can_delete = False
    max_num = 1


admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(CreditActionsMixin, UserAdmin):
    list_display = ["email", "plan", "balance", "allowance", "last_run", "is_staff", "date_joined"]
    list_filter = ["plan", "is_staff", "is_active"]
    inlines = [EntitlementInline]
    readonly_fields = ["plan", "own_key_status", "last_login", "date_joined"]
    change_form_template = "admin/accounts/user/change_form.html"

    def get_inlines(self, request, obj=None):
        return self.inlines if obj is not None else []  # the add page stays Django's two-step form

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [*fieldsets, ("Plan and own key", {"fields": ["plan", "own_key_status"]})]

    def get_queryset(self, request):
        # One query for the whole list, however many users it shows.
        last_run = Run.objects.filter(payer=OuterRef("pk")).order_by("-started_at").values("started_at")[:1]
        return credit_selectors.annotate_credits(super().get_queryset(request)).annotate(last_run_at=Subquery(last_run))

    @admin.display(description="balance", ordering="credit_balance")
    def balance(self, user):
        return max(0, user.credit_balance or 0)

    @admin.display(description="allowance", ordering="credit_allowance")
    def allowance(self, user):
        return user.credit_allowance or 0

    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, user):
        return user.last_run_at

    @admin.display(description="own OpenAI key")
    def own_key_status(self, user):
        key = OwnApiKey.objects.filter(user=user).first()
        return f"set ({key.masked})" if key else "not set"

    def save_formset(self, request, form, formset, change):
        if formset.model is not Entitlement:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)  # for the admin's change message; the service writes
        for inline_form in formset.forms:
            if inline_form.has_changed() or not inline_form.instance.pk:
                data = inline_form.cleaned_data
                if not data:
                    continue
                billing.set_entitlement_by_staff(
                    form.instance, gold=data["gold"], packs_100=data["packs_100"], packs_250=data["packs_250"],
                    staff=request.user,
                )
                self.log_change(request, form.instance, f"Plan set to gold={data['gold']}, "
                                f"packs_100={data['packs_100']}, packs_250={data['packs_250']}")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        user = self.get_object(request, object_id)
        extra = extra_context or {}
        if user is not None:
            extra["balance_chart"] = balance_chart(credit_selectors.balance_history(user))
            extra["credit_actions"] = [
                (reverse("admin:accounts_user_credit_action", args=[user.pk, name]), title)
                for name, (title, _, permission) in CREDIT_ACTIONS.items()
                if request.user.has_perm(permission)
            ]
            extra["runs_url"] = reverse("admin:pickaxes_run_changelist") + f"?payer__id__exact={user.pk}"
            extra["ledger_url"] = reverse("admin:credits_entry_changelist") + f"?q={user.email}"
            extra["available_now"] = credit_selectors.available(user)
        return super().change_view(request, object_id, form_url, extra_context=extra)


def balance_chart(points, *, width=600, height=120):
    """An SVG polyline of the balance over time (coordinates here, drawn by the template)."""
    values = [value for _, value in points]
    top, bottom = max(values + [1]), min(values + [0])
    span = (top - bottom) or 1
    step = width / max(len(points) - 1, 1)
    coordinates = " ".join(
        f"{round(index * step, 1)},{round(height - (value - bottom) / span * height, 1)}" for index, (_, value) in enumerate(points)
    )
    zero = round(height - (0 - bottom) / span * height, 1)
    return {"width": width, "height": height, "points": coordinates, "zero": zero, "top": top, "bottom": bottom,
            "first": points[0][0], "last": points[-1][0]}
