"""Writes to the credit ledger. One function per operation, each in its own transaction.

Every write first locks the account row (`SELECT … FOR UPDATE` on PostgreSQL, where
the spend's admission runs inside the credits_spend() function; SQLite's IMMEDIATE
transactions serialise writers), so a balance is never read by one request and spent
by another.
"""

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery, Sum
from django.utils import timezone

from accounts import plans
from credits.models import CreditAccount, Entry
from credits.selectors import live_sum

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
        account, created = CreditAccount.objects.get_or_create(user_id=user_id)
        if created:
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


def _lock_account(user_id):
    """The caller's transaction holds the account row until it ends."""
    try:
        return CreditAccount.objects.select_for_update().get(user_id=user_id)
    except CreditAccount.DoesNotExist:
        _open_account(user_id)
        return CreditAccount.objects.select_for_update().get(user_id=user_id)


def spend(user, *, key=None, note=""):
    """Use one credit now; the same `key` spends once and returns the first entry.

    Raises OutOfCredits, without writing a use, when the balance is below 1. On
    PostgreSQL this is one call to credits_spend() (migration 0006), which holds the
    row lock only for the few statements inside the server; SQLite runs the same
    steps here.
    """
    spend_steps = _spend_on_postgresql if connection.vendor == "postgresql" else _spend_here
    entry, next_return_at = spend_steps(user.pk, key=key, note=note)
    if entry is None:
        raise OutOfCredits(next_return_at)
    return entry


def _spend_here(user_id, *, key, note):
    """credits_spend()'s steps in Python: an unlocked read (a payer known to be empty is
    refused without queueing for the lock), then the locked admission."""
    account_id, empty_until, earlier_id = _read_without_lock(user_id, key)
    if earlier_id:
        return _earlier_use(earlier_id), None
    if empty_until and empty_until > timezone.now():
        return None, empty_until
    return _admit(account_id or _open_account(user_id).pk, key=key, note=note)


def _spend_on_postgresql(user_id, *, key, note):
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT outcome, next_return_at, entry_id, entry_account FROM credits_spend(%s, %s, %s, %s, %s)",
            [user_id, key, now, now + replenish_period(), note],
        )
        outcome, next_return_at, entry_id, account_id = cursor.fetchone()
    if outcome == "no-account":
        _open_account(user_id)
        return _spend_on_postgresql(user_id, key=key, note=note)
    if outcome == "spent":
        return _new_use(account_id, now=now, key=key, note=note, pk=entry_id), None
    if outcome == "earlier":
        return _earlier_use(entry_id), None
    return None, next_return_at


def _read_without_lock(user_id, key):
    """(account id, "empty until" hint, id of an earlier entry with `key`), unlocked."""
    accounts = CreditAccount.objects.filter(user_id=user_id)
    if key is None:  # (filtering on key=None would match every unkeyed entry)
        row = accounts.values_list("pk", "empty_until").first()
        return (*row, None) if row else (None, None, None)
    earlier = Entry.objects.filter(account_id=OuterRef("pk"), key=key).values("pk")[:1]
    row = accounts.annotate(earlier_id=Subquery(earlier)).values_list("pk", "empty_until", "earlier_id").first()
    return row or (None, None, None)


def _admit(account_id, *, key, note):
    """Lock, check the key and the balance, write the use or the "empty until" hint.

    Returns (entry, None) or (None, next_return_at).
    """
    with transaction.atomic():
        account = CreditAccount.objects.select_for_update().get(pk=account_id)
        now = timezone.now()  # after the lock: entries written while we waited count
        if key:
            earlier = Entry.objects.filter(account_id=account_id, key=key).values_list("pk", flat=True).first()
            if earlier:
                return _earlier_use(earlier), None
        balance = live_sum(account_id, now=now)
        if balance >= 1:
            return _new_use(account_id, now=now, key=key, note=note, save=True), None
        next_return_at = _next_return(account_id, balance, now)
        if next_return_at:
            account.empty_until = next_return_at
            account.save(update_fields=["empty_until"])
    return None, next_return_at


def _earlier_use(entry_id):
    """The entry a retried key was first spent on; a key of another kind of entry is a bug."""
    entry = Entry.objects.get(pk=entry_id)
    if entry.kind != Kind.USE:
        raise ValueError(f"The key {entry.key!r} belongs to a {entry.kind} entry, not a use.")
    entry.replayed = True
    return entry


def _new_use(account_id, *, now, key, note, save=False, pk=None):
    entry = Entry(
        pk=pk,
        account_id=account_id,
        created_at=now,
        kind=Kind.USE,
        amount=-1,
        expires_at=now + replenish_period(),
        key=key,
        note=note,
    )
    entry.replayed = False
    if save:
        entry.save()
    else:  # written by credits_spend(): the instance mirrors the stored row
        entry._state.adding = False
        entry._state.db = connection.alias
    return entry


def _next_return(account_id, balance, now):
    """The first moment after `now` when the balance reaches 1 again, if one is due."""
    changes = (
        Entry.objects.filter(account_id=account_id, expires_at__gt=now)
        .values("expires_at")
        .annotate(total=Sum("amount"))
        .order_by("expires_at")
    )
    for change in changes.iterator():
        balance -= change["total"]  # an expiring entry stops counting
        if balance >= 1:
            return change["expires_at"]
    return None


