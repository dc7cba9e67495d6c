"""The ledger in the admin (read-only, like everywhere) and the staff credit actions.

The actions (grant, deduct, change the allowance, give back every credit in use) are
offered on users by CreditActionsMixin; config/admin.py composes it into the user admin,
and links entries to the runs and Stripe events that caused them (credits knows neither).
Each goes through an intermediate form with a required reason, calls one service,
and writes an admin log entry. Nothing edits or deletes an existing entry.
"""

from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from credits import services
from credits.models import CreditAccount, Entry, LowBalanceAlert

# The most credits one staff action may move, for anyone (a superuser too): far above any
# real need, and well inside the ledger's integer column.
MOST_CREDITS = 100_000


class StaffCreditForm(forms.Form):
    reason = forms.CharField(
        max_length=400, help_text="Required: why, for staff. It is stored with the entry; the user never sees it."
    )
    user_note = forms.CharField(
        label="Note for the user",
        max_length=300,
        required=False,
        help_text="What the user reads in their activity (never your name). Empty: a neutral line.",
    )

    def __init__(self, *args, staff, users=1, **kwargs):
        self.staff, self.users = staff, users
        super().__init__(*args, **kwargs)

    def check_ceiling(self, amount):
        """The staff member's limits (services.check_staff_limits), as a form error: the
        friendly message of the common case. credit_action() checks them again under a
        lock as it writes (services.act_as_staff)."""
        try:
            services.check_staff_limits(self.staff, abs(amount), users=self.users)
        except services.StaffLimitExceeded as error:
            raise forms.ValidationError(str(error)) from error
        return amount

    def credits_each(self):
        """How many credits the action moves for each user (0: not counted by the limits)."""
        return 0


