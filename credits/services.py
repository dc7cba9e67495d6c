"""Writes to the credit ledger. One function per operation, each in its own transaction.

Every write locks the account row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's
IMMEDIATE transactions serialise writers), catches its running balance up with what
expired, writes its entries and keeps the row's balance in step, all in one
transaction, so a balance is never read by one request and spent by another. spend()
takes the lock only when it admits, with one conditional UPDATE of the row. The
balance and the allowance are the expressions of credits.models (with_balance,
Allowance), the same ones the selectors and the admin read.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F, FilteredRelation, OuterRef, Q, Subquery, Sum, Window
from django.template.defaultfilters import date as format_date
from django.utils import timezone

from accounts import plans
from accounts import services as accounts
from credits import selectors
from credits.models import Allowance, CreditAccount, Entry, LowBalanceAlert

Kind = Entry.Kind


class OutOfCredits(Exception):
    """The payer has nothing to spend. `next_return_at` is when a credit comes back (or None)."""

    def __init__(self, next_return_at):
        self.next_return_at = next_return_at
        when = f"; the next credit comes back at {next_return_at:%Y-%m-%d %H:%M %Z}" if next_return_at else ""
        super().__init__(f"Out of credits{when}.")


class AlreadyRefunded(Exception):
    """A use can be refunded once; this one already was."""


def replenish_period():
    return timedelta(days=settings.CREDIT_REPLENISH_DAYS)


def open_account(user):
    """Give a user their credit account with the Free allowance, exactly once."""
    return _open_account(user.pk)


def _open_account(user_id):
    with transaction.atomic():
        account, created = CreditAccount.objects.get_or_create(
            user_id=user_id, defaults={"balance": plans.FREE.allowance}
        )
        if created:  # the allowance never expires: counted_until stays NULL
            Entry.objects.create(
                account=account,
                created_at=timezone.now(),
                kind=Kind.ALLOWANCE,
                amount=plans.FREE.allowance,
                key="free-allowance",
                note="Free plan",
                cause=Entry.Cause.SIGNUP,
            )
    return account


@dataclass(frozen=True)
class Spent:
    """What spend() did. `entry` is the use; `replayed` is True when the key was used
    before and `entry` is that earlier use (nothing was charged this time).
    `balance_after` is the balance just after the use (for a replay: the balance now);
    `alert_below` the payer's low-balance threshold (None: off, or a replay), which
    watch_low_balance() reads so that a spend that crosses nothing costs no query more."""

    entry: Entry
    balance_after: int
    alert_below: int | None
    replayed: bool


def spend(user, *, key=None, note=""):
    """Use one credit now: admitted when the balance is at least 1, else refused. Returns Spent.

    The rule, whole:
    - First, without any lock: a retried key returns its earlier use (Spent.replayed), and
      a payer known to be empty (empty_until later than now) is refused. A hot payer's
      refusals never queue for the row lock, and cost one read.
    - Admit (_admit): one conditional UPDATE takes 1 off the account row's running
      balance, only when the row has a credit and is caught up (counted_until later than
      now); it takes the row lock only when it admits. The use is written (-1, expiring
      CREDIT_REPLENISH_DAYS later) unless the key was used meanwhile (a retry that raced
      the first): then the credit is given back and the earlier entry returned.
    - Otherwise lock the row, catch its balance up with the entries that expired, and
      return the key's earlier entry if it has one, else admit (the row saved one credit
      lower, then the use), or record when the next credit returns in empty_until and
      raise OutOfCredits(next_return_at), having written no use.
    - A key that belongs to another kind of entry raises ValueError.

    Runs as its own transaction or inside the caller's, without a savepoint: no
    statement here raises an IntegrityError that would spoil the caller's transaction
    (the admission's INSERT skips a key conflict; the locked path checks the key under
    the lock, which every writer of the account's entries holds). The refusal is raised
    only after the block ends, so its empty_until is kept when spend() is its own
    transaction.
    """
    now = timezone.now()
    account_id, empty_until, earlier_id = _read_without_lock(user.pk, key)
    if earlier_id is not None:
        return _replayed(user, earlier_id)
    if empty_until is not None and empty_until > now:
        raise OutOfCredits(empty_until)
    use = next_return_at = None
    with transaction.atomic(savepoint=False):
        admitted = _admit(account_id, now=now, key=key, note=note) if account_id is not None else None
        if admitted is not None:
            balance_after, alert_below, use = admitted
            if use is None:  # the key was spent meanwhile: this spend charges nothing
                _give_back_one_credit(account_id, now=now)
                earlier_id = _earlier_id(account_id, key)
        else:
            # Not admitted at once: a balance to catch up (counted_until has passed), no
            # account yet, or nothing to spend.
            account, now = _lock_account(user_id=user.pk)
            earlier_id = _earlier_id(account.pk, key)
            admit = earlier_id is None and account.balance >= 1
            if admit:
                _count(account, amount=-1, expires_at=now + replenish_period(), now=now)
                balance_after, alert_below = account.balance, _alert_threshold(account, now=now)
            elif earlier_id is None:
                account.empty_until = next_return_at = _next_return(account, now=now)
            account.save(update_fields=["balance", "counted_until", "empty_until"])
            if admit:
                use = Entry.objects.create(**_use_of(account.pk, now=now, key=key, note=note))
    # Below runs after the block: not a moment longer under the row lock, and an
    # exception inside the block would spoil the caller's transaction (and roll back the
    # refusal's empty_until when spend() is its own transaction).
    if use is not None:
        return Spent(entry=use, balance_after=balance_after, alert_below=alert_below, replayed=False)
    if earlier_id is not None:
        return _replayed(user, earlier_id)
    raise OutOfCredits(next_return_at)


def _use_of(account_id, *, now, key, note):
    """The fields of a new use."""
    return {
        "account_id": account_id,
        "created_at": now,
        "kind": Kind.USE,
        "amount": -1,
        "expires_at": now + replenish_period(),
        "key": key,
        "note": note,
        "cause": Entry.Cause.RUN,
    }


def _read_without_lock(user_id, key):
    """(account id, "empty until" hint, id of an earlier entry with `key`), unlocked;
    Nones when the user has no account yet. The key's entry is joined by the unique
    (account, key) index. (As plain SQL it saved 2.2 M instructions of a site run's
    29.5 M, 7%: not enough to hand-write it; bench/instructions.py.)"""
    accounts = CreditAccount.objects.values_list("pk", "empty_until")
    if key is not None:
        earlier = FilteredRelation("entries", condition=Q(entries__key=key))
        accounts = accounts.annotate(earlier=earlier).values_list("pk", "empty_until", "earlier__pk")
    try:
        row = accounts.get(user_id=user_id)
    except CreditAccount.DoesNotExist:
        return None, None, None
    return row if key is not None else (*row, None)


def _admit(account_id, *, now, key, note):
    """The admission: take one credit off the account row if it is caught up (counted_until
    later than now, so its running balance is its Balance) and has one (the row lock is
    taken only then), and write the use. Returns None when it took
    nothing (nothing written, nothing locked); else (the balance after, the low-balance
    threshold or None, the use, or None when `key` was already used on this account).

    The ledger's one hand-written statement, for what the ORM cannot say (an UPDATE
    that returns the row it changed; an INSERT that skips a key conflict and returns the
    new id) on the path of every run. Built by the ORM (a conditional update(), a read
    of the row under the lock, then Entry.objects.create) it cost a site run 6.7 M
    instructions more, 36.2 M against 29.5 M: 23% (bench/instructions.py, 2026-12-08).
    PostgreSQL gets the UPDATE and the INSERT as one statement (a data-modifying CTE),
    so the row lock is held across one client round trip instead of two (bench/README.md);
    SQLite has no data-modifying CTEs, and IMMEDIATE transactions serialise its writers
    anyway: it gets the two, one after the other. The INSERT's columns are the model's
    (_meta), its values prepared by each field as save() would; the conflict named is
    the key's (credits_entry_unique_key_per_account, a partial index), so any other
    violation still raises.
    """
    use = Entry(**_use_of(account_id, now=now, key=key, note=note))
    fields, values = [], []
    for field in Entry._meta.concrete_fields:
        value = field.pre_save(use, add=True)
        if not field.primary_key and not hasattr(value, "resolve_expression"):  # a db_default fills it
            fields.append(field)
            values.append(field.get_db_prep_save(value, connection))
    adapt = connection.ops.adapt_datetimefield_value
    allowance = Allowance.SQL_TEMPLATE.format(pk=f"{_ACCOUNTS}.id", at="%s")
    take = (
        f"UPDATE {_ACCOUNTS} SET balance = balance - 1,"
        " counted_until = CASE WHEN counted_until IS NULL OR counted_until > %s THEN %s ELSE counted_until END"
        " WHERE id = %s AND balance >= 1 AND (counted_until IS NULL OR counted_until > %s)"
        f" RETURNING id, balance, low_balance_alerts, low_balance_threshold, {allowance} AS allowance"
    )
    take_params = [adapt(use.expires_at), adapt(use.expires_at), account_id, adapt(now), adapt(now)]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    on_key_conflict = " ON CONFLICT (account_id, key) WHERE key IS NOT NULL DO NOTHING RETURNING id"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The INSERT is fed by the UPDATE's row (none when it took nothing); a
            # data-modifying CTE runs once, to completion, whether or not it is read.
            feed = ", ".join("taken.id" if field.attname == "account_id" else "%s" for field in fields)
            cursor.execute(
                f"WITH taken AS ({take}),"
                f" written AS (INSERT INTO {_ENTRIES} ({columns}) SELECT {feed} FROM taken{on_key_conflict})"
                " SELECT balance, low_balance_alerts, low_balance_threshold, allowance, (SELECT id FROM written)"
                " FROM taken",
                [*take_params, *[v for f, v in zip(fields, values, strict=True) if f.attname != "account_id"]],
            )
            row = cursor.fetchone()
            if row is None:
                return None
            *taken, use.pk = row
        else:
            cursor.execute(take, take_params)
            row = cursor.fetchone()
            if row is None:
                return None
            _, *taken = row
            placeholders = ", ".join(["%s"] * len(fields))
            cursor.execute(f"INSERT INTO {_ENTRIES} ({columns}) VALUES ({placeholders}){on_key_conflict}", values)
            written = cursor.fetchone()
            use.pk = written[0] if written else None
    balance_after, on, custom, allowance_now = taken
    if use.pk is None:
        return balance_after, None, None
    use._state.adding, use._state.db = False, connection.alias
    return balance_after, _threshold(on=on, custom=custom, allowance=allowance_now), use


_ACCOUNTS, _ENTRIES = CreditAccount._meta.db_table, Entry._meta.db_table


def _earlier_id(account_id, key):
    """The id of the account's entry with `key` (None: none, or no key)."""
    if key is None:
        return None
    return Entry.objects.filter(account_id=account_id, key=key).values_list("pk", flat=True).first()