def _forget_empty_hint(account):
    """Any other ledger write may change when credits come back: recompute on next spend."""
    if account.empty_until is not None:
        account.empty_until = None
        account.save(update_fields=["empty_until"])


def refund(entry, *, note="", staff=None):
    """Give back the credit of a use at once; a use is refunded at most once.

    The refund expires with the use, so the pair cancels while it lasts.
    """
    if entry.kind != Kind.USE:
        raise ValueError("Only a use can be refunded.")
    with transaction.atomic():
        account = CreditAccount.objects.select_for_update().get(pk=entry.account_id)
        if Entry.objects.filter(refund_of=entry).exists():
            raise AlreadyRefunded(f"Use {entry.pk} was already refunded.")
        refund_entry = Entry.objects.create(
            account=account,
            created_at=timezone.now(),
            kind=Kind.REFUND,
            amount=-entry.amount,
            expires_at=entry.expires_at,
            refund_of=entry,
            key=f"refund:{entry.pk}",
            note=note,
            staff=staff,
        )
        _forget_empty_hint(account)
    return refund_entry


def reset_window(user, *, reason, staff, cause=Entry.Cause.STAFF, cause_ref=""):
    """Give back every credit now in use ("reset the 30-day window"): each live use or
    deduction not yet refunded gets its refund, with the same expiry. Returns the count."""
    reason = _require_reason(reason)
    now = timezone.now()
    with transaction.atomic():
        account = _lock_account(user.pk)
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
                staff=staff,
                cause=cause,
                cause_ref=cause_ref,
            )
            for entry in in_use
        ]
        Entry.objects.bulk_create(refunds)
        _forget_empty_hint(account)
    return sum(entry.amount for entry in refunds)


def _require_reason(reason):
    if not (reason or "").strip():
        raise ValueError("A reason is required.")
    return reason.strip()


def _positive(amount):
    if not isinstance(amount, int) or amount < 1:
        raise ValueError("The number of credits must be a whole number of at least 1.")
    return amount


def grant(user, amount, *, expires_at=None, reason, staff=None, cause=Entry.Cause.STAFF, cause_ref=""):
    """Add `amount` bonus credits that count until `expires_at` (default: 30 days)."""
    amount, reason = _positive(amount), _require_reason(reason)
    now = timezone.now()
    expires_at = expires_at or now + replenish_period()
    if expires_at <= now:
        raise ValueError("The expiry must be in the future.")
    with transaction.atomic():
        account = _lock_account(user.pk)
        entry = Entry.objects.create(
            account=account,
            created_at=now,
            kind=Kind.BONUS,
            amount=amount,
            expires_at=expires_at,
            note=reason,
            staff=staff,
            cause=cause,
            cause_ref=cause_ref,
        )
        _forget_empty_hint(account)
    return entry


def deduct(user, amount, *, reason, staff=None, cause=Entry.Cause.STAFF, cause_ref=""):
    """Take `amount` credits away, counted like uses: they come back in 30 days."""
    amount, reason = _positive(amount), _require_reason(reason)
    now = timezone.now()
    with transaction.atomic():
        account = _lock_account(user.pk)
        entry = Entry.objects.create(
            account=account,
            created_at=now,
            kind=Kind.DEDUCTION,
            amount=-amount,
            expires_at=now + replenish_period(),
            note=reason,
            staff=staff,
            cause=cause,
            cause_ref=cause_ref,
        )
        _forget_empty_hint(account)
    return entry


def set_allowance(user, amount, *, reason, cause=Entry.Cause.PLAN, cause_ref=""):
    """Make the plan's allowance `amount` by writing the difference (nothing if none).

    The plan's part is the allowance entries written without a staff user; permanent
    staff changes (adjust_allowance) are kept on top of it.
    """
    reason = _require_reason(reason)
    with transaction.atomic():
        account = _lock_account(user.pk)
        current = (
            Entry.objects.filter(account=account, kind=Kind.ALLOWANCE, staff__isnull=True)
            .aggregate(total=Sum("amount"))["total"]
            or 0
        )
        delta = amount - current
        if delta == 0:
            return None
        entry = Entry.objects.create(
            account=account, created_at=timezone.now(), kind=Kind.ALLOWANCE, amount=delta, note=reason,
            cause=cause, cause_ref=cause_ref,
        )
        _forget_empty_hint(account)
    return entry


def adjust_allowance(user, delta, *, reason, staff, cause=Entry.Cause.STAFF, cause_ref=""):
    """A permanent staff change of the allowance by `delta` (positive or negative)."""
    reason = _require_reason(reason)
    if staff is None:
        raise ValueError("A permanent allowance change names the staff member who made it.")
    if not isinstance(delta, int) or delta == 0:
        raise ValueError("The change must be a whole number other than 0.")
    with transaction.atomic():
        account = _lock_account(user.pk)
        entry = Entry.objects.create(
            account=account,
            created_at=timezone.now(),
            kind=Kind.ALLOWANCE,
            amount=delta,
            note=reason,
            staff=staff,
            cause=cause,
            cause_ref=cause_ref,
        )
        _forget_empty_hint(account)
    return entry
