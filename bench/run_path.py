"""The run path beside the Django floor and the bare ASGI baseline: runs/s and server CPU per run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pickaxe_bench .venv/bin/python bench/run_path.py [--quick] [--workers N]

Uses a database of its own (DATABASE_URL's name + `_run_path`, dropped at exit) with 300
logged-in users and a pickaxe. Starts the fake model answering at once (51 chunks) and
three servers under the production gunicorn.conf.py, one worker each (`--workers N`):
the project (`config.asgi`), the Django floor (bench/django_floor.py: the project's
Django and middleware doing only a run's network work) and the bare ASGI baseline
(bench/baseline_asgi.py). Then at 1, 8, 32 and 128 closed-loop clients, three rounds per
variant, the variants interleaved round by round (each goes first once), each round
measuring 4 s after a warm-up. Target: the project's runs/s at least 60 % of the floor's
at every level, and every run ok.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time

import harness
from harness import BASELINE, FLOOR, PROJECT, ms, percentile

VARIANTS = (PROJECT, FLOOR, BASELINE)
USERS = 300
TARGET_SHARE_OF_FLOOR = 0.60
FULL = {"levels": (1, 8, 32, 128), "rounds": 3, "window": 4.0}
QUICK = {"levels": (1, 8), "rounds": 2, "window": 2.0}


def measure(setup, cfg, workers):
    """{(variant, clients): [(every run, runs ok inside the window, CPU usage)] per round}."""
    fake, fake_url = harness.start_fake(0.0)
    servers = {variant: setup.server(variant, fake_url, workers) for variant in VARIANTS}
    probe = setup.probe(fake)
    posters = {variant: setup.poster(server) for variant, server in servers.items()}

    async def rounds():
        for variant in VARIANTS:  # warm-up (pools, code paths), not measured
            await harness.closed_loop(posters[variant], 8, probe=probe, server=servers[variant], window=1.0)
        measured = {}
        for clients in cfg["levels"]:
            for r in range(cfg["rounds"]):
                for variant in VARIANTS[r % 3 :] + VARIANTS[: r % 3]:
                    every, inside, used = await harness.closed_loop(
                        posters[variant], clients, probe=probe, server=servers[variant], window=cfg["window"]
                    )
                    measured.setdefault((variant, clients), []).append((every, inside, used))
                    failed = [x for x in every if not x.ok]
                    print(
                        f"  {clients:>3} clients, round {r + 1}, {variant:<8} {len(inside) / used['t']:7.1f} runs/s"
                        + (f", {len(failed)} failed: {harness.problems(failed)}" if failed else ""),
                        flush=True,
                    )
        return measured

    try:
        return asyncio.run(rounds())
    finally:
        probe.close()
        for server in servers.values():
            server.stop()
        fake.stop()


def summarize(rounds):
    """Per (variant, clients): the median round's runs/s, the spread of the rounds, latencies
    over every round's runs, and CPU per run summed over the rounds."""
    stats = {}
    for key, items in rounds.items():
        rates = [len(inside) / used["t"] for _, inside, used in items]
        latencies = [r.latency for _, inside, _ in items for r in inside]
        runs = sum(len(inside) for _, inside, _ in items) or float("nan")
        total = {k: sum(used[k] for _, _, used in items) for k in items[0][2]}
        median = statistics.median(rates)
        stats[key] = {
            "rate": median,
            "rates": rates,
            "spread": (max(rates) - min(rates)) / median if median else float("nan"),
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "cpu": total["server"] / runs,
            "pg": total["pg"] / runs,
            "others": total["others"] / total["t"],
            "sent": sum(len(every) for every, _, _ in items),
            "failed": [r for every, _, _ in items for r in every if not r.ok],
        }
    return stats


def print_results(stats, levels):
    rows = []
    for clients in levels:
        floor = stats[FLOOR, clients]["rate"]
        for variant in VARIANTS:
            s = stats[variant, clients]
            rows.append(
                (
                    str(clients),
                    variant,
                    f"{s['rate']:,.1f}",
                    " ".join(f"{x:.0f}" for x in s["rates"]),
                    f"{s['spread']:.0%}",
                    f"{ms(s['p50']):,.0f}",
                    f"{ms(s['p99']):,.0f}",
                    f"{ms(s['cpu']):.1f}",
                    f"{ms(s['pg']):.1f}",
                    f"{s['others']:.2f}",
                    f"{len(s['failed'])}/{s['sent']}",
                    f"{s['rate'] / floor:.0%}" if floor else "-",
                )
            )
    print(
        "\nruns/s: the median round's; spread: (max - min) / median of the rounds; p50/p99: POST to the end of "
        "the stream;\nCPU: the server's processes, PG: the PostgreSQL backends of the bench database, per run; "
        "others: cores used by everything else on the machine."
    )
    headers = ("clients", "variant", "runs/s", "rounds", "spread", "p50 ms", "p99 ms", "CPU ms/run", "PG ms/run")
    harness.print_table(headers + ("others", "failed", "of floor"), rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 and 8 clients, 2 short rounds (~1.5 min; a smoke test)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per server (production's default: 2)")
    args = parser.parse_args()
    cfg = QUICK if args.quick else FULL
    began = time.perf_counter()
    harness.guard(max_seconds=15 * 60)
    idle_others = harness.others_while_idle()
    setup = harness.Setup("_run_path", USERS)
    print(
        f"Database {setup.db_name!r} (dropped at exit), {USERS} users; {max(1, args.workers)} worker(s) per server; "
        f"{os.cpu_count()} cores, others kept {idle_others:.2f} busy before the start.",
        flush=True,
    )
    stats = summarize(measure(setup, cfg, max(1, args.workers)))
    print_results(stats, cfg["levels"])
    spreads = [s["spread"] for s in stats.values()]
    others = [s["others"] for s in stats.values()]
    print(
        f"\nNoise: others used {min(others):.2f}-{max(others):.2f} of {os.cpu_count()} cores during the rounds "
        f"({idle_others:.2f} before the start); rounds of the same variant and level differed by "
        f"{min(spreads):.0%}-{max(spreads):.0%} (median {statistics.median(spreads):.0%}).\n"
    )
    targets = harness.Targets()
    for clients in cfg["levels"]:
        project, floor = stats[PROJECT, clients]["rate"], stats[FLOOR, clients]["rate"]
        targets.check(
            floor and project >= TARGET_SHARE_OF_FLOOR * floor,
            f"{clients:>3} clients: the project's runs/s at least {TARGET_SHARE_OF_FLOOR:.0%} of the floor's: "
            f"{project:,.1f} vs {floor:,.1f} ({project / floor if floor else 0:.0%}); baseline "
            f"{stats[BASELINE, clients]['rate']:,.1f}",
        )
    sent = {v: sum(stats[v, c]["sent"] for c in cfg["levels"]) for v in VARIANTS}
    failed = {v: sum(len(stats[v, c]["failed"]) for c in cfg["levels"]) for v in VARIANTS}
    targets.check(
        not any(failed.values()),
        "every run ended ok: " + ", ".join(f"{v} {sent[v] - failed[v]}/{sent[v]}" for v in VARIANTS),
    )
    for note in harness.worker_log_notes(setup.logs):
        print(note)
    status = targets.exit_status(began)
    if status:
        setup.keep_logs()
    return status


if __name__ == "__main__":
    sys.exit(main())