def _alert_threshold(account, *, now):
    """The locked account's low-balance threshold (None: off)."""
    allowance = None
    if account.low_balance_alerts and account.low_balance_threshold is None:
        allowance = CreditAccount.objects.filter(pk=account.pk).with_allowance(now).values_list("allowance_at").get()[0]
    return _threshold(on=account.low_balance_alerts, custom=account.low_balance_threshold, allowance=allowance)


def _give_back_one_credit(account_id, *, now):
    """Undo _admit's decrement when it wrote no use; counted_until is recomputed, since
    the decrement may have lowered it to the unwritten use's expiry."""
    first_expiry = Entry.objects.filter(account_id=account_id, expires_at__gt=now).order_by("expires_at")
    CreditAccount.objects.filter(pk=account_id).update(
        balance=F("balance") + 1, counted_until=Subquery(first_expiry.values("expires_at")[:1])
    )


def _replayed(user, entry_id):
    """The Spent of a key spent before: that use, and the balance now."""
    entry = Entry.objects.get(pk=entry_id)
    if entry.kind != Kind.USE:
        raise ValueError(f"The key {entry.key!r} belongs to a {entry.kind} entry, not a use.")
    return Spent(entry=entry, balance_after=selectors.balance(user), alert_below=None, replayed=True)


