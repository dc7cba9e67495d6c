"""The credit ledger on PostgreSQL: how fast spends are admitted and refused, and whether history slows them.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pickaxe_bench .venv/bin/python bench/ledger.py [--quick]

Uses a database of its own (DATABASE_URL's name + `_ledger`, dropped at exit) and calls
`credits.services` (spend, grant) and `credits.selectors` (balance) in this process, each
thread with its own connection:

1. Hot account: 64 threads spending on one account, in alternating 3-second rounds of
   spend() and of the anchor (the least a spend can be: one conditional UPDATE of the
   balance and one INSERT of the use, in one transaction). Target: spend() admits at least
   the anchor's rate less the noise between neighbouring anchor rounds; no overspends.
2. Overspend check: an account with 225 credits, 64 threads spending until refused.
   Target: exactly 225 uses, balance 0.
3. Refusals: 64 threads calling spend() on an empty account. Target: >= 4x the admitted rate.
4. spend() from one thread with 0 vs 50,000 unexpired entries. Target: p50 within 1.5x.
5. balance() with 0 vs 1,000,000 expired entries. Target: p50 within 2x.
"""

import argparse
import statistics
import sys
import threading
import time

import harness
from harness import ms, percentile

HOT_THREADS = 64
HOT_CREDITS = 10_000_000  # far more than all rounds can spend
EXACT_CREDITS = 200  # granted on top of the Free allowance
LIVE_HISTORY = 50_000
MIN_REFUSALS_PER_ADMISSION = 4.0
MAX_SPEND_P50_RATIO = 1.5
MAX_BALANCE_P50_RATIO = 2.0

FULL = {"rounds": 6, "round_seconds": 3.0, "refuse_seconds": 4.0, "latency_calls": 400, "expired": 1_000_000}
QUICK = {"rounds": 2, "round_seconds": 2.0, "refuse_seconds": 2.0, "latency_calls": 100, "expired": 200_000}


class Threads:
    """What a group of threads did: admitted and refused calls, latencies, errors, elapsed time."""

    def __init__(self):
        self.admitted = self.refused = 0
        self.latencies, self.errors = [], []
        self.elapsed = 0.0
        self.lock = threading.Lock()

    @property
    def rate(self):
        return self.admitted / self.elapsed if self.elapsed else 0.0


def run_threads(count, call, *, seconds=None, until_refused=False):
    """`call(thread, i)` in `count` threads from a common start, for `seconds` or (until_refused)
    until each thread's call raises OutOfCredits; every call's latency recorded."""
    from django.db import connection

    from credits.services import OutOfCredits

    out, start, finished = Threads(), [], [0.0] * count
    barrier = threading.Barrier(count, action=lambda: start.append(time.perf_counter()))

    def worker(index):
        admitted, refused, latencies = 0, 0, []
        try:
            connection.ensure_connection()  # before the clock starts
            barrier.wait(timeout=60)
            deadline = start[0] + seconds if seconds else float("inf")
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    call(index, admitted + refused)
                    admitted += 1
                except OutOfCredits:
                    refused += 1
                latencies.append(time.perf_counter() - t0)
                if refused and until_refused:
                    break
        except Exception as exc:  # noqa: BLE001 - reported, and fails the target
            out.errors.append(f"thread {index}: {type(exc).__name__}: {exc}")
            barrier.abort()
        finally:
            finished[index] = time.perf_counter()
            with out.lock:
                out.admitted, out.refused = out.admitted + admitted, out.refused + refused
                out.latencies.extend(latencies)
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.elapsed = max(finished) - start[0] if start else 0.0
    return out


def new_payer(label, credits):
    from credits.services import grant

    user = harness.new_user(f"{label}-{time.perf_counter_ns()}")
    if credits:
        grant(user, credits, reason="benchmark")
    return user


def uses_of(user):
    from credits.models import Entry

    return Entry.objects.filter(account__user_id=user.pk, kind=Entry.Kind.USE).count()


def row(name, threads, t, notes=""):
    """A table row for a group of threads (or a list of one thread's latencies)."""
    lat = t.latencies
    calls = t.admitted + t.refused
    rate = calls / t.elapsed if t.elapsed else 0.0
    return (
        name,
        str(threads),
        f"{calls:,}",
        f"{rate:,.0f}",
        f"{ms(percentile(lat, 50)):.2f}",
        f"{ms(percentile(lat, 99)):.2f}",
        notes,
    )


