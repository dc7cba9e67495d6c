"""The burst: 1,000 runs posted at once against a model that takes 10 s, project vs the Django floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pickaxe_bench .venv/bin/python bench/burst.py [--quick] [--workers N]

Uses a database of its own (DATABASE_URL's name + `_burst`, dropped at exit) with 300
logged-in users and a pickaxe. The fake model waits 0.2 s between its 51 chunks (10 s per
answer). A freshly started project server (production gunicorn.conf.py, one worker) gets
1,000 runs posted at once, each given up 60 s after the burst; then a fresh Django floor
server (bench/django_floor.py) the same; then the floor and the project once more, so
that each variant's two bursts straddle the other's (the targets compare their means). Measured: when the last stream opened (response
headers) after the burst, the median run (POST to the end of the stream; a run that did
not end ok counts as endless), and every 50 ms the server's RSS (master + worker) and the
worker's threads. Targets (project): every run ok; the last stream open within 1.3x the
floor's time; the median run within the floor's + 1 s; fewer than 100 threads; RSS under 512 MiB.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time

import harness
from harness import FLOOR, PROJECT, ms, percentile

USERS = 300
ANSWER_DELAY = 0.2  # s between the fake's chunks: 50 pauses, 10 s per answer
RUN_TIMEOUT = 60.0
MAX_LAST_OPEN_RATIO = 1.3
MAX_MEDIAN_EXTRA = 1.0  # s
MAX_THREADS = 100
MAX_RSS = 512 << 20


def burst(setup, variant, fake, fake_url, *, runs, workers):
    """`runs` runs posted at once to a fresh server of `variant`."""

    async def post_all(poster):
        return await asyncio.gather(*(harness.post_run(poster, RUN_TIMEOUT) for _ in range(runs)))

    server = setup.server(variant, fake_url, workers)
    probe = setup.probe(fake)
    try:
        with harness.PeakSampler(server.pid) as peaks:
            s0 = probe.snap(server)
            results = asyncio.run(post_all(setup.poster(server)))
            used = harness.usage(s0, probe.snap(server))
    finally:
        probe.close()
        server.stop()
    opened = sorted(r.t_head - s0["t"] for r in results if r.t_head is not None)
    every = sorted(r.latency if r.ok else float("inf") for r in results)
    return {
        "results": results,
        "ok": sum(r.ok for r in results),
        "last_open": opened[-1] if len(opened) == runs else float("inf"),
        "median_open": percentile(opened, 50),
        "median": every[len(every) // 2],
        "p99": every[min(len(every) - 1, int(len(every) * 0.99))],
        "rss": peaks.peak_rss,
        "threads": peaks.peak_threads,
        "used": used,
    }


def print_results(bursts, runs):
    def seconds(value):
        return f">{RUN_TIMEOUT:g}" if value == float("inf") else f"{value:.2f}"

    rows = [
        (
            variant,
            f"{b['ok']}/{runs}",
            seconds(b["last_open"]),
            seconds(b["median_open"]),
            seconds(b["median"]),
            seconds(b["p99"]),
            f"{b['rss'] / (1 << 20):.0f}",
            str(b["threads"]),
            f"{ms(b['used']['server'] / runs):.1f}",
            f"{ms(b['used']['pg'] / runs):.1f}",
            f"{b['used']['others'] / b['used']['t']:.2f}",
        )
        for variant, b in bursts
    ]
    print(
        f"\nopened: from the burst to a run's response headers; run: POST to the end of the stream (more than "
        f"{RUN_TIMEOUT:g} s: not ended ok);\nRSS: master + worker at peak; CPU: the server's, PG: PostgreSQL's, "
        "per run; others: cores used by everything else on the machine."
    )
    headers = ("variant", "ok", "last opened s", "median opened s", "median run s", "p99 run s", "peak RSS MiB")
    harness.print_table(headers + ("worker threads", "CPU ms/run", "PG ms/run", "others"), rows)
    for variant, b in bursts:
        if b["ok"] < runs:
            print(f"  {variant}: {harness.problems(b['results'])}")


def check(targets, bursts, runs):
    """The targets, on the mean of each variant's bursts (the worst burst for threads and RSS)."""

    def project(key, how=statistics.mean):
        return how(b[key] for variant, b in bursts if variant == PROJECT)

    def floor(key):
        return statistics.mean(b[key] for variant, b in bursts if variant == FLOOR)

    ok, sent = project("ok", sum), runs * sum(variant == PROJECT for variant, _ in bursts)
    targets.check(ok == sent, f"every project run ended ok: {ok}/{sent}")
    targets.check(
        project("last_open") <= MAX_LAST_OPEN_RATIO * floor("last_open"),
        f"the last stream opened within {MAX_LAST_OPEN_RATIO:g}x the floor's time: {project('last_open'):.2f} s "
        f"vs {floor('last_open'):.2f} s ({project('last_open') / floor('last_open'):.2f}x)",
    )
    targets.check(
        project("median") <= floor("median") + MAX_MEDIAN_EXTRA,
        f"the median run within the floor's + {MAX_MEDIAN_EXTRA:g} s: {project('median'):.2f} s vs "
        f"{floor('median'):.2f} s",
    )
    threads, rss = project("threads", max), project("rss", max)
    targets.check(threads < MAX_THREADS, f"fewer than {MAX_THREADS} threads in the worker: {threads}")
    targets.check(rss < MAX_RSS, f"RSS (master + worker) under {MAX_RSS >> 20} MiB: {rss / (1 << 20):.0f} MiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one burst of 300 runs each (a smoke test)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per server (production's default: 2)")
    args = parser.parse_args()
    runs, order = (300, (PROJECT, FLOOR)) if args.quick else (1000, (PROJECT, FLOOR, FLOOR, PROJECT))
    began = time.perf_counter()
    harness.guard(max_seconds=15 * 60)
    idle_others = harness.others_while_idle()
    setup = harness.Setup("_burst", USERS)
    print(
        f"Database {setup.db_name!r} (dropped at exit), {USERS} users; {runs} runs at once, the model taking "
        f"{(harness.CHUNKS - 1) * ANSWER_DELAY:g} s; {max(1, args.workers)} worker(s); {os.cpu_count()} cores, "
        f"others kept {idle_others:.2f} busy before the start.",
        flush=True,
    )
    fake, fake_url = harness.start_fake(ANSWER_DELAY)
    bursts = []
    for variant in order:
        bursts.append((variant, burst(setup, variant, fake, fake_url, runs=runs, workers=max(1, args.workers))))
        print(f"  {variant}: {bursts[-1][1]['ok']}/{runs} ok", flush=True)
    fake.stop()
    print_results(bursts, runs)
    print()
    targets = harness.Targets()
    check(targets, bursts, runs)
    for note in harness.worker_log_notes(setup.logs):
        print(note)
    status = targets.exit_status(began)
    if status:
        setup.keep_logs()
    return status


if __name__ == "__main__":
    sys.exit(main())
