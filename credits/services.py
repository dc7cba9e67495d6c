"""Writes to the credit ledger. One function per operation, each in its own transaction.

Every write locks the account row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's
IMMEDIATE transactions serialise writers), catches its running balance up with what
expired, writes its entries and keeps the row's balance in step, all in one
transaction, so a balance is never read by one request and spent by another. spend()
takes the lock only when it admits, with one conditional UPDATE of the row.
"""

from datetime import UTC, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Min, Subquery, Sum, Window
from django.template.defaultfilters import date as format_date
from django.utils import timezone

from accounts import plans
from accounts import services as accounts
from credits import selectors
from credits.models import CreditAccount, Entry, LowBalanceAlert

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


def spend(user, *, key=None, note=""):
    """Use one credit now: admitted when the balance is at least 1, else refused.

    The rule, whole:
    - First, without any lock: a retried key returns its earlier entry, and a payer known
      to be empty (empty_until later than now) is refused. A hot payer's refusals never
      queue for the row lock, and cost one read.
    - Admit (_admit): one conditional UPDATE takes 1 off the account row's running
      balance, only when the row has a credit and is caught up (counted_until later than
      now); it takes the row lock only when it admits. One INSERT writes the use (-1,
      expiring CREDIT_REPLENISH_DAYS later). On PostgreSQL the two are one statement, so
      the row lock is held across one client round trip (that statement's answer, then
      COMMIT) instead of two; on SQLite they are two statements.
    - One key, one charge: when the INSERT finds `key` already used on this account (a
      retry that raced the first), the credit is given back in the same transaction and
      the earlier entry is returned. The returned entry says which: `entry.replayed` is
      True for an earlier entry, False for a new use. A key that belongs to another kind
      of entry raises ValueError.
    - Otherwise lock the row, catch its balance up with the entries that expired, and
      admit (the row saved one credit lower, then the INSERT on its own, with the same
      one-key-one-charge rule), or record when the next credit returns in empty_until
      and raise OutOfCredits(next_return_at), having written no use.

    Runs as its own transaction or inside the caller's, without a savepoint: no
    statement on these paths raises an IntegrityError that would spoil the caller's
    transaction (hence ON CONFLICT DO NOTHING), and the refusal is raised only after
    the block ends, so its empty_until is kept when spend() is its own transaction.
    """
    entry = new_entry_id = next_return_at = None
    now = timezone.now()
    with connection.cursor() as cursor:
        account_id, empty_until, earlier_id = _read_without_lock(cursor, user.pk, key)
    if earlier_id is not None:
        entry = _earlier_entry(pk=earlier_id)
    elif empty_until is not None and empty_until > now:
        next_return_at = empty_until
    else:
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            account_id, balance_after, alert_below, new_entry_id = _admit(cursor, user.pk, now=now, key=key, note=note)
            if account_id is None:
                # Not admitted at once: a balance to catch up (counted_until has passed),
                # no account yet, or nothing to spend.
                account, now = _lock_account(user_id=user.pk)
                if account.balance >= 1:
                    _count(account, amount=-1, expires_at=now + replenish_period(), now=now)
                    account_id, balance_after = account.pk, account.balance
                    alert_below = _alert_threshold(account)
                else:
                    account.empty_until = next_return_at = _next_return(account, now=now)
                account.save(update_fields=["balance", "counted_until", "empty_until"])
                if account_id is not None:
                    new_entry_id = _insert_use(cursor, account_id, now=now, key=key, note=note)
            if account_id is not None and new_entry_id is None:
                # The key was used meanwhile: this spend charges nothing.
                _give_back_one_credit(account_id, now=now)
                entry = _earlier_entry(account_id=account_id, key=key)
    # Everything below runs after the block: not a moment longer under the row lock, and
    # an exception inside the block would spoil the caller's transaction (and roll back
    # the refusal's empty_until when spend() is its own transaction).
    if new_entry_id is not None:
        use = _new_use(new_entry_id, account_id=account_id, now=now, key=key, note=note)
        # For watch_low_balance(), which the run service calls next, still in the lock.
        use.balance_after, use.alert_below = balance_after, alert_below
        return use
    if entry is None:
        raise OutOfCredits(next_return_at)
    if entry.kind != Kind.USE:
        raise ValueError(f"The key {entry.key!r} belongs to a {entry.kind} entry, not a use.")
    entry.replayed = True
    return entry