# --------------------------------------------------------------------------- 1-3: many threads


def anchor_spend(account_id, key):
    """The least a spend can be: a conditional UPDATE of the account's running balance and a
    plain INSERT of the use, in one transaction; no expiry bookkeeping, refusal hint or
    idempotency. Written against the ledger's tables (credits_creditaccount, credits_entry):
    update it if they change."""
    from django.db import connection, transaction
    from django.utils import timezone

    from credits.services import OutOfCredits, replenish_period

    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE credits_creditaccount SET balance = balance - 1 WHERE id = %s AND balance >= 1 RETURNING id",
            [account_id],
        )
        if cursor.fetchone() is None:
            raise OutOfCredits(None)
        cursor.execute(
            "INSERT INTO credits_entry (account_id, created_at, amount, kind, expires_at, key, note)"
            " VALUES (%s, %s, -1, 'use', %s, %s, '')",
            [account_id, now, now + replenish_period(), key],
        )


def hot_account(cfg, rows):
    """spend() and the anchor on one hot account, rounds alternating so both see the same machine."""
    from django.utils import timezone

    from credits import selectors, services
    from credits.models import CreditAccount

    user = new_payer("hot", HOT_CREDITS)
    services.spend(user, key="hot-first")  # the account's counted_until: this use's expiry, before the anchor's
    account_id = CreditAccount.objects.get(user=user).pk
    available, uses = selectors.available(user), uses_of(user)
    calls = {
        "spend()": lambda r: lambda t, i: services.spend(user, key=f"hot-{r}-{t}-{i}"),
        "anchor": lambda r: lambda t, i: anchor_spend(account_id, f"anchor-{r}-{t}-{i}"),
    }
    runs = {name: [] for name in calls}
    for r in range(cfg["rounds"]):
        for name, call in calls.items():
            runs[name].append(run_threads(HOT_THREADS, call(r), seconds=cfg["round_seconds"]))
    rates = {name: [t.rate for t in done] for name, done in runs.items()}
    for name, done in runs.items():
        total = Threads()
        total.admitted, total.refused = sum(t.admitted for t in done), sum(t.refused for t in done)
        total.elapsed, total.latencies = sum(t.elapsed for t in done), [x for t in done for x in t.latencies]
        rounds_text = "rounds/s " + " ".join(f"{x:,.0f}" for x in rates[name])
        rows.append(row(f"{name}, hot account", HOT_THREADS, total, rounds_text))
    spends, anchors = rates["spend()"], rates["anchor"]
    # Each spend() round against the anchor rounds either side of it, so a drift of the machine
    # cancels out; the noise: how much two neighbouring anchor rounds (the same code) differ.
    beside = [statistics.mean(anchors[max(r - 1, 0) : r + 1]) for r in range(len(spends))]
    ratios = [s / a for s, a in zip(spends, beside, strict=True) if a] or [0.0]  # a = 0: a round failed
    steps = [abs(b - a) / a for a, b in zip(anchors, anchors[1:], strict=False) if a] or [0.0]
    admitted = sum(t.admitted for done in runs.values() for t in done)
    written = uses_of(user) - uses
    return {
        "spend": statistics.median(spends),
        "anchor": statistics.median(anchors),
        "ratio": statistics.median(ratios),
        "noise": statistics.median(steps),
        "overspends": max(0, written - available),
        "consistent": written == admitted and selectors.balance(user) == selectors.balance(user, at=timezone.now()),
        "errors": [e for done in runs.values() for t in done for e in t.errors]
        + [f"{name}: {t.refused} refused" for name, done in runs.items() for t in done if t.refused],
    }


def exact_credits(rows):
    """64 threads spending until refused on an account with a few hundred credits."""
    from credits import selectors, services

    user = new_payer("exact", EXACT_CREDITS)
    credits = selectors.available(user)
    t = run_threads(64, lambda i, n: services.spend(user, key=f"exact-{i}-{n}"), until_refused=True)
    written, end = uses_of(user), selectors.balance(user)
    rows.append(row(f"spend until refused ({credits} credits)", 64, t, f"{written} uses written, end balance {end}"))
    ok = written == t.admitted == credits and end == 0 and t.refused == 64 and not t.errors
    return (
        ok,
        f"{credits} credits, 64 threads spending until refused: {written} uses (want {credits}), end balance {end}",
    )


