"""Instructions per site run (or API run), counted by callgrind: the run path's CPU in a figure that the
machine's load does not move (see bench/README.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pickaxe_bench .venv/bin/python bench/instructions.py

On a shared 2-core machine, CPU seconds per run move by 20-50 % with what the neighbours
do, so a change worth 5 % cannot be seen in bench/streams.py. Valgrind's callgrind counts
the instructions a process executes instead: the same code, inputs and environment give
the same count whatever else runs. The script

1. uses one database, named after DATABASE_URL's with `_instructions` added (the name must
   contain `bench`): drops and re-creates it, migrates it, makes a user with credits and a
   logged-in session and a public pickaxe with one field, and drops it again at exit;
2. starts the fake model (bench/fake_model.py, 51 chunks at once) and runs, in a child
   process with the production settings of bench/streams.py (DEBUG off, PostgreSQL, Redis
   sessions), the project's ASGI application (`config.asgi.application`, middleware and
   all) on RUNS site runs posted as bench/streams.py posts them, called directly as an
   ASGI server would, with no HTTP server around it;
3. runs that child under `valgrind --tool=callgrind` twice, after WARMUP runs each: once
   with no measured runs and once with RUNS, and prints the difference divided by RUNS:
   the instructions one run costs the web process (Django, the ORM, psycopg, the openai
   SDK and its HTTP client, SSE), without start-up and imports. PostgreSQL, Redis and the
   fake model are other processes and are not counted; nor is uvicorn's HTTP parsing.

With `--api` it posts API runs instead (POST /api/v1/pickaxes/<slug>/runs with an API
key of the same user, "stream": true: the site's events), to compare the two entry points.

Every run must end with an `end` event that says ok, or the script fails. Compare two
versions of the code by running this script in each checkout; the figure does not depend
on the hour.
"""

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import streams  # noqa: E402  (bench/streams.py: database, users, fake model, cleanup)

RUNS = 100
WARMUP = 30
DB_SUFFIX = "_instructions"


# --------------------------------------------------------------------------- the child


class AsgiRun:
    """One POST of a run to the ASGI application, as a server would make it."""

    def __init__(self, *, slug, session, csrf, counter, secret=None):
        if secret:  # the run API, streamed: the site's events
            path = f"/api/v1/pickaxes/{slug}/runs"
            inputs = {"topic": f"stream number {counter}"}
            self.body = json.dumps({"inputs": inputs, "user": f"end-user-{counter}", "stream": True}).encode()
            headers = [(b"authorization", f"Bearer {secret}".encode()), (b"content-type", b"application/json")]
        else:
            path = f"/p/{slug}/run/"
            key = f"{counter}-{secrets.token_urlsafe(24)}"[:64]
            self.body = urlencode({"submission_key": key, "topic": f"stream number {counter}"}).encode()
            headers = [
                (b"origin", b"http://127.0.0.1"),
                (b"cookie", f"sessionid={session}; csrftoken={csrf}".encode()),
                (b"x-csrftoken", csrf.encode()),
                (b"content-type", b"application/x-www-form-urlencoded"),
            ]
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
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"accept", b"text/event-stream"),
                *headers,
                (b"content-length", str(len(self.body)).encode()),
            ],
            "client": ("127.0.0.1", 40000 + counter % 20000),
            "server": ("127.0.0.1", 80),
        }
        self.status = None
        self.chunks = []
        self.done = asyncio.Event()
        self._body_sent = False

    async def receive(self):
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.done.wait()
        return {"type": "http.disconnect"}

    async def send(self, message):
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.done.set()

    def ok(self):
        events = streams.read_events(b"".join(self.chunks))
        return self.status == 200 and bool(events) and events[-1][0] == "end" and '"ok": true' in events[-1][1]


async def drive(app, *, slug, session, csrf, count, first, secret=None):
    for counter in range(first, first + count):
        run = AsgiRun(slug=slug, session=session, csrf=csrf, counter=counter, secret=secret)
        await app(run.scope, run.receive, run.send)
        await run.done.wait()
        if not run.ok():
            sys.exit(f"bench: run {counter} did not end ok: HTTP {run.status} {b''.join(run.chunks)[-300:]!r}")


