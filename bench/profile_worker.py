"""Where the project's worker spends its CPU on the run path: py-spy samples it under load.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pickaxe_bench .venv/bin/python bench/profile_worker.py [SECONDS]

Sets up as bench/run_path.py does (a database of its own, `_profile`, dropped at exit),
starts the fake model (answering at once) and the project under the production
gunicorn.conf.py with one worker, and while 8 clients post runs for SECONDS (default 20)
`py-spy record --gil --nonblocking` samples whichever thread of the worker holds the GIL.
Prints the share of samples by library (the innermost frame that belongs to one) and the
functions with the most samples of their own. The sampler costs the worker CPU too: read
the shares, not absolute times.
"""

import argparse
import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import harness

CLIENTS = 8
GROUPS = (  # first match wins, from the innermost frame out
    ("SQL (psycopg, pool)", ("psycopg",)),
    ("ORM", ("django/db/",)),
    ("openai SDK", ("openai/",)),
    ("HTTP client (httpx2, httpcore)", ("httpx2/", "httpcore", "h11/", "anyio/")),
    ("Redis", ("redis/",)),
    ("templates", ("django/template/",)),
    ("sessions, auth", ("django/contrib/sessions", "django/contrib/auth", "allauth/")),
    ("Django request, middleware", ("django/core/handlers", "django/middleware", "django/http/", "django/utils/")),
    ("asgiref threads", ("asgiref/",)),
    ("uvicorn", ("uvicorn/", "uvloop", "httptools")),
    ("asyncio", ("asyncio/",)),
    ("the project's code", ("/pickaxes/", "/credits/", "/accounts/", "/embeds/", "/billing/", "/config/")),
)


def sample(seconds):
    """Raw py-spy stacks of the project's worker while CLIENTS clients post runs."""
    setup = harness.Setup("_profile", 100)
    fake, fake_url = harness.start_fake(0.0)
    server = setup.server(harness.PROJECT, fake_url, 1)
    probe, poster = setup.probe(fake), setup.poster(server)
    worker = [pid for pid in harness.process_tree(server.pid) if pid != server.pid][0]
    raw = setup.logs / "py-spy.txt"
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    loop = harness.closed_loop
    asyncio.run(loop(poster, CLIENTS, probe=probe, server=server, window=2.0))  # warm-up
    spy = subprocess.Popen(
        [py_spy, "record", "-p", str(worker), "-d", str(int(seconds)), "-r", "200", "--nonblocking", "--gil"]
        + ["-f", "raw", "-o", str(raw)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    every, inside, used = asyncio.run(loop(poster, CLIENTS, probe=probe, server=server, window=seconds))
    spy.wait(seconds + 30)
    print(
        f"{len(inside) / used['t']:.1f} runs/s, {sum(not r.ok for r in every)} failed; the server's CPU "
        f"{harness.ms(used['server'] / max(1, len(inside))):.1f} ms per run under the sampler"
    )
    return raw.read_text().splitlines()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seconds", nargs="?", type=float, default=20.0)
    harness.guard(max_seconds=10 * 60)
    groups, own, total = {}, {}, 0
    for line in sample(parser.parse_args().seconds):
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")[1:]  # the first is the thread
        total += int(count)
        own[frames[-1] if frames else "?"] = own.get(frames[-1] if frames else "?", 0) + int(count)
        found = next((g for f in reversed(frames) for g, marks in GROUPS if any(m in f for m in marks)), "other")
        groups[found] = groups.get(found, 0) + int(count)
    print(f"\n{total} samples, by the innermost library frame:")
    for name, count in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {count / total:6.1%}  {name}")
    print("\nFunctions with the most samples of their own:")
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {count / total:6.1%}  {frame[:140]}")


if __name__ == "__main__":
    sys.exit(main())