def refusals(cfg, rows):
    """64 threads calling spend() on an account spent to 0 through spend() itself."""
    from credits import services

    user = new_payer("empty", EXACT_CREDITS)
    n = 0
    while True:
        try:
            services.spend(user, key=f"empty-{n}")
            n += 1
        except services.OutOfCredits:
            break
    before = uses_of(user)
    t = run_threads(64, lambda i, k: services.spend(user, key=f"refuse-{i}-{k}"), seconds=cfg["refuse_seconds"])
    rate = t.refused / t.elapsed if t.elapsed else 0.0
    let_through = max(t.admitted, uses_of(user) - before)
    rows.append(row("spend refused, empty account", 64, t, f"{let_through} let through"))
    return rate, let_through, t.errors


# --------------------------------------------------------------------------- 4-5: history


def add_live_history(user):
    """LIVE_HISTORY unexpired +1 bonuses (expiring 31 to ~66 days ahead, after the account's
    counted_until) in one INSERT ... SELECT, the running balance raised to match, ANALYZE.
    Written against the ledger's tables: the fastest way to make history."""
    from django.db import connection

    from credits.models import CreditAccount

    account_id = CreditAccount.objects.get(user=user).pk
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO credits_entry (account_id, created_at, amount, kind, expires_at, note, key)"
            " SELECT %s, now(), 1, 'bonus', now() + interval '31 days' + g * interval '1 minute', '', NULL"
            " FROM generate_series(1, %s) AS g",
            [account_id, LIVE_HISTORY],
        )
        cursor.execute(
            "UPDATE credits_creditaccount SET balance = balance + %s WHERE id = %s", [LIVE_HISTORY, account_id]
        )
        cursor.execute("ANALYZE credits_entry")


def add_expired_history(user, count):
    """`count` expired uses, one a minute from 1000 days ago, each expired 30 days after it
    was made; then ANALYZE. Written against the ledger's tables."""
    from django.db import connection

    from credits.models import CreditAccount

    account_id = CreditAccount.objects.get(user=user).pk
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO credits_entry (account_id, created_at, amount, kind, expires_at, note, key)"
            " SELECT %s, now() - interval '1000 days' + g * interval '1 minute', -1, 'use',"
            " now() - interval '970 days' + g * interval '1 minute', '', NULL FROM generate_series(1, %s) AS g",
            [account_id, count],
        )
        cursor.execute("ANALYZE credits_entry")