# The admission's two statements, each written once. _admit sends them one after the
# other on SQLite and as one statement on PostgreSQL; the slow path sends the INSERT alone.
#
# Take one credit off a caught-up row that has one (the row lock is taken only when it
# does), returning what the low-balance alert needs, so a run that crosses no threshold
# costs no query more: the allowance only for the default threshold, a few entries by
# credits_entry_live_idx. (COALESCE, not IS NULL: SQLite 3.40 says a NULL column IS NULL
# is false inside RETURNING.) Parameters: _take_params.
_TAKE_ONE_CREDIT = (
    "UPDATE credits_creditaccount SET balance = balance - 1,"
    " counted_until = CASE WHEN counted_until IS NULL OR counted_until > %s THEN %s ELSE counted_until END"
    " WHERE user_id = %s AND balance >= 1 AND (counted_until IS NULL OR counted_until > %s)"
    " RETURNING id, balance, low_balance_alerts, low_balance_threshold,"
    " CASE WHEN low_balance_alerts AND COALESCE(low_balance_threshold, -1) < 0 THEN"
    " (SELECT COALESCE(SUM(e.amount), 0) FROM credits_entry e WHERE e.account_id = credits_creditaccount.id"
    " AND e.expires_at IS NULL AND e.kind = 'allowance') END AS allowance"
)
# Write the use: its columns, and its values after the account's id (_use_params). Keep
# them in step with Entry (and _new_use): a new NOT NULL column without a database default
# needs its value here. The conflict named is the key's (credits_entry_unique_key_per_account,
# a partial index): PostgreSQL then checks that index alone, and any other violation still
# raises.
_INSERT_USE_INTO = "INSERT INTO credits_entry (account_id, created_at, amount, kind, expires_at, key, note, cause)"
_USE_VALUES_AFTER_ACCOUNT = "%s, -1, 'use', %s, %s, %s, 'run'"
_ON_KEY_CONFLICT = " ON CONFLICT (account_id, key) WHERE key IS NOT NULL DO NOTHING RETURNING id"

_INSERT_USE = f"{_INSERT_USE_INTO} VALUES (%s, {_USE_VALUES_AFTER_ACCOUNT}){_ON_KEY_CONFLICT}"
# PostgreSQL only: the same UPDATE, and the same INSERT fed by its row (none when it admits
# nothing). `written` is NULL when the key was already used. A data-modifying CTE runs
# once, to completion, whether or not the outer SELECT reads it.
_ADMIT_IN_ONE_STATEMENT = (
    f"WITH taken AS ({_TAKE_ONE_CREDIT}),"
    f" written AS ({_INSERT_USE_INTO} SELECT taken.id, {_USE_VALUES_AFTER_ACCOUNT} FROM taken{_ON_KEY_CONFLICT})"
    " SELECT taken.id, taken.balance, taken.low_balance_alerts, taken.low_balance_threshold, taken.allowance,"
    " (SELECT id FROM written) FROM taken"
)


def _take_params(user_id, now):
    adapt = connection.ops.adapt_datetimefield_value
    expires_at = adapt(now + replenish_period())
    return [expires_at, expires_at, user_id, adapt(now)]


def _use_params(now, key, note):
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(now), adapt(now + replenish_period()), key, note]


def _admit(cursor, user_id, *, now, key, note):
    """The admission: take one credit and write the use. Returns (the account's id, its
    balance after, its low-balance threshold or None, the new use's id or None when `key`
    was already used on this account) if the row had a credit (the row now locked), else
    four Nones (nothing written, nothing locked).

    The row must be caught up (counted_until later than now) for its balance to be the
    truth; PostgreSQL does not wait on a locked row that its snapshot already refuses.

    PostgreSQL gets the UPDATE and the INSERT as one statement (a data-modifying CTE), so
    a spend holds the row lock across one client round trip (that statement's answer,
    then COMMIT) instead of two (the UPDATE's answer, the INSERT, then COMMIT): on one
    hot account at 64 threads, 0.87-0.94x the anchor's admitted spends/s (a bare UPDATE +
    INSERT) against 0.75-0.83x with two statements (bench/run.py, bench/README.md).
    SQLite has no data-modifying CTEs, and IMMEDIATE transactions serialise its writers
    anyway: it gets the two statements.
    """
    if connection.vendor == "postgresql":
        cursor.execute(_ADMIT_IN_ONE_STATEMENT, [*_take_params(user_id, now), *_use_params(now, key, note)])
        row = cursor.fetchone()
        if row is None:
            return None, None, None, None
        *taken, new_entry_id = row
        return *_taken(*taken), new_entry_id
    cursor.execute(_TAKE_ONE_CREDIT, _take_params(user_id, now))
    row = cursor.fetchone()
    if row is None:
        return None, None, None, None
    account_id, balance_after, alert_below = _taken(*row)
    return account_id, balance_after, alert_below, _insert_use(cursor, account_id, now=now, key=key, note=note)