def _next_return(account, *, now):
    """The first moment after `now` when the (caught-up) balance reaches 1 again, if any.

    Each entry stops counting at its expiry; the running sum of what has expired by then
    (a window over the live entries, in expiry order, ties together) says when.
    """
    expired_by_then = Window(Sum("amount"), order_by=F("expires_at").asc())
    return (
        Entry.objects.filter(account_id=account.pk, expires_at__gt=now)
        .annotate(expired_by_then=expired_by_then)
        .filter(expired_by_then__lte=account.balance - 1)
        .order_by("expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )


def _lock_account(*, user_id=None, pk=None):
    """Lock the account row until the caller's transaction ends and catch its running
    balance up. Returns (account, now), `now` read after the lock so that entries
    written while we waited count."""
    accounts = CreditAccount.objects.select_for_update()
    try:
        account = accounts.get(user_id=user_id) if pk is None else accounts.get(pk=pk)
    except CreditAccount.DoesNotExist:
        if user_id is None:
            raise
        _open_account(user_id)
        account = accounts.get(user_id=user_id)
    now = timezone.now()
    _catch_up(account, now=now)
    return account, now


def _catch_up(account, *, now):
    """Take the entries that expired since counted_until off the running balance (the
    balance rule, CreditAccountQuerySet.with_balance), and move counted_until to the
    first expiry still ahead: one read, two range scans of credits_entry_live_idx."""
    if account.counted_until is None or account.counted_until > now:
        return
    first_expiry = Entry.objects.filter(account=OuterRef("pk"), expires_at__gt=now).order_by("expires_at")
    account.balance, account.counted_until = (
        CreditAccount.objects.filter(pk=account.pk)
        .with_balance(now)
        .annotate(first_expiry=Subquery(first_expiry.values("expires_at")[:1]))
        .values_list("balance_at", "first_expiry")
        .get()
    )


def _count(account, *, amount, expires_at, now):
    """Add a new entry to the running balance of a locked, caught-up row. An entry
    written already expired (the refund of an old use) never counts."""
    if expires_at is not None and expires_at <= now:
        return
    account.balance += amount
    if expires_at is not None and (account.counted_until is None or expires_at < account.counted_until):
        account.counted_until = expires_at


def _record(account, entries, *, now):
    """Count the entries just written, and forget "empty until": any write other than a
    spend may change when credits come back."""
    for entry in entries:
        _count(account, amount=entry.amount, expires_at=entry.expires_at, now=now)
    account.empty_until = None
    account.save(update_fields=["balance", "counted_until", "empty_until"])


def refund(entry, *, note="", staff=None):
    """Give back the credit of a use at once; a use is refunded at most once.

    The refund expires with the use, so the pair cancels while it lasts.
    """
    if entry.kind != Kind.USE:
        raise ValueError("Only a use can be refunded.")
    with transaction.atomic():
        account, now = _lock_account(pk=entry.account_id)
        if Entry.objects.filter(refund_of=entry).exists():
            raise AlreadyRefunded(f"Use {entry.pk} was already refunded.")
        refund_entry = Entry.objects.create(
            account=account,
            created_at=now,
            kind=Kind.REFUND,
            amount=-entry.amount,
            expires_at=entry.expires_at,
            refund_of=entry,
            key=f"refund:{entry.pk}",
            note=note,
            staff=staff,
            cause=Entry.Cause.STAFF if staff else Entry.Cause.RUN,
        )
        _record(account, [refund_entry], now=now)
    return refund_entry


def reset_window(user, *, reason, staff, cause=Entry.Cause.STAFF, cause_ref="", user_note=""):
    """Give back every credit now in use ("reset the replenish window"): each live use or
    deduction not yet refunded gets its refund, with the same expiry. Returns the count."""
    user_note = _user_note(user_note)
    reason = _require_reason(reason)
    with transaction.atomic():
        account, now = _lock_account(user_id=user.pk)
        in_use = Entry.objects.filter(
            account=account, kind__in=[Kind.USE, Kind.DEDUCTION], expires_at__gt=now, refunded_by__isnull=True
        )
        refunds = [
            Entry(
                account=account,
                created_at=now,
                kind=Kind.REFUND,
                amount=-entry.amount,
                expires_at=entry.expires_at,
                refund_of=entry,
                key=f"refund:{entry.pk}",
                note=reason,
                user_note=user_note,
                staff=staff,
                cause=cause,
                cause_ref=cause_ref,
            )
            for entry in in_use
        ]
        Entry.objects.bulk_create(refunds)
        _record(account, refunds, now=now)
    return sum(entry.amount for entry in refunds)


def _require_reason(reason):
    if not (reason or "").strip():
        raise ValueError("A reason is required.")
    return reason.strip()


def _user_note(text):
    return " ".join((text or "").split())[:300]


def _positive(amount):
    if not isinstance(amount, int) or amount < 1:
        raise ValueError("The number of credits must be a whole number of at least 1.")
    return amount


def grant(user, amount, *, expires_at=None, reason, staff=None, cause=Entry.Cause.STAFF, cause_ref="", user_note=""):
    """Add `amount` bonus credits that count until `expires_at` (default: the replenish period).

    `reason` is for staff; `user_note` is what the user reads in their activity."""
    amount, reason = _positive(amount), _require_reason(reason)
    now = timezone.now()
    expires_at = expires_at or now + replenish_period()
    if expires_at <= now:
        raise ValueError("The expiry must be in the future.")
    with transaction.atomic():
        account, now = _lock_account(user_id=user.pk)
        entry = Entry.objects.create(
            account=account,
            created_at=now,
            kind=Kind.BONUS,
            amount=amount,
            expires_at=expires_at,
            note=reason,
            user_note=_user_note(user_note),
            staff=staff,
            cause=cause,
            cause_ref=cause_ref,
        )
        _record(account, [entry], now=now)
    return entry


def deduct(user, amount, *, reason, staff=None, cause=Entry.Cause.STAFF, cause_ref="", user_note=""):
    """Take `amount` credits away, counted like uses: they come back after the replenish period.

    `reason` is for staff; `user_note` is what the user reads in their activity."""
    amount, reason = _positive(amount), _require_reason(reason)
    with transaction.atomic():
        account, now = _lock_account(user_id=user.pk)
        entry = Entry.objects.create(
            account=account,
            created_at=now,
            kind=Kind.DEDUCTION,
            amount=-amount,
            expires_at=now + replenish_period(),
            note=reason,
            user_note=_user_note(user_note),
            staff=staff,
            cause=cause,
            cause_ref=cause_ref,
        )
        _record(account, [entry], now=now)
        _watch(account, user=user, after=account.balance, change=-amount, entry=entry, now=now)
    return entry


def set_allowance(user, amount, *, reason, cause=Entry.Cause.PLAN, cause_ref="", user_note=""):
    """Make the plan's allowance `amount` by writing the difference (nothing if none).

    The plan's part is the allowance entries written without a staff user; permanent
    staff changes (adjust_allowance) are kept on top of it.
    """
    reason = _require_reason(reason)
    with transaction.atomic():
        account, now = _lock_account(user_id=user.pk)
        current = Entry.objects.filter(account=account, kind=Kind.ALLOWANCE, staff__isnull=True).total()
        delta = amount - current
        if delta == 0:
            return None
        entry = Entry.objects.create(
            account=account,
            created_at=now,
            kind=Kind.ALLOWANCE,
            amount=delta,
            note=reason,
            user_note=_user_note(user_note),
            cause=cause,
            cause_ref=cause_ref,
        )
        _record(account, [entry], now=now)
    return entry


def adjust_allowance(user, delta, *, reason, staff, cause=Entry.Cause.STAFF, cause_ref="", user_note=""):
    """A permanent staff change of the allowance by `delta` (positive or negative).

    `reason` is for staff; `user_note` is what the user reads in their activity."""
    reason = _require_reason(reason)
    if staff is None:
        raise ValueError("A permanent allowance change names the staff member who made it.")
    if not isinstance(delta, int) or delta == 0:
        raise ValueError("The change must be a whole number other than 0.")
    with transaction.atomic():
        account, now = _lock_account(user_id=user.pk)
        entry = Entry.objects.create(
            account=account,
            created_at=now,
            kind=Kind.ALLOWANCE,
            amount=delta,
            note=reason,
            user_note=_user_note(user_note),
            staff=staff,
            cause=cause,
            cause_ref=cause_ref,
        )
        _record(account, [entry], now=now)
    return entry


class StaffLimitExceeded(Exception):
    """A staff member who is not a superuser asked to move more credits than they may."""


def check_staff_limits(staff, credits_each, *, users=1):
    """Staff who are not superusers move at most STAFF_CREDIT_CEILING credits a time,
    and at most STAFF_CREDIT_DAILY_TOTAL in 24 hours (each user of an action counts;
    grants, deductions and allowance changes alike, by their size). Raises
    StaffLimitExceeded. Unlocked, it is the form's friendly check; act_as_staff() makes
    it hold."""
    if staff.is_superuser:
        return
    ceiling = settings.STAFF_CREDIT_CEILING
    if credits_each > ceiling:
        raise StaffLimitExceeded(f"Above your ceiling of {ceiling} credits a time: ask a superuser.")
    daily = settings.STAFF_CREDIT_DAILY_TOTAL
    moved = selectors.credits_moved_by(staff, since=timezone.now() - timedelta(days=1))
    if moved + credits_each * users > daily:
        raise StaffLimitExceeded(
            f"Above your total of {daily} credits a day ({moved} in the last 24 hours): ask a superuser."
        )


def act_as_staff(staff, users, *, credits_each, write):
    """Call write(user) for each of `users` on behalf of `staff`, who moves `credits_each`
    credits for each (0: an action the limits do not count), and return what each call
    returned; all or nothing is written.

    The limits (check_staff_limits) are checked and the writes made in one transaction
    that holds a lock on the staff member's own user row: parallel requests of one staff
    member queue there, each counting what the ones before it wrote, so the day's total
    holds however many arrive at once.
    """
    with transaction.atomic():
        if credits_each and not staff.is_superuser:
            get_user_model().objects.select_for_update().filter(pk=staff.pk).values_list("pk").get()
            check_staff_limits(staff, credits_each, users=len(users))
        return [write(user) for user in users]


def watch_low_balance(user, *, spent, about="", page="/account/"):
    """After a spend (`spent`, what spend() returned), inside the caller's transaction
    (the account row still locked by it): when that spend took the balance below the
    user's alert threshold, record the crossing and queue its one email. No query when
    nothing crossed, nor for a replay (it charged nothing).

    `about` says what spent the credit ("your embed of “Tool”"), `page` where to look."""
    if spent.replayed or not _crossed(spent.alert_below, after=spent.balance_after, change=spent.entry.amount):
        return None
    return _alert(
        spent.entry.account_id,
        user=user,
        after=spent.balance_after,
        threshold=spent.alert_below,
        entry=spent.entry,
        about=about,
        page=page,
        now=timezone.now(),
    )


def _threshold(*, on, custom, allowance):
    if not on:
        return None
    return custom if custom is not None else selectors.default_alert_threshold(allowance or 0)


def _crossed(threshold, *, after, change):
    """A crossing: at or above the threshold just before the change, below it just after."""
    return bool(threshold) and after < threshold <= after - change


def _watch(account, *, user, after, change, entry, now, about="", page="/account/"):
    """watch_low_balance for a deduction, with the locked account at hand. (Plan changes
    do not alert: billing tells the user of those in an email of its own.)"""
    if change >= 0 or not account.low_balance_alerts:
        return None
    threshold = _alert_threshold(account, now=now)
    if not _crossed(threshold, after=after, change=change):
        return None
    return _alert(account.pk, user=user, after=after, threshold=threshold, entry=entry, about=about, page=page, now=now)


def _alert(account_id, *, user, after, threshold, entry, about, page, now):
    alert = LowBalanceAlert.objects.create(
        account_id=account_id, crossed_at=now, balance=after, threshold=threshold, entry=entry, about=about[:200]
    )
    ahead = selectors.forecast(user, now=now, balance_now=after, threshold=threshold)
    accounts.queue_email(
        key=f"low-balance:{alert.pk}",
        to=user.email,
        subject=f"Your Pickaxe credits are low: {max(0, after)} left",
        body=low_balance_email(alert, ahead, page=page),
    )
    return alert


def _day(moment):
    return format_date(timezone.localtime(moment), "j M")


def low_balance_email(alert, ahead, *, page):
    """The email of one crossing: where the balance stands, when it runs out at the recent
    pace (at 0: when the next credit comes back), and how many are back by the day the
    balance is back at the threshold."""
    lines = [
        f"Your balance fell below {alert.threshold} credits"
        + (f" after a run of {alert.about}" if alert.about else "")
        + f": you have {max(0, alert.balance)} left.",
        "",
    ]
    run_out = ahead.run_out_at()
    pace = ahead.pace_per_day
    if not ahead.available:
        next_credit = ahead.next_credit_at()
        if next_credit is not None:
            lines.append(f"Your next credit comes back on {_day(next_credit)}.")
    elif run_out is not None:
        lines.append(
            f"At the pace of the last {selectors.PACE_DAYS} days ({pace:.1f} a day) they run out around {_day(run_out)}."
        )
    elif pace:
        lines.append(
            f"At the pace of the last {selectors.PACE_DAYS} days ({pace:.1f} a day) they last beyond "
            f"{_day(ahead.now + ahead.horizon)}."
        )
    back = ahead.back_at_threshold()
    if back is not None:
        lines.append(f"Without more runs, you have {back.balance} credits back by {_day(back.at)}.")
    lines += [
        "",
        "Each used credit comes back "
        f"{settings.CREDIT_REPLENISH_DAYS} days after you used it. "
        f"Your activity and when credits come back: {settings.SITE_URL.rstrip('/')}{page}",
        f"Change or turn off this alert: {settings.SITE_URL.rstrip('/')}/account/#alerts",
        f"Plans and extra credits: {settings.SITE_URL.rstrip('/')}/billing/",
        "",
        "— Pickaxe",
    ]
    return "\n".join(lines)


def set_low_balance_alert(user, *, on, threshold=None):
    """Turn the user's low-balance alert on or off, below `threshold` credits (None: the
    default share of the allowance)."""
    if threshold is not None and (not isinstance(threshold, int) or threshold < 1):
        raise ValueError("The threshold must be a whole number of at least 1.")
    with transaction.atomic():
        account, _ = _lock_account(user_id=user.pk)
        account.low_balance_alerts = bool(on)
        account.low_balance_threshold = threshold
        account.save(update_fields=["low_balance_alerts", "low_balance_threshold"])
    return account


def dismiss_low_balance_alert(user, *, alert_id):
    """The user has read the banner of this crossing: it is not shown again. True if it was theirs."""
    return bool(
        LowBalanceAlert.objects.filter(pk=alert_id, account__user_id=user.pk, dismissed_at__isnull=True).update(
            dismissed_at=timezone.now()
        )
    )
