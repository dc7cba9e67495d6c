"""The credit ledger: one append-only table of signed entries per account.

The balance at time t is the sum of the entries that exist at t and have not expired
(`expires_at` is empty or later than t). A use is -1 expiring CREDIT_REPLENISH_DAYS
after it; its refund is +1 with the same expiry, so the pair cancels while it lasts.
Allowance changes have no expiry. Entries are never updated or deleted.

The account row keeps that sum running (`balance`, `counted_until`), so a spend reads
one row instead of summing the live history; every ledger write keeps it in step under
the row lock, in the same transaction as its entry (credits/services.py).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Func, Q, Sum, Value
from django.db.models.functions import Coalesce


class _AccountSum(Func):
    """A sum over the entries of the account row it is read on, written once as SQL
    (SQL_TEMPLATE) for the ORM's queries and for services._admit alike. Built as a
    Subquery of an OuterRef-filtered, grouped queryset, a read of one account cost 2-3
    times the CPU (0.9 ms against 0.3-0.4 ms per call on SQLite and PostgreSQL,
    2026-12-08): the ORM clones and resolves the inner query on every call."""

    output_field = models.IntegerField()
    # SQL_TEMPLATE's names: each of COLUMNS (the account row's column, as the ORM names it
    # in the query at hand) and `at` (the moment, a parameter).
    SQL_TEMPLATE = ""
    COLUMNS = ()

    def __init__(self, at):
        super().__init__(*[F(name) for name in self.COLUMNS], Value(at, output_field=models.DateTimeField()))

    def as_sql(self, compiler, connection, **extra_context):
        parts, params = {}, []
        for name, expression in zip([*self.COLUMNS, "at"], self.get_source_expressions(), strict=True):
            parts[name], expression_params = compiler.compile(expression)
            params += expression_params
        return self.SQL_TEMPLATE.format(**parts), params


class Allowance(_AccountSum):
    """The allowance at `at`: the sum of the account's allowance entries written by then
    (the plan, packs, permanent staff changes). Allowances never expire (every writer
    writes them so); saying so lets PostgreSQL range-scan credits_entry_live_idx to them."""

    COLUMNS = ("pk",)
    SQL_TEMPLATE = (
        "(SELECT COALESCE(SUM(a.amount), 0) FROM credits_entry a WHERE a.account_id = {pk}"
        " AND a.expires_at IS NULL AND a.kind = 'allowance' AND a.created_at <= {at})"
    )


class Balance(_AccountSum):
    """THE balance at `at`, now or any moment after the row's last write: the running
    balance less the entries that expired since counted_until (a range scan of
    credits_entry_live_idx over just those). Entries expiring at exactly `at` no longer
    count. (At an earlier moment: EntryQuerySet.counted_at, the sum of the entries.)"""

    COLUMNS = ("balance", "pk", "counted_until")
    SQL_TEMPLATE = (
        "({balance} - COALESCE((SELECT SUM(x.amount) FROM credits_entry x WHERE x.account_id = {pk}"
        " AND x.expires_at >= {counted_until} AND x.expires_at <= {at}), 0))"
    )


def counts_at(at):
    """The ledger's rule, as a condition on entries: an entry counts at `at` when it was
    written by then and has not expired by then. The balance at `at` is the sum of the
    entries that count."""
    return Q(created_at__lte=at) & (Q(expires_at__isnull=True) | Q(expires_at__gt=at))


class CreditAccountQuerySet(models.QuerySet):
    def with_balance(self, at):
        """Each row with `balance_at`, its Balance(at): the one rule every reader and writer uses."""
        return self.annotate(balance_at=Balance(at))

    def with_allowance(self, at):
        """Each row with `allowance_at`, its Allowance(at)."""
        return self.annotate(allowance_at=Allowance(at))


class CreditAccount(models.Model):
    """One per user: the row that spends lock, its running balance, and a hint that
    spares refusals the lock. Unlike entries, this row is updated."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credit_account")
    # The running balance: the sum of the entries counted so far. `counted_until` is the
    # earliest expiry among them (NULL: none of them expires). While now < counted_until,
    # `balance` is the sum of the live entries; once that moment has passed, the entries
    # that expired since are taken off (a range scan of credits_entry_live_idx over
    # just those entries, never the whole live history) before the row is used again.
    # An entry written already expired (the refund of an old use) is never counted.
    balance = models.IntegerField(default=0)
    counted_until = models.DateTimeField(null=True, blank=True)
    # "Known to have nothing to spend until this moment." Written when a spend is
    # refused and cleared by every other ledger write (grant, deduction, allowance
    # change, refund), so a refused payer is refused again without the row lock.
    empty_until = models.DateTimeField(null=True, blank=True)
    # The low-balance alert: on (the default) or off, and below how many credits it
    # fires. NULL: the default share of the allowance (services.alert_threshold), so the
    # alert follows plan changes until the user picks a number of their own.
    low_balance_alerts = models.BooleanField(default=True, db_default=True)
    low_balance_threshold = models.PositiveIntegerField(null=True, blank=True)

    objects = CreditAccountQuerySet.as_manager()

    def __str__(self):
        return f"credits of {self.user}"


