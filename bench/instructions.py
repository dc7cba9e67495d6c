"""Instructions per site run, counted by callgrind: the run path's CPU in a figure the machine's load does not move.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pickaxe_bench .venv/bin/python bench/instructions.py   # ~3 min

On a shared 2-core machine CPU ms per run move by 20-50 % with what the neighbours do, so
a change worth 5 % cannot be seen in bench/run_path.py; valgrind's callgrind counts the
instructions a process executes instead, the same whatever else runs. The script makes a
database of its own (DATABASE_URL's name + `_instructions`, dropped at exit) with one
logged-in user and a pickaxe, starts the fake model (51 chunks at once), and runs a child
process with the production settings that calls the project's ASGI application directly,
as a server would: WARMUP runs, then RUNS counted ones (callgrind starts with counting
off; `callgrind_control -i on/off` brackets the counted runs). It prints the web
process's instructions per run: Django, middleware, the ORM, psycopg, the openai SDK and
its HTTP client, SSE; not PostgreSQL, Redis, the fake or uvicorn's HTTP parsing. Every
run must end ok (checked once without valgrind first). Compare two versions of the code
by running it in each checkout.
"""

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import harness

RUNS = 100
WARMUP = 30


class Exchange:
    """One run posted to an ASGI application as a server would post it: its scope, the
    request body, and the answer collected."""

    def __init__(self, path, headers, body):
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 80),
        }
        self.body, self.sent, self.done = body, False, asyncio.Event()
        self.status, self.answer = None, b""

    async def receive(self):
        if not self.sent:
            self.sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.done.wait()
        return {"type": "http.disconnect"}

    async def send(self, message):
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.answer += message.get("body", b"")
            if not message.get("more_body"):
                self.done.set()


def child(slug, session, csrf, runs):
    """In the child: WARMUP runs, a handshake, `runs` runs, a handshake (the parent turns
    callgrind's counting on and off at the handshakes)."""
    sys.path.insert(0, str(harness.ROOT))
    os.chdir(harness.ROOT)
    from config.asgi import application

    poster = harness.RunPoster(80, slug, [session], csrf)

    async def main():
        for count, word in ((WARMUP, "warm"), (runs, "done")):
            for _ in range(count):
                run = Exchange(*poster.parts())
                await application(run.scope, run.receive, run.send)
                await run.done.wait()
                if problem := harness.run_problem(run.status, run.answer):
                    sys.exit(f"bench: a run did not end ok: {problem}")
            while len(asyncio.all_tasks()) > 1:  # a run may end in a task of its own (its last database step)
                await asyncio.sleep(0.01)
            print(word, flush=True)
            sys.stdin.readline()

    asyncio.run(main())


def counted(env, child_args, *, valgrind):
    """Run the child; under valgrind, the instructions of its counted runs."""
    out = Path(tempfile.mkdtemp(prefix="instructions-")) / "callgrind.out"
    harness.at_exit(lambda: shutil.rmtree(out.parent, ignore_errors=True))
    prefix = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"] if valgrind else []
    command = [*prefix, sys.executable, __file__, "--child", *child_args]
    proc = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    harness.at_exit(proc.kill)
    for switch in ("on", "off"):
        if not proc.stdout.readline():
            break
        if valgrind:
            subprocess.run(["callgrind_control", "-i", switch, str(proc.pid)], capture_output=True, timeout=120)
        proc.stdin.write(b"\n")
        proc.stdin.flush()
    _, errors = proc.communicate(timeout=1800)
    errors = errors.decode(errors="replace")
    found = re.search(r"Collected : (\d+)", errors)
    if proc.returncode != 0 or (valgrind and not found):
        sys.exit(f"bench: the child failed:\n{errors[-3000:]}")
    return int(found.group(1)) if found else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs=4, metavar=("SLUG", "SESSION", "CSRF", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        slug, session, csrf, runs = args.child
        return child(slug, session, csrf, int(runs))
    harness.guard(max_seconds=30 * 60)
    url, _, _ = harness.create_database("_instructions")
    env = harness.production_env(url) | {"PYTHONHASHSEED": "0"}
    harness.setup_django(env)
    [session] = harness.logged_in_users(1)
    slug, csrf = harness.new_pickaxe("instructions"), harness.csrf_secret()
    from django.db import connections

    connections.close_all()
    fake, fake_url = harness.start_fake(0.0)
    env = env | {"OPENAI_BASE_URL": fake_url + "/v1"}
    env.pop("DATABASE_POOL_MAX_SIZE", None)
    counted(env, [slug, session, csrf, "10"], valgrind=False)
    total = counted(env, [slug, session, csrf, str(RUNS)], valgrind=True)
    fake.stop()
    print(
        f"{RUNS} site runs (after {WARMUP} warm-up runs), the ASGI application called directly, the fake model "
        f"answering at once: {total / RUNS / 1e6:.2f} M instructions per run in the web process"
    )


if __name__ == "__main__":
    sys.exit(main())