def child(args):
    os.chdir(streams.ROOT)
    sys.path.insert(0, str(streams.ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    from config.asgi import application
    from pickaxes import running

    async def runs(count, first):
        await drive(
            application,
            slug=args.slug,
            session=args.session,
            csrf=args.csrf,
            count=count,
            first=first,
            secret=args.secret,
        )
        while running._running_tasks:  # each run ends in a task of its own (its last database step)
            await asyncio.sleep(0.01)

    async def main():
        await runs(WARMUP, 0)
        handshake("warm")  # the parent turns callgrind's counting on...
        await runs(args.runs, WARMUP)
        handshake("done")  # ...and off

    asyncio.run(main())


def handshake(word):
    """Tell the parent where the child is, and wait until it answers."""
    print(word, flush=True)
    sys.stdin.readline()


# --------------------------------------------------------------------------- the parent


def child_command(args, runs):
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--runs",
        str(runs),
        "--slug",
        args["slug"],
        "--session",
        args["session"],
        "--csrf",
        args["csrf"],
        *(["--secret", args["secret"]] if args.get("secret") else []),
    ]


def check(env, args):
    """The child once without valgrind (seconds, not minutes): every run ends ok."""
    child = subprocess.Popen(child_command(args, 10), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        for _ in ("warm", "done"):
            child.stdout.readline()
            child.stdin.write("\n")
            child.stdin.flush()
        if child.wait(300) != 0:
            sys.exit("bench: the runs did not work (see above).")
    finally:
        child.kill()


def counted(env, args, runs):
    """Instructions the child executes for `runs` runs after the warm-up: callgrind starts
    it with counting off (imports and the warm-up run faster so) and callgrind_control
    turns counting on for the runs alone."""
    out = Path(tempfile.mkdtemp(prefix="instructions-")) / "callgrind.out"
    streams.CLEANUP.add(lambda: shutil.rmtree(out.parent, ignore_errors=True))
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        *child_command(args, runs),
    ]
    child = subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        for switch in ("on", "off"):
            if not child.stdout.readline():
                break
            subprocess.run(["callgrind_control", "-i", switch, str(child.pid)], capture_output=True, timeout=120)
            child.stdin.write("\n")
            child.stdin.flush()
        _, errors = child.communicate(timeout=1800)
    finally:
        child.kill()
    found = re.search(r"Collected : (\d+)", errors)
    if child.returncode != 0 or not found:
        sys.exit(f"bench: the child failed under callgrind:\n{errors[-3000:]}")
    return int(found.group(1))


def parent(*, api=False):
    streams.raise_nofile()
    url, db_name, db_params = streams.database_from_url(DB_SUFFIX)
    streams.create_database(db_name, db_params)
    streams.CLEANUP.add(lambda: streams.drop_database(db_name, db_params))
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    cache_prefix = f"bench-{secrets.token_hex(8)}"
    streams.CLEANUP.add(lambda: streams.forget_cache_keys(redis_url, cache_prefix))
    fake, fake_url = streams.start_fake(0.0, None)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_POOL_MAX_SIZE")},
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": url,
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": fake_url + "/v1",
        "FIELD_ENCRYPTION_KEYS": "Ahvy3-D0ldBbWBTVFKbhWT9z-WVzuS0MeQrpzb2I7WI=",
        "EMAIL_URL": "consolemail://",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": cache_prefix,
        "PYTHONHASHSEED": "0",  # the same hashing in both children
    }
    streams.setup_django(
        {k: env[k] for k in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "FIELD_ENCRYPTION_KEYS")}
        | {k: env[k] for k in ("EMAIL_URL", "SECURE_SSL_REDIRECT", "REDIS_URL", "CACHE_KEY_PREFIX", "OPENAI_API_KEY")}
    )
    streams.USERS = 1
    [session] = streams.create_sessions(1)
    pickaxe = streams.new_pickaxe(streams.new_user("owner"), "instructions")
    args = {"slug": pickaxe.slug, "session": session, "csrf": streams.csrf_secret()}
    if api:
        [args["secret"]] = streams.api_keys_of_bench_users()
    from django.db import connection

    connection.close()
    check(env, args)
    total = counted(env, args, RUNS)
    fake.stop()
    print(
        f"{RUNS} {'API' if api else 'site'} runs (after {WARMUP} warm-up runs), ASGI application called directly, fake model at once, "
        f"51 chunks: {total / RUNS / 1e6:.2f} M instructions per run in the web process"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=RUNS, help=argparse.SUPPRESS)
    parser.add_argument("--slug", help=argparse.SUPPRESS)
    parser.add_argument("--session", help=argparse.SUPPRESS)
    parser.add_argument("--csrf", help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument(
        "--api", action="store_true", help="count API runs (POST /api/v1/pickaxes/<slug>/runs, streamed)"
    )
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    import atexit
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, streams.on_signal)
    atexit.register(streams.CLEANUP.run)
    parent(api=args.api)


if __name__ == "__main__":
    main()