class LedgerError(Exception):
    """Raised when code tries to change or remove a ledger entry."""


class EntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise LedgerError("Ledger entries cannot be updated; write a correcting entry.")

    def delete(self):
        raise LedgerError("Ledger entries cannot be deleted; write a correcting entry.")

    def live(self, at):
        """Entries not expired by `at`."""
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))

    def counted_at(self, at):
        """The entries that count at `at` (counts_at): their sum is the balance at `at`.
        CreditAccountQuerySet.with_balance reads the same from the running balance."""
        return self.filter(counts_at(at))

    def total(self):
        """The sum of the amounts (0 for none)."""
        return self.aggregate(total=Coalesce(Sum("amount"), 0))["total"]


class Entry(models.Model):
    class Kind(models.TextChoices):
        ALLOWANCE = "allowance", "allowance"
        USE = "use", "use"
        REFUND = "refund", "refund"
        BONUS = "bonus", "bonus"
        DEDUCTION = "deduction", "deduction"

    class Cause(models.TextChoices):
        """What wrote the entry, so pages link to it by a field instead of parsing the note."""

        SIGNUP = "signup", "sign-up (the Free allowance)"
        RUN = "run", "a run"
        STRIPE_EVENT = "stripe_event", "a Stripe event"
        PLAN = "plan", "a plan change outside Stripe's webhooks"
        STAFF = "staff", "a staff action"

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
    created_at = models.DateTimeField()
    amount = models.IntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    expires_at = models.DateTimeField(null=True, blank=True)
    key = models.CharField(max_length=200, null=True, blank=True, help_text="Idempotency key, unique per account.")
    refund_of = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="refunded_by"
    )
    note = models.CharField(max_length=500, blank=True)
    # What the user reads in their activity about a staff entry. `note` is the staff's own
    # reason (kept for staff); it and the staff member's name are never shown to the user.
    user_note = models.CharField(max_length=300, blank=True, default="", db_default="")
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member who wrote a manual entry.",
    )
    # Empty on entries written before the field existed: entries are never updated, so
    # those keep no cause. db_default: SQL writers need not name them.
    cause = models.CharField(max_length=16, choices=Cause.choices, blank=True, default="", db_default="")
    cause_ref = models.CharField(
        max_length=255,
        blank=True,
        default="",
        db_default="",
        help_text="The id of what caused the entry (the run, the Stripe event), when it has one.",
    )

    objects = EntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "entries"
        ordering = ["-created_at", "-id"]
        permissions = [
            ("grant_credits", "Can grant bonus credits"),
            ("deduct_credits", "Can deduct credits"),
            ("change_allowance", "Can change a permanent allowance"),
            ("reset_window", "Can give back every credit in use"),
            ("refund_run", "Can refund a run"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "key"],
                condition=Q(key__isnull=False),
                name="credits_entry_unique_key_per_account",
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="credits_entry_amount_not_zero"),
            models.CheckConstraint(
                condition=(
                    Q(kind__in=["use", "deduction"], amount__lt=0, expires_at__isnull=False)
                    | Q(kind__in=["refund", "bonus"], amount__gt=0, expires_at__isnull=False)
                    | Q(kind="allowance")
                ),
                name="credits_entry_sign_and_expiry_match_kind",
            ),
            models.CheckConstraint(
                condition=Q(refund_of__isnull=True) | Q(kind="refund"),
                name="credits_entry_only_refunds_refer_to_a_use",
            ),
        ]
        indexes = [
            # balance(): a range scan over this account's unexpired entries, however
            # much expired history lies before them.
            models.Index(
                fields=["account", "expires_at"],
                include=["amount"],
                name="credits_entry_live_idx",
            ),
        ]

    def __str__(self):
        return f"{self.amount:+d} {self.kind} at {self.created_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise LedgerError("Ledger entries cannot be updated; write a correcting entry.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerError("Ledger entries cannot be deleted; write a correcting entry.")


class LowBalanceAlert(models.Model):
    """One crossing of the user's threshold: the balance went from at least `threshold`
    to below it, through `entry`. Written once per crossing, with its email; the banner
    shows it until the user dismisses it or the balance is back at the threshold."""

    account = models.ForeignKey(CreditAccount, on_delete=models.CASCADE, related_name="alerts")
    crossed_at = models.DateTimeField()
    balance = models.IntegerField(help_text="The balance just after the crossing.")
    threshold = models.PositiveIntegerField()
    entry = models.OneToOneField(
        Entry, on_delete=models.PROTECT, null=True, blank=True, related_name="low_balance_alert"
    )
    about = models.CharField(max_length=200, blank=True, help_text="What spent the credit, for the user to read.")
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-crossed_at", "-id"]
        indexes = [models.Index(fields=["account", "-crossed_at"], name="credits_alert_recent_idx")]

    def __str__(self):
        return f"low balance ({self.balance} < {self.threshold}) at {self.crossed_at:%Y-%m-%d %H:%M}"
