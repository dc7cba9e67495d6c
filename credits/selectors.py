"""Reads of the credit ledger. Each is a fixed number of queries, whatever the history."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import BooleanField, Case, F, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Abs, Coalesce, TruncDate
from django.template.defaultfilters import date as format_date
from django.utils import timezone

from accounts import plans
from credits import forecast as forecasting
from credits.models import CreditAccount, Entry, LowBalanceAlert, counts_at

Kind = Entry.Kind


def _entries_of(user):
    """The user's entries, addressed by account id so PostgreSQL range-scans the live
    index (a join on the user would make it filter the account's whole history)."""
    account_id = CreditAccount.objects.filter(user_id=user.pk).values("pk")[:1]
    return Entry.objects.filter(account_id=Subquery(account_id))


def balance(user, *, at=None):
    """Allowance + unexpired bonuses − uses and deductions of the replenish period + their refunds.

    May be negative (after a downgrade or a deduction); `available` shows that as 0.
    Now: the account's running balance less what expired since (one query that writes
    nothing, CreditAccountQuerySet.with_balance; as plain SQL it saved 1.6 M instructions
    of a site run's 29.5 M, 5.5%: bench/instructions.py). At a past moment: the entries
    that counted then, summed (EntryQuerySet.counted_at).
    """
    if at is not None:
        return _entries_of(user).counted_at(at).total()
    try:
        return (
            CreditAccount.objects.with_balance(timezone.now()).values_list("balance_at", flat=True).get(user_id=user.pk)
        )
    except CreditAccount.DoesNotExist:
        return 0


def available(user, *, at=None):
    """The credits the user can spend now: the balance, shown as 0 when it is below."""
    return max(0, balance(user, at=at))


def allowance(user, *, at=None):
    """How many credits the account may have in use at once (plan, packs, staff changes)."""
    accounts = CreditAccount.objects.filter(user_id=user.pk).with_allowance(at or timezone.now())
    return accounts.values_list("allowance_at", flat=True).first() or 0


def returns_schedule(user, *, now=None):
    """Upcoming returns of used credits, as [(day, count)] in date order.

    A use and its refund share an expiry, so refunded uses net out and vanish.
    """
    now = now or timezone.now()
    rows = (
        _entries_of(user)
        .filter(
            kind__in=[Kind.USE, Kind.REFUND, Kind.DEDUCTION],
            expires_at__gt=now,
        )
        .annotate(day=TruncDate("expires_at"))
        .values("day")
        .annotate(total=Sum("amount"))
        .order_by("day")
    )
    return [(row["day"], -row["total"]) for row in rows if row["total"] < 0]


def recent_entries(user, *, limit=20):
    return list(_entries_of(user).select_related("staff").order_by("-created_at", "-id")[:limit])


def balance_history(user, *, days=60, now=None):
    """[(moment, balance)] at the end of each of the last `days` days, from one query."""
    now = now or timezone.now()
    moments = [now - timedelta(days=offset) for offset in range(days, -1, -1)]
    entries = _entries_of(user).filter(created_at__lte=now).live(moments[0])
    totals = entries.aggregate(
        **{f"at_{index}": Coalesce(Sum("amount", filter=counts_at(moment)), 0) for index, moment in enumerate(moments)}
    )
    return [(moment, totals[f"at_{index}"]) for index, moment in enumerate(moments)]


def annotate_credits(users, *, now=None):
    """Users with `credit_balance` and `credit_allowance`, in the same query (admin lists)."""
    now = now or timezone.now()
    account = CreditAccount.objects.filter(user_id=OuterRef("pk"))
    return users.annotate(
        credit_balance=Subquery(account.with_balance(now).values("balance_at")),
        credit_allowance=Subquery(account.with_allowance(now).values("allowance_at")),
    )


def credits_moved_by(staff, *, since):
    """How many credits `staff` granted, deducted or moved the allowance by since `since`
    (each counted by its size, whatever its sign): what a daily staff total counts."""
    moved = Entry.objects.filter(
        staff=staff, created_at__gte=since, kind__in=[Kind.BONUS, Kind.DEDUCTION, Kind.ALLOWANCE]
    ).aggregate(total=Sum(Abs("amount")))
    return moved["total"] or 0


PLANS = {plan.code: plan for plan in plans.PRODUCTS}

# The low-balance alert's threshold when the user has not picked one: this share of the
# allowance, so it follows plan changes.
DEFAULT_ALERT_PERCENT = 20


def default_alert_threshold(allowance):
    return max(0, allowance) * DEFAULT_ALERT_PERCENT // 100


@dataclass(frozen=True)
class AlertSettings:
    on: bool
    custom: int | None  # the user's own number; None: the default share
    default: int  # DEFAULT_ALERT_PERCENT of the allowance

    @property
    def threshold(self):
        """Below this many credits the alert fires; None when it is off."""
        if not self.on:
            return None
        return self.custom if self.custom is not None else self.default


def _alert_settings(account, allowance):
    if account is None:
        return AlertSettings(on=True, custom=None, default=default_alert_threshold(allowance))
    return AlertSettings(
        on=account.low_balance_alerts, custom=account.low_balance_threshold, default=default_alert_threshold(allowance)
    )


def alert_settings(user):
    """The user's low-balance alert: on or off, and its threshold."""
    account = CreditAccount.objects.filter(user_id=user.pk).only("low_balance_alerts", "low_balance_threshold").first()
    return _alert_settings(account, allowance(user))


@dataclass(frozen=True)
class SpendingStatus:
    """What the Submit button needs to know: how many credits there are to spend, whether
    that is below the user's alert threshold, and when a credit is back at 0."""

    balance: int  # may be below 0; shown as 0
    threshold: int | None
    next_credit_at: object = None

    @property
    def available(self):
        return max(0, self.balance)

    @property
    def empty(self):
        return self.available < 1

    @property
    def low(self):
        return self.threshold is not None and self.available < self.threshold


def spending_status(user, *, now=None):
    """Two queries (three at 0 credits): the balance with the alert settings, then the
    next return when there is nothing to spend."""
    now = now or timezone.now()
    row = (
        CreditAccount.objects.filter(user_id=user.pk)
        .with_balance(now)
        .with_allowance(now)
        .values_list("balance_at", "low_balance_alerts", "low_balance_threshold", "allowance_at")
        .first()
    )
    if row is None:
        return SpendingStatus(balance=0, threshold=None)
    balance_now, on, custom, allowance_now = row
    settings_ = AlertSettings(on=bool(on), custom=custom, default=default_alert_threshold(allowance_now))
    next_credit_at = None
    if balance_now < 1:
        ahead = forecasting.Forecast(
            now=now, balance=balance_now, changes=future_changes(user, now=now), pace_per_day=0, horizon=timedelta(0)
        )
        next_credit_at = ahead.next_credit_at()
    return SpendingStatus(balance=balance_now, threshold=settings_.threshold, next_credit_at=next_credit_at)


def future_changes(user, *, now=None):
    """(Change, …) in time order: each moment ahead when entries stop counting, with the
    used credits that come back then and the bonus credits that end. One query."""
    now = now or timezone.now()
    is_bonus = Case(When(kind=Kind.BONUS, then=Value(True)), default=Value(False), output_field=BooleanField())
    rows = (
        _entries_of(user)
        .filter(expires_at__gt=now)
        .annotate(is_bonus=is_bonus)
        .values("expires_at", "is_bonus")
        .annotate(total=Sum("amount"))
        .order_by("expires_at")
    )
    changes = {}
    for row in rows:
        at = row["expires_at"]
        returned, expired = changes.get(at, (0, 0))
        if row["is_bonus"]:
            expired += row["total"]
        else:
            returned -= row["total"]
        changes[at] = (returned, expired)
    return tuple(
        forecasting.Change(at=at, returned=returned, expired=expired)
        for at, (returned, expired) in changes.items()
        if returned or expired
    )


PACE_DAYS = 7


def pace_per_day(user, *, now=None, days=PACE_DAYS):
    """Credits spent on runs per day over the last `days` days (refunded runs not counted)."""
    now = now or timezone.now()
    used = (
        _entries_of(user)
        .filter(kind=Kind.USE, created_at__gt=now - timedelta(days=days), created_at__lte=now)
        .filter(refunded_by__isnull=True)
        .count()
    )
    return used / days


def forecast(user, *, now=None, balance_now=None, threshold=None):
    """The days ahead (credits.forecast.Forecast) over the replenish period: three queries
    at most, whatever the history (two when the caller has read the balance)."""
    now = now or timezone.now()
    if balance_now is None:
        balance_now = balance(user, at=now)
    return forecasting.Forecast(
        now=now,
        balance=balance_now,
        changes=future_changes(user, now=now),
        pace_per_day=pace_per_day(user, now=now),
        horizon=timedelta(days=settings.CREDIT_REPLENISH_DAYS),
        threshold=threshold,
        pace_days=PACE_DAYS,
    )


@dataclass(frozen=True)
class Breakdown:
    """Where the balance comes from: the plan's allowance, permanent staff changes, bonus
    credits by expiry, credits in use (runs) and deducted, all as they count now."""

    plan_allowance: int
    staff_allowance: int
    bonuses: tuple  # ((expires_at, credits), …) soonest first
    in_use: int
    deducted: int

    @property
    def balance(self):
        return (
            (self.plan_allowance + self.staff_allowance + sum(credits for _, credits in self.bonuses))
            - self.in_use
            - self.deducted
        )

    @property
    def available(self):
        return max(0, self.balance)

    @property
    def below_zero(self):
        return max(0, -self.balance)

    def parts(self, plan_code):
        """["25 from Free", "50 bonus until 25 Dec", "9 in use"]: the balance explained."""
        plan = PLANS.get(plan_code, plans.FREE)
        parts = []
        if self.plan_allowance > plan.allowance:
            parts += [f"{plan.allowance} from {plan.name}", f"{self.plan_allowance - plan.allowance} from extra packs"]
        else:
            parts.append(f"{self.plan_allowance} from {plan.name}")
        if self.staff_allowance:
            parts.append(f"{self.staff_allowance:+d} from the Pickaxe team".replace("-", "−"))
        for until, credits in self.bonuses:
            parts.append(f"{credits} bonus until {format_date(timezone.localtime(until), 'j M')}")
        if self.in_use:
            parts.append(f"{self.in_use} in use")
        if self.deducted:
            parts.append(f"{self.deducted} deducted")
        return parts


def balance_breakdown(user, *, now=None):
    """The balance's parts (Breakdown), from one query over the live entries."""
    now = now or timezone.now()
    rows = (
        _entries_of(user)
        .live(now)
        .annotate(
            bonus_until=Case(When(kind=Kind.BONUS, then=F("expires_at")), default=None),
            by_staff=Case(
                When(kind=Kind.ALLOWANCE, staff__isnull=False, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
        )
        .values("kind", "refund_of__kind", "bonus_until", "by_staff")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    plan = staff = in_use = deducted = 0
    bonuses = {}
    for row in rows:
        kind, total = row["kind"], row["total"]
        if kind == Kind.ALLOWANCE:
            if row["by_staff"]:
                staff += total
            else:
                plan += total
        elif kind == Kind.BONUS:
            until = row["bonus_until"]
            bonuses[until] = bonuses.get(until, 0) + total
        elif kind == Kind.DEDUCTION or (kind == Kind.REFUND and row["refund_of__kind"] == Kind.DEDUCTION):
            deducted -= total
        else:  # uses and their refunds
            in_use -= total
    return Breakdown(
        plan_allowance=plan,
        staff_allowance=staff,
        bonuses=tuple(sorted(bonuses.items())),
        in_use=in_use,
        deducted=deducted,
    )


def ledger_of(user):
    """The user's entries (a queryset, for pages that page through them)."""
    return _entries_of(user)


def allowance_history(user):
    """[(entry id, amount)] of the allowance entries, oldest first: plan changes are few."""
    return list(_entries_of(user).filter(kind=Kind.ALLOWANCE).order_by("created_at", "id").values_list("id", "amount"))


def current_low_balance_alert(user, *, status):
    """The latest crossing of the user's threshold while the balance (`status`, a
    SpendingStatus) is still below it and the user has not dismissed it; else None. One
    query, and none when the balance is not low."""
    if not status.low:
        return None
    latest = LowBalanceAlert.objects.filter(account__user_id=user.pk).order_by("-crossed_at", "-id").first()
    return latest if latest is not None and latest.dismissed_at is None else None


@dataclass(frozen=True)
class Overview:
    """Everything the account page says about credits."""

    breakdown: Breakdown
    alert_settings: AlertSettings
    forecast: forecasting.Forecast
    alert: LowBalanceAlert | None

    @property
    def status(self):
        return SpendingStatus(balance=self.breakdown.balance, threshold=self.alert_settings.threshold)


def overview(user, *, now=None):
    """The balance explained, the alert settings, the days ahead and a banner to show:
    at most seven queries, whatever the history."""
    now = now or timezone.now()
    breakdown = balance_breakdown(user, now=now)
    settings_ = alert_settings(user)
    ahead = forecast(user, now=now, balance_now=breakdown.balance, threshold=settings_.threshold)
    status = SpendingStatus(balance=breakdown.balance, threshold=settings_.threshold)
    return Overview(
        breakdown=breakdown,
        alert_settings=settings_,
        forecast=ahead,
        alert=current_low_balance_alert(user, status=status),
    )


@dataclass(frozen=True)
class LowBalance:
    """What a page shows about a low balance: the spending status, the current crossing
    (None: no banner) and, with a banner, the days ahead for its dates."""

    status: SpendingStatus
    alert: LowBalanceAlert | None = None
    forecast: forecasting.Forecast | None = None


def low_balance(user, *, now=None):
    """For pages that show the balance before a run: two queries, three at 0 credits, and
    three more when a banner is due."""
    now = now or timezone.now()
    status = spending_status(user, now=now)
    alert = current_low_balance_alert(user, status=status)
    ahead = None
    if alert is not None:
        ahead = forecast(user, now=now, balance_now=status.balance, threshold=status.threshold)
    return LowBalance(status=status, alert=alert, forecast=ahead)


def next_return(user, *, now=None):
    """When the next used credit comes back (None: none is out). A use and its refund share
    an expiry, so a refunded use does not count."""
    now = now or timezone.now()
    return (
        _entries_of(user)
        .filter(kind__in=[Kind.USE, Kind.REFUND, Kind.DEDUCTION], expires_at__gt=now)
        .values("expires_at")
        .annotate(total=Sum("amount"))
        .filter(total__lt=0)
        .order_by("expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )
