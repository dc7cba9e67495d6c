"""Benchmarks of the credit ledger on PostgreSQL: `make bench` (see bench/README.md).

Creates (drops first) the database named in DATABASE_URL, migrates it, then measures:

1. One hot account, 64 threads, alternating 3-second rounds of spend() and of the anchor
   (bench_anchor_spend: a bare conditional UPDATE + INSERT in one transaction):
   admitted/s per round, p50/p99, overspends; plus an overspend check (200 credits, 64
   threads spending until refused).
2. Refusals: 64 threads calling spend() on an account that is out of credits.
3. spend() latency, one thread, with 0 versus 50,000 unexpired entries on the account.
4. balance() latency with 0 versus 1,000,000 expired entries of history, and its plan.

Prints a table and one PASS/FAIL line per target; exits 1 if any target fails.
"""

import atexit
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/pickaxe_bench"

HOT_THREADS = 64
ROUND_SECONDS = 3.0
ROUNDS = 6  # of each of spend() and the anchor, alternating
REFUSE_SECONDS = 4.0
HOT_ALLOWANCE = 10_000_000  # far more than all rounds can spend
EXACT_CREDITS = 200  # the overspend check's account
LIVE_HISTORY = 50_000
LATENCY_CALLS = 400  # per account, alternating between the two
LATENCY_WARMUP = 40
EXPIRED_HISTORY = 1_000_000
BALANCE_CALLS = 300
BALANCE_WARMUP = 30

MIN_REFUSAL_TO_ADMIT_RATIO = 4.0
MAX_SPEND_P50_RATIO = 1.5
MAX_BALANCE_P50_RATIO = 2.0


# --------------------------------------------------------------------------- setup


def database_settings(url):
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit(f"bench: DATABASE_URL must be a PostgreSQL URL, not {parts.scheme!r}.")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        sys.exit("bench: DATABASE_URL names no database.")
    if "bench" not in name:
        # The database is dropped and re-created: refuse anything that is not obviously
        # a throw-away benchmark database.
        sys.exit(f"bench: refusing to drop database {name!r}; its name must contain 'bench'.")
    return name, {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": unquote(parts.username) if parts.username else "postgres",
        "password": unquote(parts.password) if parts.password else None,
    }


def recreate_database(url):
    """Drop and create the URL's database; it is dropped again when the script exits
    (it holds over a million rows by then)."""
    name = _maintain(url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", "CREATE DATABASE {}")
    atexit.register(drop_database, url)
    return name


def drop_database(url):
    from django.db import connections

    connections.close_all()
    _maintain(url, "DROP DATABASE IF EXISTS {} WITH (FORCE)")


def _maintain(url, *statements):
    """Run `statements` (each naming the URL's database as {}) from the maintenance database."""
    import psycopg
    from psycopg import sql

    name, params = database_settings(url)
    params = {k: v for k, v in params.items() if v is not None}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        for statement in statements:
            conn.execute(sql.SQL(statement).format(sql.Identifier(name)))
    return name


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Each thread holds its own connection, as each web request would: no per-process cap.
    os.environ["DATABASE_POOL_MAX_SIZE"] = "0"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # Measure what production runs: no per-query debug log in the connection (DEBUG is
    # on by default in development settings). Only this process is affected.
    settings.DEBUG = False
    call_command("migrate", verbosity=0, interactive=False)


# --------------------------------------------------------------------------- helpers

_user_counter = 0


def new_user(label):
    from accounts.models import User

    global _user_counter
    _user_counter += 1
    # create_user hashes a password; an unusable one is enough here and is cheap.
    user = User(email=f"bench-{label}-{_user_counter}@example.com")
    user.set_unusable_password()
    user.save()  # post_save opens the credit account with the Free allowance
    return user


def percentile(values, p):
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    # statistics.quantiles with n=100 gives the 1st..99th percentiles.
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def ms(seconds):
    return seconds * 1000.0


class Run:
    """What a group of threads did: counts, latencies, elapsed time, unexpected errors."""

    def __init__(self):
        self.admitted = 0
        self.refused = 0
        self.latencies = []
        self.errors = []
        self.elapsed = 0.0
        self.lock = threading.Lock()

    @property
    def calls(self):
        return self.admitted + self.refused


def run_threads(threads, call, *, seconds=None, stop_on_refusal=False):
    """Run `call(thread_index, i)` in `threads` threads.

    Either for `seconds` from a common start, or (stop_on_refusal) until each thread's
    call raises OutOfCredits. Each call's latency is recorded.
    """
    from django.db import connection

    from credits.services import OutOfCredits

    run = Run()
    state = {}
    barrier = threading.Barrier(threads, action=lambda: state.setdefault("start", time.perf_counter()))
    finished = [0.0] * threads

    def worker(index):
        admitted = refused = 0
        latencies = []
        try:
            connection.ensure_connection()  # connect before the clock starts
            barrier.wait(timeout=60)
            deadline = state["start"] + seconds if seconds is not None else None
            i = 0
            while deadline is None or time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    call(index, i)
                except OutOfCredits:
                    latencies.append(time.perf_counter() - t0)
                    refused += 1
                    if stop_on_refusal:
                        break
                else:
                    latencies.append(time.perf_counter() - t0)
                    admitted += 1
                i += 1
        except Exception as exc:  # noqa: BLE001 - reported, and fails the run
            with run.lock:
                run.errors.append(f"thread {index}: {type(exc).__name__}: {exc}")
            if not isinstance(exc, threading.BrokenBarrierError):
                barrier.abort()  # release the others if this one never reached the start
        finally:
            finished[index] = time.perf_counter()
            with run.lock:
                run.admitted += admitted
                run.refused += refused
                run.latencies.extend(latencies)
            connection.close()

    workers = [threading.Thread(target=worker, args=(n,), name=f"bench-{n}") for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if "start" in state:
        run.elapsed = max(finished) - state["start"]
    return run


def use_count(user):
    from credits.models import Entry

    return Entry.objects.filter(account__user_id=user.pk, kind=Entry.Kind.USE).count()


# --------------------------------------------------------------------------- benchmarks


def bench_anchor_spend(account_id, key):
    """The anchor: the least a spend can be, one conditional UPDATE of a balance column and
    one INSERT of the use, in one transaction through Django's connection. It keeps no
    expiry, no refusal hint and no idempotency; spend() is measured against it."""
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


def bench_hot_account(rows):
    """spend() and the anchor on the same hot account, in alternating rounds so that both
    see the same machine; the spread of the anchor's own rounds is the noise."""
    from django.utils import timezone

    from credits import selectors, services
    from credits.models import CreditAccount

    user = new_user("hot")
    services.set_allowance(user, HOT_ALLOWANCE, reason="benchmark: hot account")
    services.spend(user, key="hot-first")  # counted_until = this use's expiry, before the anchor's
    account_id = CreditAccount.objects.get(user=user).pk
    available_at_start = selectors.available(user)
    written_at_start = use_count(user)
    calls = {
        "spend()": lambda index, i, r: services.spend(user, key=f"hot-{r}-{index}-{i}"),
        "anchor": lambda index, i, r: bench_anchor_spend(account_id, f"anchor-{r}-{index}-{i}"),
    }
    rounds = {name: [] for name in calls}
    runs = []
    for r in range(ROUNDS):
        for name, call in calls.items():
            run = run_threads(HOT_THREADS, lambda index, i, call=call, r=r: call(index, i, r), seconds=ROUND_SECONDS)
            rounds[name].append(run.admitted / run.elapsed if run.elapsed else 0.0)
            runs.append((name, run))
    admitted = sum(run.admitted for _, run in runs)
    written = use_count(user) - written_at_start
    account = CreditAccount.objects.get(user=user)
    summed = selectors.balance(user, at=timezone.now())  # from the entries, not the row
    for name in calls:
        named = [run for n, run in runs if n == name]
        latencies = [t for run in named for t in run.latencies]
        rates = rounds[name]
        rows.append(
            (
                f"{name}, hot account, {ROUNDS} rounds",
                HOT_THREADS,
                sum(run.elapsed for run in named),
                sum(run.admitted for run in named),
                statistics.median(rates),
                ms(percentile(latencies, 50)),
                ms(percentile(latencies, 99)),
                "rounds/s " + " ".join(f"{rate:,.0f}" for rate in rates),
            )
        )
    spends, anchors = rounds["spend()"], rounds["anchor"]
    # Rounds run s0 a0 s1 a1 …: each spend() round is compared with the anchor rounds on
    # either side of it, so a drift of the machine over the run cancels out. The noise is
    # how much two neighbouring anchor rounds typically differ: the same code, measured
    # twice, 6 s apart.
    ratios = [s / statistics.mean(anchors[max(r - 1, 0) : r + 1]) for r, s in enumerate(spends) if anchors[r]]
    steps = [abs(b - a) / a for a, b in zip(anchors, anchors[1:], strict=False) if a]
    return {
        "spend": statistics.median(spends),
        "anchor": statistics.median(anchors),
        "ratio": statistics.median(ratios) if ratios else 0.0,
        "anchor_noise": statistics.median(steps) if steps else float("nan"),
        "overspends": max(0, written - available_at_start),
        "mismatch": written != admitted or account.balance != summed,
        "refused": sum(run.refused for _, run in runs),
        "errors": [e for _, run in runs for e in run.errors],
        "row_and_entries": (account.balance, summed),
    }


def bench_exact_credits(rows):
    from credits import selectors, services

    user = new_user("exact")
    services.set_allowance(user, EXACT_CREDITS, reason="benchmark: exactly 200 credits")
    start_available = selectors.available(user)

    def call(index, i):
        services.spend(user, key=f"exact-{index}-{i}")

    run = run_threads(64, call, stop_on_refusal=True)
    written = use_count(user)
    end_balance = selectors.balance(user)
    rows.append(
        (
            f"spend until refused ({start_available} credits)",
            64,
            run.elapsed,
            run.admitted,
            run.admitted / run.elapsed if run.elapsed else 0.0,
            ms(percentile(run.latencies, 50)),
            ms(percentile(run.latencies, 99)),
            f"uses written {written} (want {EXACT_CREDITS}), refused {run.refused}, end balance {end_balance}",
        )
    )
    return {
        "start_available": start_available,
        "written": written,
        "admitted": run.admitted,
        "end_balance": end_balance,
        "errors": run.errors,
        "all_refused": run.refused == 64,
    }


def bench_refusals(rows):
    from credits import selectors, services
    from credits.models import CreditAccount

    # The same kind of hot account, spent to 0 through spend() itself (its uses come
    # back in 30 days, so the first refusal records when the account is empty until).
    user = new_user("empty")
    services.set_allowance(user, EXACT_CREDITS, reason="benchmark: account to empty")
    spent = 0
    while True:
        try:
            services.spend(user, key=f"empty-setup-{spent}")
        except services.OutOfCredits:
            break
        spent += 1
    hint = CreditAccount.objects.get(user=user).empty_until
    written_before = use_count(user)

    def call(index, i):
        services.spend(user, key=f"refuse-{index}-{i}")

    run = run_threads(64, call, seconds=REFUSE_SECONDS)
    written_after = use_count(user)
    rate = run.refused / run.elapsed if run.elapsed else 0.0
    rows.append(
        (
            "spend refused, empty account",
            64,
            run.elapsed,
            run.refused,
            rate,
            ms(percentile(run.latencies, 50)),
            ms(percentile(run.latencies, 99)),
            f"spent {spent} to reach 0, balance {selectors.balance(user)}, "
            f"admitted {run.admitted}, empty_until {'set' if hint else 'NOT set'}",
        )
    )
    return {
        "rate": rate,
        # Spends let through on an empty account: by the callers' count and by the ledger's.
        "admitted": max(run.admitted, written_after - written_before),
        "errors": run.errors,
    }


def insert_live_history(user):
    """LIVE_HISTORY unexpired bonus entries of +1, by one INSERT … SELECT, then ANALYZE.

    They expire 31 to ~60 days ahead, after the account's counted_until (its first use's
    expiry), so the running balance stays right by adding their sum to it, as a grant
    would. Returns (rows inserted, seconds).
    """
    from django.db import connection

    from credits.models import CreditAccount

    account_id = CreditAccount.objects.get(user=user).pk
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO credits_entry (account_id, created_at, amount, kind, expires_at, note, key)
            SELECT %s, now(), 1, 'bonus', now() + interval '31 days' + g * interval '1 minute', '', NULL
            FROM generate_series(1, %s) AS g
            """,
            [account_id, LIVE_HISTORY],
        )
        inserted = cursor.rowcount
        cursor.execute("UPDATE credits_creditaccount SET balance = balance + %s WHERE id = %s", [inserted, account_id])
        cursor.execute("ANALYZE credits_entry")
    return inserted, time.perf_counter() - t0


def bench_spend_latency(rows):
    """spend() from one thread on two accounts, alternating call by call: one with only its
    allowance and uses, one with 50,000 more unexpired entries."""
    from django.utils import timezone

    from credits import selectors, services
    from credits.models import CreditAccount, Entry

    accounts = {}
    for label in ("few live entries", "50k live entries"):
        user = new_user("latency")
        services.set_allowance(user, HOT_ALLOWANCE, reason="benchmark: latency")
        services.spend(user, key="latency-first")
        accounts[label] = user
    inserted, insert_seconds = insert_live_history(accounts["50k live entries"])

    latencies = {label: [] for label in accounts}
    for i in range(LATENCY_WARMUP + LATENCY_CALLS):
        for label, user in accounts.items():
            t0 = time.perf_counter()
            services.spend(user, key=f"latency-{i}")
            if i >= LATENCY_WARMUP:
                latencies[label].append(time.perf_counter() - t0)
    for label, user in accounts.items():
        values = latencies[label]
        live = Entry.objects.filter(account__user_id=user.pk).count()
        row = CreditAccount.objects.get(user=user).balance
        rows.append(
            (
                f"spend(), 1 thread, {label}",
                1,
                sum(values),
                len(values),
                len(values) / sum(values),
                ms(percentile(values, 50)),
                ms(percentile(values, 99)),
                f"{live:,} live entries, balance {row:,} (entries: {selectors.balance(user, at=timezone.now()):,})",
            )
        )
    return {
        "p50_small": percentile(latencies["few live entries"], 50),
        "p50_big": percentile(latencies["50k live entries"], 50),
        "inserted": inserted,
        "insert_seconds": insert_seconds,
    }


def insert_expired_history(user):
    from django.db import connection

    from credits.models import CreditAccount

    account_id = CreditAccount.objects.get(user=user).pk
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        # Expired uses, one a minute, created 1000 to ~306 days ago, each expired 30 days
        # after it was created: all of it lies in the past. kind 'use' needs a negative
        # amount and an expiry (credits_entry_sign_and_expiry_match_kind); key is NULL,
        # so the per-account unique key does not apply.
        cursor.execute(
            """
            INSERT INTO credits_entry (account_id, created_at, amount, kind, expires_at, note, key)
            SELECT %s,
                   now() - interval '1000 days' + g * interval '1 minute',
                   -1,
                   'use',
                   now() - interval '970 days' + g * interval '1 minute',
                   '',
                   NULL
            FROM generate_series(1, %s) AS g
            """,
            [account_id, EXPIRED_HISTORY],
        )
        inserted = cursor.rowcount
        cursor.execute("ANALYZE credits_entry")
    return inserted, time.perf_counter() - t0


def time_balance(user):
    from credits import selectors

    for _ in range(BALANCE_WARMUP):
        selectors.balance(user)
    latencies = []
    for _ in range(BALANCE_CALLS):
        t0 = time.perf_counter()
        selectors.balance(user)
        latencies.append(time.perf_counter() - t0)
    return latencies


def balance_plan(user):
    """EXPLAIN (ANALYZE) of exactly the SQL selectors.balance() sends."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from credits import selectors

    with CaptureQueriesContext(connection) as captured:
        selectors.balance(user)
    sql = captured.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return sql, plan


def bench_balance(rows):
    from credits import selectors, services
    from credits.models import Entry

    accounts = {}
    for label in ("no history", "1M expired"):
        user = new_user("balance")
        for i in range(20):  # 25 allowance + 20 live uses: balance 5
            services.spend(user, key=f"balance-{i}")
        accounts[label] = user
    inserted, insert_seconds = insert_expired_history(accounts["1M expired"])

    timings = {}
    for label, user in accounts.items():
        latencies = time_balance(user)
        entries = Entry.objects.filter(account__user_id=user.pk).count()
        timings[label] = percentile(latencies, 50)
        rows.append(
            (
                f"balance(), {label}",
                1,
                sum(latencies),
                len(latencies),
                len(latencies) / sum(latencies),
                ms(percentile(latencies, 50)),
                ms(percentile(latencies, 99)),
                f"{entries} entries, balance {selectors.balance(user)}",
            )
        )
    sql, plan = balance_plan(accounts["1M expired"])
    return {
        "p50_small": timings["no history"],
        "p50_big": timings["1M expired"],
        "inserted": inserted,
        "insert_seconds": insert_seconds,
        "sql": sql,
        "plan": plan,
        "balances_equal": selectors.balance(accounts["no history"]) == selectors.balance(accounts["1M expired"]),
    }


# --------------------------------------------------------------------------- report


def print_table(rows):
    headers = ("benchmark", "threads", "secs", "ops", "ops/s", "p50 ms", "p99 ms", "notes")
    cells = [
        (name, str(threads), f"{secs:.2f}", str(ops), f"{rate:,.0f}", f"{p50:.2f}", f"{p99:.2f}", notes)
        for name, threads, secs, ops, rate, p50, p99, notes in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    right = {1, 2, 3, 4, 5, 6}

    def line(values):
        return "  ".join(
            v.rjust(widths[i]) if i in right else v.ljust(widths[i]) for i, v in enumerate(values)
        ).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for c in cells:
        print(line(c))


def main():
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    os.environ["DATABASE_URL"] = url
    began = time.perf_counter()
    name = recreate_database(url)
    setup_django()

    from django.db import connection

    print(
        f"Benchmark database {name!r} created and migrated ({connection.vendor}, "
        f"PostgreSQL {connection.pg_version // 10000}); {os.cpu_count()} CPU cores."
    )
    print(
        f"spend(): {ROUNDS} rounds each of spend() and the anchor, alternating, {ROUND_SECONDS:g} s each at "
        f"{HOT_THREADS} threads; refusals {REFUSE_SECONDS:g} s; spend latency {LATENCY_CALLS} calls per account; "
        f"balance {BALANCE_CALLS} calls after {BALANCE_WARMUP} warm-up calls.\n",
        flush=True,
    )

    rows = []
    hot = bench_hot_account(rows)
    exact = bench_exact_credits(rows)
    refusals = bench_refusals(rows)
    latency = bench_spend_latency(rows)
    bal = bench_balance(rows)

    print_table(rows)
    print()
    print(
        f"Inserted {latency['inserted']:,} live entries (+ ANALYZE) in {latency['insert_seconds']:.1f} s; "
        f"{bal['inserted']:,} expired entries (+ ANALYZE) in {bal['insert_seconds']:.1f} s."
    )
    print("balance() SQL for the account with 1M expired entries:")
    print("  " + bal["sql"])
    print("EXPLAIN (ANALYZE, BUFFERS):")
    for plan_line in bal["plan"].splitlines():
        print("  " + plan_line)
    index_used = "credits_entry_live_idx" in bal["plan"]
    print(f"Index credits_entry_live_idx used: {'yes' if index_used else 'NO'}")
    print()

    verdicts = []

    def target(ok, text):
        verdicts.append(ok)
        print(f"{'PASS' if ok else 'FAIL'}  {text}")

    errors = hot["errors"] + exact["errors"] + refusals["errors"]
    for e in errors[:10]:
        print(f"ERROR {e}")

    spend_rate, anchor_rate, ratio, noise = hot["spend"], hot["anchor"], hot["ratio"], hot["anchor_noise"]
    target(
        ratio >= 1 - noise,
        f"spend() admitted/s at {HOT_THREADS} threads >= the anchor's, less the noise between neighbouring "
        f"anchor rounds ({noise:.1%}): spend() rounds at {ratio:.2f}x their neighbouring anchor rounds "
        f"(median; want >= {1 - noise:.2f}x); median rounds {spend_rate:,.0f}/s vs {anchor_rate:,.0f}/s",
    )
    clean = not (hot["mismatch"] or hot["refused"] or hot["errors"])
    target(
        hot["overspends"] == 0 and clean,
        f"no overspends on the hot account: {hot['overspends']} overspends; row balance "
        f"{hot['row_and_entries'][0]:,} vs entries {hot['row_and_entries'][1]:,}"
        + ("" if clean else " (and errors, refusals or a count mismatch: see above)"),
    )
    target(
        exact["written"] == EXACT_CREDITS
        and exact["admitted"] == EXACT_CREDITS
        and exact["end_balance"] == 0
        and exact["all_refused"]
        and not exact["errors"],
        f"{EXACT_CREDITS} credits, 64 threads spending until refused: {exact['written']} use entries "
        f"(want exactly {EXACT_CREDITS}), end balance {exact['end_balance']}",
    )
    ratio = refusals["rate"] / spend_rate if spend_rate else float("inf")
    target(
        ratio >= MIN_REFUSAL_TO_ADMIT_RATIO and refusals["admitted"] == 0 and not refusals["errors"],
        f"refusals/s once empty >= {MIN_REFUSAL_TO_ADMIT_RATIO:g}x spend() admitted/s, both at 64 threads: "
        f"{refusals['rate']:,.0f}/s vs {spend_rate:,.0f}/s ({ratio:.1f}x)"
        + (f"; {refusals['admitted']} spends admitted on an empty account!" if refusals["admitted"] else ""),
    )
    spend_ratio = latency["p50_big"] / latency["p50_small"]
    target(
        spend_ratio <= MAX_SPEND_P50_RATIO,
        f"spend() p50 (1 thread) with {LIVE_HISTORY:,} unexpired entries within {MAX_SPEND_P50_RATIO:g}x of "
        f"without: {ms(latency['p50_big']):.2f} ms vs {ms(latency['p50_small']):.2f} ms ({spend_ratio:.2f}x)",
    )
    p50_ratio = bal["p50_big"] / bal["p50_small"]
    target(
        1 / MAX_BALANCE_P50_RATIO <= p50_ratio <= MAX_BALANCE_P50_RATIO and bal["balances_equal"],
        f"balance() p50 with 1M expired entries within {MAX_BALANCE_P50_RATIO:g}x of no history: "
        f"{ms(bal['p50_big']):.2f} ms vs {ms(bal['p50_small']):.2f} ms ({p50_ratio:.2f}x)",
    )

    failed = verdicts.count(False)
    print(f"\n{len(verdicts) - failed}/{len(verdicts)} targets met in {time.perf_counter() - began:.0f} s.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