def timed(calls, call):
    """Latencies of `call()` after a tenth as many warm-up calls, as a one-thread Threads."""
    for _ in range(calls // 10):
        call()
    t = Threads()
    for _ in range(calls):
        t0 = time.perf_counter()
        call()
        t.latencies.append(time.perf_counter() - t0)
    t.admitted, t.elapsed = calls, sum(t.latencies)
    return t


def spend_with_history(cfg, rows):
    """spend() from one thread on two accounts, call by call in turn (so both see the same
    moments of the machine): one without and one with LIVE_HISTORY live entries."""
    from credits import services

    accounts = {"0": new_payer("few-live", HOT_CREDITS), f"{LIVE_HISTORY:,}": new_payer("many-live", HOT_CREDITS)}
    for user in accounts.values():
        services.spend(user, key="first")
    add_live_history(accounts[f"{LIVE_HISTORY:,}"])
    timings = {label: Threads() for label in accounts}
    calls = cfg["latency_calls"]
    for n in range(calls + calls // 10):  # the first tenth warms up
        for label, user in accounts.items():
            t0 = time.perf_counter()
            services.spend(user, key=f"latency-{n}")
            if n >= calls // 10:
                timings[label].latencies.append(time.perf_counter() - t0)
    for label, t in timings.items():
        t.admitted, t.elapsed = calls, sum(t.latencies)
        rows.append(row(f"spend(), 1 thread, {label} live entries", 1, t))
    return [percentile(t.latencies, 50) for t in timings.values()]


def balance_with_history(cfg, rows):
    """balance() of two accounts with the same live entries, one with a long expired history."""
    from credits import selectors, services

    plain, big = new_payer("no-history", 0), new_payer("long-history", 0)
    for user in (plain, big):
        for i in range(20):
            services.spend(user, key=f"balance-{i}")
    add_expired_history(big, cfg["expired"])
    p50 = []
    for label, user in (("no history", plain), (f"{cfg['expired']:,} expired entries", big)):
        t = timed(300, lambda user=user: selectors.balance(user))
        rows.append(row(f"balance(), {label}", 1, t, f"balance {selectors.balance(user)}"))
        p50.append(percentile(t.latencies, 50))
    return p50, selectors.balance(plain) == selectors.balance(big)


# --------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter rounds (~30 s; a smoke test)")
    cfg = QUICK if parser.parse_args().quick else FULL
    began = time.perf_counter()
    harness.guard(max_seconds=15 * 60)
    url, name, _ = harness.create_database("_ledger")
    harness.setup_django(harness.production_env(url))
    print(
        f"Database {name!r} (dropped at exit). {cfg['rounds']} rounds each of spend() and the anchor, "
        f"{cfg['round_seconds']:g} s, {HOT_THREADS} threads. Others kept {harness.others_while_idle():.2f} "
        "of 2 cores busy before the start.\n",
        flush=True,
    )
    rows = []
    hot = hot_account(cfg, rows)
    exact = exact_credits(rows)
    refused_rate, let_through, refusal_errors = refusals(cfg, rows)
    spend_p50 = spend_with_history(cfg, rows)
    balance_p50, balances_equal = balance_with_history(cfg, rows)
    harness.print_table(("benchmark", "threads", "calls", "calls/s", "p50 ms", "p99 ms", "notes"), rows)
    print(f"\nOthers kept {harness.others_while_idle():.2f} of 2 cores busy after the end.\n")
    for error in (hot["errors"] + refusal_errors)[:10]:
        print(f"ERROR {error}")
    targets = harness.Targets()
    targets.check(
        hot["ratio"] >= 1 - hot["noise"],
        f"spend() admitted/s at {HOT_THREADS} threads >= the anchor's less the noise ({hot['noise']:.1%}): "
        f"{hot['ratio']:.2f}x its neighbouring anchor rounds; median rounds {hot['spend']:,.0f}/s vs {hot['anchor']:,.0f}/s",
    )
    targets.check(
        hot["overspends"] == 0 and hot["consistent"] and not hot["errors"],
        f"no overspends on the hot account: {hot['overspends']}; uses written = spends admitted and running "
        f"balance = entries summed: {hot['consistent']}",
    )
    targets.check(*exact)
    ratio = refused_rate / hot["spend"] if hot["spend"] else float("inf")
    targets.check(
        ratio >= MIN_REFUSALS_PER_ADMISSION and let_through == 0 and not refusal_errors,
        f"refusals/s on an empty account >= {MIN_REFUSALS_PER_ADMISSION:g}x spend() admitted/s: "
        f"{refused_rate:,.0f} vs {hot['spend']:,.0f} ({ratio:.1f}x); let through: {let_through}",
    )
    ratio = spend_p50[1] / spend_p50[0]
    targets.check(
        ratio <= MAX_SPEND_P50_RATIO,
        f"spend() p50 with {LIVE_HISTORY:,} live entries within {MAX_SPEND_P50_RATIO:g}x of none: "
        f"{ms(spend_p50[1]):.2f} vs {ms(spend_p50[0]):.2f} ms ({ratio:.2f}x)",
    )
    ratio = balance_p50[1] / balance_p50[0]
    targets.check(
        1 / MAX_BALANCE_P50_RATIO <= ratio <= MAX_BALANCE_P50_RATIO and balances_equal,
        f"balance() p50 with {cfg['expired']:,} expired entries within {MAX_BALANCE_P50_RATIO:g}x of none: "
        f"{ms(balance_p50[1]):.2f} vs {ms(balance_p50[0]):.2f} ms ({ratio:.2f}x)",
    )
    return targets.exit_status(began)


if __name__ == "__main__":
    sys.exit(main())