class GrantForm(StaffCreditForm):
    amount = forms.IntegerField(min_value=1, max_value=MOST_CREDITS)
    expires_on = forms.DateField(
        help_text="The bonus counts until the end of this day.",
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )
    field_order = ["amount", "expires_on", "reason"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expires_on"].initial = timezone.localdate() + timedelta(days=settings.CREDIT_REPLENISH_DAYS)

    def clean_amount(self):
        return self.check_ceiling(self.cleaned_data["amount"])

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day < timezone.localdate():
            raise forms.ValidationError("Choose today or a later day.")
        latest = timezone.localdate() + timedelta(days=settings.STAFF_GRANT_MAX_DAYS)
        if not self.staff.is_superuser and day > latest:
            raise forms.ValidationError(f"Choose {latest:%Y-%m-%d} or earlier, or ask a superuser.")
        return day

    def credits_each(self):
        return self.cleaned_data["amount"]

    def perform(self, user):
        expires_at = timezone.make_aware(datetime.combine(self.cleaned_data["expires_on"], time.max))
        services.grant(
            user,
            self.cleaned_data["amount"],
            expires_at=expires_at,
            reason=self.cleaned_data["reason"],
            user_note=self.cleaned_data["user_note"],
            staff=self.staff,
            cause=Entry.Cause.STAFF,
        )
        return f"Granted {self.cleaned_data['amount']} bonus credits until {self.cleaned_data['expires_on']}: {self.cleaned_data['reason']}"


class DeductForm(StaffCreditForm):
    amount = forms.IntegerField(min_value=1, max_value=MOST_CREDITS)
    field_order = ["amount", "reason"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].help_text = f"Counted like uses: they come back in {settings.CREDIT_REPLENISH_DAYS} days."

    def clean_amount(self):
        return self.check_ceiling(self.cleaned_data["amount"])

    def credits_each(self):
        return self.cleaned_data["amount"]

    def perform(self, user):
        services.deduct(
            user,
            self.cleaned_data["amount"],
            reason=self.cleaned_data["reason"],
            user_note=self.cleaned_data["user_note"],
            staff=self.staff,
            cause=Entry.Cause.STAFF,
        )
        return f"Deducted {self.cleaned_data['amount']} credits: {self.cleaned_data['reason']}"


class AllowanceForm(StaffCreditForm):
    change = forms.IntegerField(
        min_value=-MOST_CREDITS,
        max_value=MOST_CREDITS,
        help_text="Permanent: +N or −N credits on the allowance (each used one comes back 30 days later), kept through plan changes.",
    )
    field_order = ["change", "reason"]

    def clean_change(self):
        change = self.cleaned_data["change"]
        if change == 0:
            raise forms.ValidationError("Enter a change other than 0.")
        return self.check_ceiling(change)

    def credits_each(self):
        return abs(self.cleaned_data["change"])

    def perform(self, user):
        services.adjust_allowance(
            user,
            self.cleaned_data["change"],
            reason=self.cleaned_data["reason"],
            user_note=self.cleaned_data["user_note"],
            staff=self.staff,
            cause=Entry.Cause.STAFF,
        )
        return f"Changed the allowance by {self.cleaned_data['change']:+d}: {self.cleaned_data['reason']}"


class ResetWindowForm(StaffCreditForm):
    def perform(self, user):
        count = services.reset_window(
            user,
            reason=self.cleaned_data["reason"],
            user_note=self.cleaned_data["user_note"],
            staff=self.staff,
            cause=Entry.Cause.STAFF,
        )
        return f"Gave back {count} credits in use: {self.cleaned_data['reason']}"


# name: (title, form, permission)
CREDIT_ACTIONS = {
    "grant": ("Grant bonus credits", GrantForm, "credits.grant_credits"),
    "deduct": ("Deduct credits", DeductForm, "credits.deduct_credits"),
    "allowance": ("Change the permanent allowance", AllowanceForm, "credits.change_allowance"),
    "reset": ("Give back every credit in use", ResetWindowForm, "credits.reset_window"),
}


class CreditActionsMixin:
    """Credit actions for a user ModelAdmin: list actions and per-user pages. Staff see
    an action only with its permission (has_<permission>_permission below)."""

    actions = ["credits_grant", "credits_deduct", "credits_allowance", "credits_reset"]

    @admin.action(description="Grant bonus credits…", permissions=["grant_credits"])
    def credits_grant(self, request, queryset):
        return self.credit_action(request, "grant", list(queryset), from_list=True)

    @admin.action(description="Deduct credits…", permissions=["deduct_credits"])
    def credits_deduct(self, request, queryset):
        return self.credit_action(request, "deduct", list(queryset), from_list=True)

    @admin.action(description="Change the permanent allowance…", permissions=["change_allowance"])
    def credits_allowance(self, request, queryset):
        return self.credit_action(request, "allowance", list(queryset), from_list=True)

    @admin.action(description="Give back every credit in use…", permissions=["reset_window"])
    def credits_reset(self, request, queryset):
        return self.credit_action(request, "reset", list(queryset), from_list=True)

    def has_grant_credits_permission(self, request):
        return request.user.has_perm("credits.grant_credits")

    def has_deduct_credits_permission(self, request):
        return request.user.has_perm("credits.deduct_credits")

    def has_change_allowance_permission(self, request):
        return request.user.has_perm("credits.change_allowance")

    def has_reset_window_permission(self, request):
        return request.user.has_perm("credits.reset_window")

    def get_urls(self):
        custom = [
            path(
                "<int:user_id>/credits/<str:name>/",
                self.admin_site.admin_view(self.credit_action_view),
                name="accounts_user_credit_action",
            ),
        ]
        return custom + super().get_urls()

    def credit_action_view(self, request, user_id, name):
        user = get_object_or_404(self.model, pk=user_id)
        return self.credit_action(request, name, [user], from_list=False)

    def credit_action(self, request, name, users, *, from_list):
        if name not in CREDIT_ACTIONS:
            raise PermissionDenied
        title, form_class, permission = CREDIT_ACTIONS[name]
        if not request.user.has_perm(permission):
            raise PermissionDenied
        data = request.POST if "apply" in request.POST else None
        form = form_class(data, staff=request.user, users=len(users))
        if form.is_valid():
            try:
                done = services.act_as_staff(request.user, users, credits_each=form.credits_each(), write=form.perform)
            except services.StaffLimitExceeded as error:
                form.add_error(None, str(error))
        if form.is_valid():
            for user, message in zip(users, done, strict=True):
                self.log_change(request, user, message)
            self.message_user(
                request, f"{message} ({len(users)} user{'s' if len(users) != 1 else ''}).", messages.SUCCESS
            )
            if from_list:
                return None
            return redirect(reverse("admin:accounts_user_change", args=[users[0].pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "users": users,
            "selected": [user.pk for user in users],
            "action": f"credits_{name}",
            "from_list": from_list,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/credits/credit_action.html", context)


class SourceFilter(admin.SimpleListFilter):
    title = "written by"
    parameter_name = "by"

    def lookups(self, request, model_admin):
        return [("staff", "staff"), ("system", "the system")]

    def queryset(self, request, queryset):
        if self.value() == "staff":
            return queryset.filter(staff__isnull=False)
        if self.value() == "system":
            return queryset.filter(staff__isnull=True)
        return queryset


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    """The ledger is read-only here as everywhere: corrections are new entries."""

    list_display = [
        "created_at",
        "account",
        "kind",
        "amount",
        "expires_at",
        "note",
        "user_note",
        "staff",
        "cause",
        "cause_ref",
    ]
    list_filter = ["kind", "cause", "created_at", SourceFilter, ("staff", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["account__user__email", "note", "user_note", "key", "cause_ref"]
    list_select_related = ["account__user", "staff"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def delete_view(self, request, object_id, extra_context=None):
        """Staff who open an entry's delete address are told why there is none and how to
        correct an entry, instead of a bare "not allowed"."""
        entry = self.get_object(request, unquote(object_id))
        if entry is None or not self.has_view_permission(request, entry):
            return super().delete_view(request, object_id, extra_context)
        user = entry.account.user
        context = {
            **self.admin_site.each_context(request),
            "title": "Ledger entries are never deleted",
            "opts": self.opts,
            "entry": entry,
            "ledger_user": user,
            "user_url": reverse("admin:accounts_user_change", args=[user.pk]),
            "grant_url": reverse("admin:accounts_user_credit_action", args=[user.pk, "grant"]),
            "deduct_url": reverse("admin:accounts_user_credit_action", args=[user.pk, "deduct"]),
            "entry_url": reverse("admin:credits_entry_change", args=[entry.pk]),
        }
        return TemplateResponse(request, "admin/credits/entry/never_deleted.html", context, status=403)


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    list_display = ["user", "empty_until"]
    search_fields = ["user__email"]
    readonly_fields = ["user", "empty_until"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LowBalanceAlert)
class LowBalanceAlertAdmin(admin.ModelAdmin):
    """Each crossing of a user's low-balance threshold (its email is in Outgoing emails)."""

    list_display = ["crossed_at", "account", "balance", "threshold", "about", "dismissed_at"]
    list_select_related = ["account__user"]
    search_fields = ["account__user__email"]
    date_hierarchy = "crossed_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