def _taken(account_id, balance, on, custom, allowance):
    """(the account's id, its balance after, its low-balance threshold or None), from the
    row the UPDATE returned."""
    return account_id, balance, _threshold(on=on, custom=custom, allowance=allowance)


def _alert_threshold(account):
    """The locked account's low-balance threshold (None: off)."""
    allowance = None
    if account.low_balance_alerts and account.low_balance_threshold is None:
        allowance = Entry.objects.filter(account=account, kind=Kind.ALLOWANCE).aggregate(total=Sum("amount"))["total"]
    return _threshold(on=account.low_balance_alerts, custom=account.low_balance_threshold, allowance=allowance)


def _insert_use(cursor, account_id, *, now, key, note):
    """Write the use; its id, or None when `key` was already used on this account.

    Raw SQL because the ORM's insert cannot both skip a conflict and return the new id;
    the same text runs on PostgreSQL and SQLite (3.35+).
    """
    cursor.execute(_INSERT_USE, [account_id, *_use_params(now, key, note)])
    row = cursor.fetchone()
    return row[0] if row else None


def _new_use(pk, *, account_id, now, key, note):
    """The instance of the use the admission or _insert_use wrote, as the database holds it."""
    use = Entry(
        pk=pk,
        account_id=account_id,
        created_at=now,
        kind=Kind.USE,
        amount=-1,
        expires_at=now + replenish_period(),
        key=key,
        note=note,
        cause=Entry.Cause.RUN,
    )
    use._state.adding = False
    use._state.db = connection.alias
    use.replayed = False
    return use


def _give_back_one_credit(account_id, *, now):
    """Undo the admission's decrement when no use was written; counted_until is
    recomputed, since the decrement may have lowered it to the unwritten use's expiry."""
    first_expiry = Entry.objects.filter(account_id=account_id, expires_at__gt=now).order_by("expires_at")
    CreditAccount.objects.filter(pk=account_id).update(
        balance=F("balance") + 1, counted_until=Subquery(first_expiry.values("expires_at")[:1])
    )


def _earlier_entry(**lookup):
    """The entry a retried key was first spent on, marked as such."""
    entry = Entry.objects.get(**lookup)
    entry.replayed = True
    return entry


def _read_without_lock(cursor, user_id, key):
    """(account id, "empty until" hint, id of an earlier entry with `key`), unlocked.

    Plain SQL: built by the ORM this query cost four times its round trip (1.1 ms
    against 0.25 ms on PostgreSQL), and every refusal of an empty payer pays it.
    `key = NULL` is never true, so an unkeyed spend finds no earlier entry.
    """
    cursor.execute(
        "SELECT a.id, a.empty_until,"
        " (SELECT e.id FROM credits_entry e WHERE e.account_id = a.id AND e.key = %s)"
        " FROM credits_creditaccount a WHERE a.user_id = %s",
        [key, user_id],
    )
    row = cursor.fetchone()
    if row is None:
        return None, None, None
    account_id, empty_until, earlier_id = row
    if empty_until is not None and timezone.is_naive(empty_until):
        empty_until = timezone.make_aware(empty_until, UTC)  # SQLite hands back the UTC it stores
    return account_id, empty_until, earlier_id


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
    """Take the entries that expired since counted_until off the running balance.

    Two range scans of credits_entry_live_idx: the entries that expired, and the first
    expiry still ahead. Entries expiring at exactly `now` no longer count.
    """
    if account.counted_until is None or account.counted_until > now:
        return
    entries = Entry.objects.filter(account_id=account.pk).order_by()
    expired = entries.filter(expires_at__gte=account.counted_until, expires_at__lte=now)
    account.balance -= expired.aggregate(total=Sum("amount"))["total"] or 0
    account.counted_until = entries.filter(expires_at__gt=now).aggregate(first=Min("expires_at"))["first"]


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
        current = (
            Entry.objects.filter(account=account, kind=Kind.ALLOWANCE, staff__isnull=True).aggregate(
                total=Sum("amount")
            )["total"]
            or 0
        )
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


def watch_low_balance(user, *, entry, about="", page="/account/"):
    """After a spend, inside the caller's transaction (the account row still locked by
    it): when that spend took the balance below the user's alert threshold, record the
    crossing and queue its one email. No query when nothing crossed: spend() returned the
    balance after it and the threshold (`entry.balance_after`, `entry.alert_below`).

    `about` says what spent the credit ("your embed of “Tool”"), `page` where to look."""
    if not _crossed(entry.alert_below, after=entry.balance_after, change=entry.amount):
        return None
    return _alert(
        entry.account_id,
        user=user,
        after=entry.balance_after,
        threshold=entry.alert_below,
        entry=entry,
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
    threshold = _alert_threshold(account)
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
