"""The project's admin site, and the admin screens that combine apps (README, "Layout").

Each app's admin.py registers its own models. Here, the one place that may import every
app: the staff user admin (plan and own key from accounts, balance and credit actions from
credits, the entitlement from billing, the last run from pickaxes) and the ledger with
links from each entry to the run or the Stripe event that caused it.
"""

from django.contrib import admin


class ProjectAdminSite(admin.AdminSite):
    site_header = "Pickaxe administration"
    site_title = "Pickaxe admin"

    @property
    def login_form(self):
        """Logins here go through allauth's limiter like every login form. Imported on use:
        this module loads before the apps are ready."""
        from accounts.forms import AdminLoginForm

        return AdminLoginForm


# The apps' admin modules register on admin.site, an instance of the class above that
# Django makes on first use by importing this module: the class has to exist before
# they are imported, so these imports follow it (config.apps imports this module first).
from django.db.models import OuterRef, Subquery  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils.html import format_html  # noqa: E402

from accounts.admin import UserAdmin  # noqa: E402
from accounts.models import OwnApiKey, User  # noqa: E402
from billing import services as billing  # noqa: E402
from billing.forms import EntitlementForm  # noqa: E402
from billing.models import Entitlement, WebhookEvent  # noqa: E402
from credits import selectors as credit_selectors  # noqa: E402
from credits.admin import CREDIT_ACTIONS, CreditActionsMixin, EntryAdmin  # noqa: E402
from credits.models import Entry  # noqa: E402
from pickaxes.models import Run  # noqa: E402


class EntitlementInline(admin.StackedInline):
    """Staff set a plan here; saving re-syncs the allowance through the same signal."""

    model = Entitlement
    form = EntitlementForm
    fields = ["gold", "packs_100", "packs_250", "status", "current_period_end"]
    readonly_fields = ["status", "current_period_end"]
    can_delete = False
    max_num = 1


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
                    form.instance,
                    gold=data["gold"],
                    packs_100=data["packs_100"],
                    packs_250=data["packs_250"],
                    staff=request.user,
                )
                self.log_change(
                    request,
                    form.instance,
                    f"Plan set to gold={data['gold']}, packs_100={data['packs_100']}, packs_250={data['packs_250']}",
                )

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


class LedgerEntryAdmin(EntryAdmin):
    """The ledger, with a "source" column linking each entry to the run or Stripe event
    that caused it (by Run.entry and Entry.cause_ref, never by parsing the note)."""

    list_display = [name for name in EntryAdmin.list_display if name not in ("cause", "cause_ref")] + ["source"]
    list_select_related = [*EntryAdmin.list_select_related, "run", "refund_of__run"]

    def get_queryset(self, request):
        # The stored event of each entry that a webhook caused, in the list's own query.
        event = WebhookEvent.objects.filter(event_id=OuterRef("cause_ref")).values("pk")[:1]
        return super().get_queryset(request).annotate(webhook_event_pk=Subquery(event))

    @admin.display(description="source")
    def source(self, entry):
        run = getattr(entry, "run", None)
        if run is not None:
            return format_html('<a href="{}">run {}</a>', reverse("admin:pickaxes_run_change", args=[run.pk]), run.pk)
        refunded_run = getattr(entry.refund_of, "run", None) if entry.refund_of_id else None
        if refunded_run is not None:
            url = reverse("admin:pickaxes_run_change", args=[refunded_run.pk])
            return format_html('<a href="{}">refund of run {}</a>', url, refunded_run.pk)
        if entry.cause == Entry.Cause.STRIPE_EVENT:
            if entry.webhook_event_pk is None:
                return entry.cause_ref
            url = reverse("admin:billing_webhookevent_change", args=[entry.webhook_event_pk])
            return format_html('<a href="{}">{}</a>', url, entry.cause_ref)
        return entry.get_cause_display()


def balance_chart(points, *, width=600, height=120):
    """An SVG polyline of the balance over time (coordinates here, drawn by the template)."""
    values = [value for _, value in points]
    top, bottom = max(values + [1]), min(values + [0])
    span = (top - bottom) or 1
    step = width / max(len(points) - 1, 1)
    coordinates = " ".join(
        f"{round(index * step, 1)},{round(height - (value - bottom) / span * height, 1)}"
        for index, (_, value) in enumerate(points)
    )
    zero = round(height - (0 - bottom) / span * height, 1)
    return {
        "width": width,
        "height": height,
        "points": coordinates,
        "zero": zero,
        "top": top,
        "bottom": bottom,
        "first": points[0][0],
        "last": points[-1][0],
    }


admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)
admin.site.unregister(Entry)
admin.site.register(Entry, LedgerEntryAdmin)
