"""Benchmark of the run endpoint under the production server (see bench/README.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pickaxe_bench .venv/bin/python bench/streams.py

Uses one database only, named after DATABASE_URL's with `_streams` added (the name must
contain `bench`): drops and re-creates it, migrates it, creates USERS users with credits
and logged-in sessions and a public pickaxe, and drops it again at exit. Then, with the
fake model (bench/fake_model.py) and the servers as subprocesses:

1. Throughput: the project (`gunicorn -c bench/gunicorn_bench.conf.py config.asgi:application`,
   i.e. gunicorn.conf.py plus a query counter; DEBUG=false, one worker process) and the
   bare ASGI baseline (bench/baseline_asgi.py, same gunicorn settings) side by side, the
   fake answering at once with 51 chunks; 1, 8, 32 and 128 closed-loop clients; ROUNDS
   short rounds per variant and level, the variants alternating, so machine noise hits
   both. Runs/s, p50/p99 (POST to end of stream), server CPU ms per run, SQL statements
   per run, the same for the fake, the client and PostgreSQL, and the CPU that other
   people's processes used meanwhile.
2. Burst: 1,000 runs posted at once with the fake taking ~10 s per answer, to a freshly
   started project server (then, for reference, to a fresh baseline server): all ok,
   response headers within 3 s, median run time, peak RSS (master + worker) and peak
   threads in the worker.

Prints the tables, one PASS/FAIL line per target and exits 1 if any target fails. Never
hangs: every wait has a timeout and a watchdog ends the run after MAX_SECONDS; servers,
fake and database are removed at exit, however it ends.
"""

import argparse
import asyncio
import atexit
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote, unquote, urlencode, urlsplit

import querycount  # bench/querycount.py
from run import ms, percentile  # bench/run.py (this folder is on sys.path when run as a script)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/pickaxe_bench"
DB_SUFFIX = "_streams"
GUNICORN_CONF = BENCH / "gunicorn_bench.conf.py"

USERS = 300  # logged-in sessions the load is spread over: no hot account
WORKERS = 1  # WEB_CONCURRENCY of every server started (--workers)
ALLOWANCE = 100_000  # credits per user: nobody runs out

# 1. Throughput.
CHUNKS = 51  # text chunks in each answer
LEVELS = (1, 8, 32, 128)  # concurrent closed-loop clients
ROUNDS = 3  # rounds per variant and level, alternating project / baseline
WARMUP_MIN = 1.0  # a round's warm-up: at least this, and until every client has ended a run...
WARMUP_MAX = 15.0  # ...but no longer than this
WINDOW = 4.0  # measured seconds per round
RUN_TIMEOUT = 30.0  # a run not ended by then is given up (counted as failed)

# 2. Burst.
BURST = 1000
SLOW_DELAY = 0.2  # seconds between chunks: 50 pauses, ~10 s per answer
BURST_TIMEOUT = 60.0  # from the burst: a run not ended by then is given up

# Targets (issue 10).
TARGET_RATIO = 0.5  # project runs/s at least half the baseline's...
TARGET_RATIO_LEVELS = (8, 32)  # ...at these client counts
TARGET_RUNS_PER_SECOND = 300  # project, best level
TARGET_HEADERS_WITHIN = 3.0  # s from the burst
TARGET_BURST_MEDIAN = 13.0  # s
TARGET_RSS_BYTES = 512 << 20  # master + worker
TARGET_THREADS = 100  # in the worker

MAX_SECONDS = 15 * 60  # watchdog for the whole script
IDLE_SAMPLE = 2.0  # s of machine load sampled before the start
NOFILE = 65536

PROJECT = "project"
FLOOR = "django"  # bench/django_floor.py: the baseline's work inside the project's Django
BASELINE = "baseline"
APPS = {
    PROJECT: ("config.asgi:application", ()),
    FLOOR: ("django_floor:application", ("--pythonpath", str(BENCH))),
    BASELINE: ("baseline_asgi:app", ("--pythonpath", str(BENCH))),
}
THROUGHPUT_VARIANTS = (PROJECT, FLOOR, BASELINE)


# --------------------------------------------------------------------------- plumbing


class Cleanup:
    """Things to undo at exit, last first; runs once, whatever ends the script."""

    def __init__(self):
        self._actions = []
        self._lock = threading.RLock()  # a signal handler may run it while the main thread holds it

    def add(self, action):
        with self._lock:
            self._actions.append(action)
        return action

    def discard(self, action):
        with self._lock:
            if action in self._actions:
                self._actions.remove(action)

    def run(self):
        while True:
            with self._lock:
                if not self._actions:
                    return
                action = self._actions.pop()
            try:
                action()
            except Exception as exc:  # keep cleaning up
                print(f"bench: cleanup step failed: {exc!r}", file=sys.stderr)


CLEANUP = Cleanup()


def start_watchdog(seconds):
    def expire():
        print(
            f"\nbench: WATCHDOG: still running after {seconds:.0f} s; stopping everything.", file=sys.stderr, flush=True
        )
        CLEANUP.run()
        os._exit(3)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()


def on_signal(signum, frame):
    """SIGINT, SIGTERM, SIGHUP: clean up here and leave at once. (Unwinding with an
    exception instead can leave asyncio.run waiting on tasks it is cancelling.)"""
    print(f"\nbench: stopped by signal {signum}; cleaning up.", file=sys.stderr, flush=True)
    CLEANUP.run()
    os._exit(128 + signum)


def raise_nofile():
    """Raise the open-file limit toward the hard limit (a stream is 2-3 sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mib(nbytes):
    return nbytes / (1 << 20)


class Subprocess:
    """A child process in its own process group; stopped (group included) at exit at the latest."""

    def __init__(self, args, *, env=None, log=None, stdout=None):
        out = open(log, "ab") if log else stdout
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT if log else None,
            preexec_fn=lambda: (raise_nofile(), os.setpgrp()),
        )
        if log:
            out.close()
        # At an abnormal exit: kill at once. A graceful stop would wait for the streams this
        # process still holds open (up to gunicorn's graceful_timeout).
        self._cleanup = CLEANUP.add(self.kill)

    @property
    def pid(self):
        return self.proc.pid

    def kill(self):
        """SIGKILL to the whole process group."""
        CLEANUP.discard(self._cleanup)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, timeout=15):
        """SIGINT (gunicorn's quick shutdown), then SIGKILL to the group after `timeout` s.
        Stays in CLEANUP until it is gone, in case a signal interrupts the wait."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything left in its group
        except (ProcessLookupError, PermissionError):
            pass
        CLEANUP.discard(self._cleanup)


def start_fake(delay, logs):
    fake = Subprocess(
        [sys.executable, str(BENCH / "fake_model.py"), "--chunks", str(CHUNKS), "--delay", str(delay)],
        stdout=subprocess.PIPE,
    )
    line = [b""]
    reader = threading.Thread(target=lambda: line.__setitem__(0, fake.proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(20)
    url = line[0].decode().strip()
    if not url.startswith("http://"):
        fake.stop()
        sys.exit("bench: the fake model did not start.")
    return fake, url


def start_server(variant, *, fake_url, server_env, logs, label):
    app, extra = APPS[variant]
    port = free_port()
    log = logs / f"{label}-{variant}.log"
    env = dict(server_env, OPENAI_BASE_URL=fake_url + "/v1", WEB_CONCURRENCY=str(WORKERS), PORT=str(port))
    server = Subprocess(
        [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--bind", f"127.0.0.1:{port}", *extra, app],
        env=env,
        log=log,
    )
    server.port, server.log, server.variant = port, log, variant
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(10)
                s.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    sys.exit(f"bench: the {variant} server did not answer /healthz; see {log}:\n" + log.read_text()[-3000:])


def process_tree(pid):
    """pid and all its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid):
    """utime + stime of a process (all its threads), in seconds; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            values = f.read().rsplit(")", 1)[1].split()
        return (int(values[11]) + int(values[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_busy():
    """CPU seconds the whole machine has been busy (all but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICK


def proc_status(pid):
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
    except OSError:
        return None
    return fields


class Probe:
    """CPU and statement counters at one moment, for the CPU and queries of a window."""

    def __init__(self, db_params, db_name, query_dir, fake_pid):
        import psycopg

        self.conn = psycopg.connect(dbname=db_name, autocommit=True, connect_timeout=10, **db_params)
        self.db_name = db_name
        self.query_dir = query_dir
        self.fake_pid = fake_pid

    def close(self):
        self.conn.close()

    def backends(self):
        """CPU seconds of each PostgreSQL backend connected to the bench database."""
        pids = [
            pid
            for (pid,) in self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
        return {pid: cpu_of(pid) for pid in pids}

    def snap(self, server):
        tree = process_tree(server.pid)
        times = os.times()
        return {
            "t": time.perf_counter(),
            "server": sum(cpu_of(pid) for pid in tree),
            "queries": querycount.read(self.query_dir, tree),
            "fake": cpu_of(self.fake_pid),
            "client": times.user + times.system,
            "machine": machine_busy(),
            "pg": self.backends(),
        }


def window_usage(s0, s1):
    """What a window between two snapshots used: CPU seconds by whom, and statements."""
    pg = sum(cpu - s0["pg"].get(pid, 0.0) for pid, cpu in s1["pg"].items() if cpu >= s0["pg"].get(pid, 0.0))
    used = {k: s1[k] - s0[k] for k in ("t", "server", "queries", "fake", "client", "machine")}
    used["pg"] = pg
    used["others"] = max(0.0, used["machine"] - used["server"] - used["fake"] - used["client"] - pg)
    return used


def log_count(path, *needles):
    try:
        text = Path(path).read_text(errors="replace")
    except (OSError, TypeError):
        return 0
    return sum(text.count(needle) for needle in needles)


# --------------------------------------------------------------------------- load client


class Target:
    """Where to POST runs, and the logged-in sessions to POST them with (one after another)."""

    def __init__(self, port, slug, sessions, csrf):
        self.port = port
        self.slug = slug
        self.sessions = sessions
        self.csrf = csrf
        self.counter = 0

    def request(self):
        self.counter += 1
        session = self.sessions[self.counter % len(self.sessions)]
        key = f"{self.counter}-{secrets.token_urlsafe(24)}"[:64]  # a fresh submission key (16-64 chars)
        body = urlencode({"submission_key": key, "topic": f"stream number {self.counter}"}).encode()
        head = (
            f"POST /p/{self.slug}/run/ HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{self.port}\r\n"
            "Accept: text/event-stream\r\n"
            f"Origin: http://127.0.0.1:{self.port}\r\n"
            f"Cookie: sessionid={session}; csrftoken={self.csrf}\r\n"
            f"X-CSRFToken: {self.csrf}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        return head.encode() + body


class Result:
    __slots__ = ("t0", "t_head", "t_end", "status", "ok", "deltas", "error", "message")

    def __init__(self):
        self.t0 = time.perf_counter()
        self.t_head = self.t_end = None
        self.status = None
        self.ok = False
        self.deltas = 0
        self.error = ""
        self.message = ""

    @property
    def latency(self):
        return self.t_end - self.t0


def dechunk(data):
    out, i = bytearray(), 0
    while True:
        j = data.index(b"\r\n", i)
        size = int(data[i:j].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[j + 2 : j + 2 + size]
        i = j + 2 + size + 2


def read_events(body):
    events = []
    for block in body.decode("utf-8", "replace").split("\n\n"):
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if name:
            events.append((name, "\n".join(data)))
    return events


async def post_run(target, timeout):
    """One run: POST, read the whole response (Connection: close), check it. Ok means HTTP
    200 and a last event `end` with ok=true and the whole answer (CHUNKS words)."""
    result = Result()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", target.port, limit=1 << 20)
            writer.write(target.request())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            result.t_head = time.perf_counter()
            result.status = int(head.split(b" ", 2)[1])
            chunked = b"transfer-encoding: chunked" in head.lower()
            body = await reader.read()
            result.t_end = time.perf_counter()
        if chunked:
            body = dechunk(body)
        events = read_events(body)
        # The project sends the output so far in throttled `output` events (none when the
        # answer ends within the first interval), the baseline one `delta` per chunk: what
        # both must deliver is the whole answer in the `end` event.
        result.deltas = sum(1 for name, _ in events if name in ("delta", "output"))
        if events and events[-1][0] == "end":
            end = json.loads(events[-1][1])
            result.message = (end.get("message") or "")[:80]
            words = len(end.get("html") or "") and len(re.sub(r"<[^>]+>", " ", end["html"]).split())
            result.ok = result.status == 200 and end.get("ok") is True and words >= CHUNKS
            if result.ok is False and end.get("ok") is True:
                result.message = f"{words} words in the answer, not {CHUNKS}"
        elif result.status != 200:
            result.message = body[:80].decode("utf-8", "replace").strip()
        else:
            result.message = "no end event"
    except TimeoutError:
        result.error = "client timeout"
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:80]
    finally:
        if result.t_end is None:
            result.t_end = time.perf_counter()
        if writer is not None:
            writer.close()
    return result


def failure_text(results):
    """The commonest ways runs did not succeed."""
    counts = {}
    for r in results:
        if not r.ok:
            what = r.error or f"HTTP {r.status}" + (f" {r.message!r}" if r.message else "")
            counts[what] = counts.get(what, 0) + 1
    return ", ".join(f"{n}x {what}" for what, n in sorted(counts.items(), key=lambda kv: -kv[1])[:3])


async def measured_round(target, clients, probe, server):
    """Closed loop: `clients` tasks each posting runs back to back. Warm-up until every
    client has ended a run (at least WARMUP_MIN s, at most WARMUP_MAX s), then a WINDOW s
    window between two snapshots; then no new runs, and those under way are awaited.
    Returns (every run, runs ended ok inside the window, the window's usage)."""
    results = []
    ended = [0] * clients
    stop_at = [float("inf")]

    async def client(i):
        while time.perf_counter() < stop_at[0]:
            results.append(await post_run(target, RUN_TIMEOUT))
            ended[i] += 1

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    began = time.perf_counter()
    await asyncio.sleep(WARMUP_MIN)
    while min(ended) == 0 and time.perf_counter() - began < WARMUP_MAX:
        await asyncio.sleep(0.05)
    s0 = probe.snap(server)
    stop_at[0] = s0["t"] + WINDOW
    await asyncio.sleep(max(0.0, stop_at[0] - time.perf_counter()))
    s1 = probe.snap(server)
    _, pending = await asyncio.wait(tasks, timeout=RUN_TIMEOUT + 5)
    for task in pending:
        task.cancel()
    inside = [r for r in results if r.ok and s0["t"] <= r.t_end <= s1["t"]]
    return results, inside, window_usage(s0, s1)


async def burst_runs(target, count, timeout):
    return await asyncio.gather(*(post_run(target, timeout) for _ in range(count)))


class BurstSampler:
    """Every 50 ms: RSS of the server (master + workers) and the most threads in a worker;
    every 0.5 s: PostgreSQL connections to the bench database."""

    def __init__(self, probe, master):
        self.probe = probe
        self.master = master
        self.peak_rss = self.peak_threads = self.peak_db = 0
        self.idle_rss = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _loop(self):
        next_db, tree, next_tree = 0.0, [self.master], 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_tree:
                tree, next_tree = process_tree(self.master), now + 1.0
            total = 0
            for pid in tree:
                status = proc_status(pid)
                if status:
                    total += int(status.get("VmRSS", "0 kB").split()[0]) * 1024
                    if pid != self.master:
                        self.peak_threads = max(self.peak_threads, int(status.get("Threads", "0")))
            if self.idle_rss is None:
                self.idle_rss = total
            self.peak_rss = max(self.peak_rss, total)
            if now >= next_db:
                next_db = now + 0.5
                try:
                    self.peak_db = max(self.peak_db, len(self.probe.backends()))
                except Exception:
                    pass
            self._stop.wait(0.05)


# --------------------------------------------------------------------------- setup


def database_from_url(suffix=DB_SUFFIX):
    """(URL of the bench database, its name, connection parameters): DATABASE_URL's server
    and credentials, its database name plus `suffix`, which must contain 'bench'."""
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit(f"bench: DATABASE_URL must be a PostgreSQL URL, not {parts.scheme!r}.")
    base = unquote(parts.path.lstrip("/"))
    if not base:
        sys.exit("bench: DATABASE_URL names no database.")
    name = base + suffix
    if "bench" not in name:
        sys.exit(f"bench: refusing to drop and re-create {name!r}; DATABASE_URL's database name must contain 'bench'.")
    params = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": unquote(parts.username) if parts.username else "postgres",
    }
    if parts.password:
        params["password"] = unquote(parts.password)
    return parts._replace(path="/" + quote(name)).geturl(), name, params


def admin_connection(params):
    import psycopg

    return psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=10, **params)


def drop_database(name, params):
    from psycopg import sql

    with admin_connection(params) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create_database(name, params):
    from psycopg import sql

    drop_database(name, params)
    with admin_connection(params) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])
        others = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").fetchone()[
            0
        ]
    return max_connections, others


def setup_django(env):
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_POOL_MAX_SIZE"] = "0"  # this process: one plain connection
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def new_user(label):
    from accounts.models import User

    user = User(email=f"bench-{label}@example.com")
    user.set_unusable_password()
    user.save()  # opens the credit account with the Free allowance
    return user


def forget_cache_keys(redis_url, prefix):
    """Delete what this run put in Redis (its sessions and limits, all under `prefix`)."""
    if not redis_url:
        return
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


def create_sessions(count):
    """`count` users with ALLOWANCE credits each, and a logged-in session for each."""
    from django.test import Client

    from credits.services import set_allowance

    sessions = []
    for i in range(count):
        user = new_user(f"user{i}")
        set_allowance(user, ALLOWANCE, reason="benchmark: streams")
        client = Client()
        client.force_login(user)  # a session in the database, as a login makes
        sessions.append(client.cookies["sessionid"].value)
    return sessions


def new_pickaxe(owner, label):
    """A public pickaxe with one short-text field (one per phase, so their runs count apart)."""
    from django.conf import settings
    from django.utils.text import slugify

    from pickaxes.models import InputField, Pickaxe

    pickaxe = Pickaxe.objects.create(
        owner=owner,
        name=f"Streams bench: {label}",
        slug=slugify(f"streams-bench-{label}"),
        visibility=Pickaxe.Visibility.PUBLIC,
        system_instructions="You are a benchmark.",
        prompt_template="Write about {{topic}}.",
        model=settings.PICKAXE_MODELS[0],
    )
    InputField.objects.create(
        pickaxe=pickaxe, position=0, label="Topic", key="topic", kind=InputField.Kind.SHORT_TEXT, max_length=200
    )
    return pickaxe


def csrf_secret():
    """A CSRF cookie value; the same value in the X-CSRFToken header passes the check."""
    from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH
    from django.utils.crypto import get_random_string

    return get_random_string(CSRF_SECRET_LENGTH, allowed_chars=CSRF_ALLOWED_CHARS)


def run_statuses(pickaxe):
    """How the runs of one pickaxe ended, from the database."""
    from django.db import connection
    from django.db.models import Count

    from pickaxes.models import Run

    counts = dict(Run.objects.filter(pickaxe=pickaxe).values_list("status").annotate(n=Count("id")))
    connection.close()
    return counts


def statuses_text(counts):
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) if counts else "none"


# --------------------------------------------------------------------------- phases


def throughput(ctx):
    """1. Project, Django floor and baseline side by side, fake answering at once."""
    fake, fake_url = start_fake(0.0, ctx["logs"])
    servers = {}
    probe = None
    try:
        for variant in THROUGHPUT_VARIANTS:
            servers[variant] = start_server(
                variant, fake_url=fake_url, server_env=ctx["server_env"], logs=ctx["logs"], label="throughput"
            )
        probe = Probe(ctx["db"], ctx["db_name"], ctx["query_dir"], fake.pid)
        targets = {
            v: Target(s.port, ctx["pickaxe_fast"].slug, ctx["sessions"], ctx["csrf"]) for v, s in servers.items()
        }

        async def go():
            rounds = {}
            for variant in THROUGHPUT_VARIANTS:  # warm up each (pools, code paths); not measured
                await measured_round(targets[variant], 8, probe, servers[variant])
            for clients in LEVELS:
                for r in range(ROUNDS):
                    order = THROUGHPUT_VARIANTS if r % 2 == 0 else THROUGHPUT_VARIANTS[::-1]
                    for variant in order:
                        every, inside, used = await measured_round(targets[variant], clients, probe, servers[variant])
                        rounds.setdefault((variant, clients), []).append((every, inside, used))
                        rate = len(inside) / used["t"]
                        failed = sum(1 for x in every if not x.ok)
                        print(
                            f"  {clients:>3} clients, round {r + 1}, {variant:<8} {rate:7.1f} runs/s"
                            + (f", {failed} failed: {failure_text(every)}" if failed else ""),
                            flush=True,
                        )
            return rounds

        rounds = asyncio.run(go())
    finally:
        if probe:
            probe.close()
        for server in servers.values():
            server.stop()
        fake.stop()
    return rounds, {v: s.log for v, s in servers.items()}


PROFILE_CLIENTS = 8
PROFILE_GROUPS = (  # where a sample's innermost frame of ours or of a library falls, first match wins
    ("SQL (psycopg, pool)", ("psycopg",)),
    ("ORM (query building, models)", ("django/db/",)),
    ("openai SDK", ("openai/",)),
    ("HTTP client (httpx2, httpcore)", ("httpx2/", "httpcore", "h11/", "anyio/")),
    ("Redis", ("redis/",)),
    ("templates", ("django/template/",)),
    ("sessions, auth", ("django/contrib/sessions", "django/contrib/auth", "allauth/")),
    ("Django request, middleware", ("django/core/handlers", "django/middleware", "django/http/", "django/utils/")),
    ("asgiref threads", ("asgiref/",)),
    ("uvicorn, uvloop, h11", ("uvicorn/", "uvloop", "httptools")),
    ("asyncio", ("asyncio/",)),
    ("our code", ("/pickaxes/", "/credits/", "/accounts/", "/embeds/", "/billing/", "/config/")),
)


def profile(ctx, seconds, path="site"):
    """Where the project's worker spends its CPU under load: py-spy samples whichever of its
    threads holds the GIL (`--gil`; `--nonblocking`, so the worker is never paused) for
    `seconds` while PROFILE_CLIENTS clients post runs to the site's run view (`path`
    "site") or to the run API ("api"), or ("burst") while BURST site runs posted at once
    stream from the slow fake (start it with SECONDS near the answer's ~10 s). Prints CPU ms
    and queries per run, the share of samples by library (the innermost library frame),
    and the functions with the most samples of their own. The sampler costs the worker
    some CPU, so compare shares, not the absolute ms, with figures measured without it."""
    global WINDOW
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    fake, fake_url = start_fake(SLOW_DELAY if path == "burst" else 0.0, ctx["logs"])
    server = start_server(PROJECT, fake_url=fake_url, server_env=ctx["server_env"], logs=ctx["logs"], label="profile")
    probe = Probe(ctx["db"], ctx["db_name"], ctx["query_dir"], fake.pid)
    slug = ctx["pickaxe_fast"].slug
    if path == API:
        target = ApiTarget(server.port, slug, api_keys_of_bench_users())
    else:
        target = Target(server.port, slug, ctx["sessions"], ctx["csrf"])
    worker = [pid for pid in process_tree(server.pid) if pid != server.pid][0]
    raw = ctx["logs"] / "profile.txt"
    try:
        if path != "burst":
            asyncio.run(measured_round(target, PROFILE_CLIENTS, probe, server))  # warm-up
        spy = subprocess.Popen(
            [py_spy, "record", "-p", str(worker), "-d", str(int(seconds)), "-r", "200", "--nonblocking", "--gil"]
            + ["-f", "raw", "-o", str(raw)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        if path == "burst":
            before = probe.snap(server)
            every = asyncio.run(burst_runs(target, BURST, BURST_TIMEOUT))
            inside, used = [r for r in every if r.ok], window_usage(before, probe.snap(server))
        else:
            WINDOW = seconds
            every, inside, used = asyncio.run(measured_round(target, PROFILE_CLIENTS, probe, server))
        spy.wait(seconds + 30)
    finally:
        server.stop()
        fake.stop()
        probe.close()
    runs = max(1, len(inside))
    print(
        f"{len(inside)} runs ok in {used['t']:.1f} s ({len(inside) / used['t']:.1f} runs/s, "
        f"{sum(1 for r in every if not r.ok)} failed); server CPU {ms(used['server'] / runs):.1f} ms/run, "
        f"{used['queries'] / runs:.1f} queries/run; others' cores {used['others'] / used['t']:.2f}."
    )
    groups, own, total = {}, {}, 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue  # (py-spy once wrote a line cut short)
        count = int(count)
        frames = stack.split(";")[1:]  # the first is the thread
        total += count
        leaf = frames[-1] if frames else "?"
        own[leaf] = own.get(leaf, 0) + count
        group = "other"
        for frame in reversed(frames):
            found = next((name for name, marks in PROFILE_GROUPS if any(m in frame for m in marks)), None)
            if found:
                group = found
                break
        groups[group] = groups.get(group, 0) + count
    per_run = used["server"] / runs / max(1, total)
    print(f"\n{total} samples; by the innermost library frame (ms/run, share):")
    for name, count in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<36} {ms(count * per_run):6.2f}  {count / total:6.1%}")
    print("\nFunctions with the most samples of their own:")
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:30]:
        print(f"  {count / total:6.1%}  {frame[:150]}")
    print(f"\nRaw stacks (py-spy's collapsed format): {raw}")


def burst(ctx, variant, pickaxe):
    """2. BURST runs posted at once, fake at ~10 s, a freshly started server."""
    fake, fake_url = start_fake(SLOW_DELAY, ctx["logs"])
    server = probe = None
    try:
        server = start_server(variant, fake_url=fake_url, server_env=ctx["server_env"], logs=ctx["logs"], label="burst")
        probe = Probe(ctx["db"], ctx["db_name"], ctx["query_dir"], fake.pid)
        target = Target(server.port, pickaxe.slug, ctx["sessions"], ctx["csrf"])
        with BurstSampler(probe, server.pid) as sampler:
            time.sleep(0.3)  # an idle RSS sample
            s0 = probe.snap(server)
            t0 = time.perf_counter()
            results = asyncio.run(burst_runs(target, BURST, BURST_TIMEOUT))
            s1 = probe.snap(server)
    finally:
        if probe:
            probe.close()
        if server:
            server.stop()
        fake.stop()
    used = window_usage(s0, s1)
    heads = [r.t_head - t0 for r in results if r.t_head is not None]
    ok = [r for r in results if r.ok]
    # Every run's time, a run that did not succeed counting as endless, so the median says
    # how long the middle run took to succeed (inf: more than half did not, within the timeout).
    every = sorted(r.latency if r.ok else float("inf") for r in results)
    return {
        "variant": variant,
        "ok": len(ok),
        "results": results,
        "wall": s1["t"] - s0["t"],
        "headers": len(heads),
        "headers_max": max(heads) if heads else float("inf"),
        "headers_p50": percentile(heads, 50) if heads else float("nan"),
        "p50": every[len(every) // 2] if every else float("inf"),
        "p99": every[min(len(every) - 1, int(len(every) * 0.99))] if every else float("inf"),
        "peak_rss": sampler.peak_rss,
        "idle_rss": sampler.idle_rss or 0,
        "peak_threads": sampler.peak_threads,
        "peak_db": sampler.peak_db,
        "used": used,
        "log": server.log,
        "statuses": run_statuses(pickaxe) if variant == PROJECT else None,
    }


# --------------------------------------------------------------------------- 3. the run API beside the site
# (issue 14) The same pickaxe through the public run API (POST /api/v1/pickaxes/<slug>/runs,
# "stream": true: the site's events) and through the site's run view, on one server, the
# rounds alternating. Each bench user has an API key of their own, as each has a session,
# so both paths spread their charges over the same payers. Target: the API's server CPU
# per run is no higher than the site's (API_CPU_TOLERANCE for noise).

API = "api"
SITE = "site"
API_LEVELS = (8, 32)
API_CPU_TOLERANCE = 1.10


class ApiTarget:
    """Where to POST API runs, and the keys to POST them with (one after another)."""

    def __init__(self, port, slug, secrets_):
        self.port = port
        self.slug = slug
        self.secrets = secrets_
        self.counter = 0

    def request(self):
        self.counter += 1
        secret = self.secrets[self.counter % len(self.secrets)]
        body = json.dumps(
            {
                "inputs": {"topic": f"stream number {self.counter}"},
                "user": f"end-user-{self.counter % 1000}",
                "stream": True,
            }
        ).encode()
        head = (
            f"POST /api/v1/pickaxes/{self.slug}/runs HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{self.port}\r\n"
            f"Authorization: Bearer {secret}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        return head.encode() + body


def api_keys_of_bench_users():
    """An API key (no rate limit) for each bench user made by create_sessions()."""
    from accounts.models import User
    from embeds.services import create_api_key

    users = User.objects.filter(email__startswith="bench-user").order_by("pk")
    secrets_ = [create_api_key(owner=user, name="bench", runs_per_minute=0).secret for user in users]
    from django.db import connection

    connection.close()
    return secrets_


def api_beside_site(ctx):
    """3. Rounds of API runs and site runs, alternating, on one project server with the fake
    answering at once. Prints a table; returns [(ok, verdict text)]."""
    levels = [c for c in API_LEVELS if c in LEVELS] or list(LEVELS)
    api_secrets = api_keys_of_bench_users()
    fake, fake_url = start_fake(0.0, ctx["logs"])
    server = probe = None
    try:
        server = start_server(PROJECT, fake_url=fake_url, server_env=ctx["server_env"], logs=ctx["logs"], label="api")
        probe = Probe(ctx["db"], ctx["db_name"], ctx["query_dir"], fake.pid)
        slug = ctx["pickaxe_fast"].slug
        targets = {
            SITE: Target(server.port, slug, ctx["sessions"], ctx["csrf"]),
            API: ApiTarget(server.port, slug, api_secrets),
        }

        async def go():
            rounds = {}
            for variant in (SITE, API):  # warm up both paths; not measured
                await measured_round(targets[variant], 8, probe, server)
            for clients in levels:
                for r in range(ROUNDS):
                    for variant in (SITE, API) if r % 2 == 0 else (API, SITE):
                        every, inside, used = await measured_round(targets[variant], clients, probe, server)
                        rounds.setdefault((variant, clients), []).append((every, inside, used))
                        failed = sum(1 for x in every if not x.ok)
                        print(
                            f"  {clients:>3} clients, round {r + 1}, {variant:<4} {len(inside) / used['t']:7.1f} runs/s"
                            + (f", {failed} failed: {failure_text(every)}" if failed else ""),
                            flush=True,
                        )
            return rounds

        stats = summarize(asyncio.run(go()))
    finally:
        if probe:
            probe.close()
        if server:
            server.stop()
        fake.stop()

    rows = [
        (
            str(clients),
            variant,
            f"{stats[variant, clients]['rate']:,.1f}",
            f"{ms(stats[variant, clients]['p50']):.1f}",
            f"{ms(stats[variant, clients]['p99']):.1f}",
            f"{stats[variant, clients]['cpu'] * 1000:.2f}",
            f"{stats[variant, clients]['queries']:.1f}",
            f"{len(stats[variant, clients]['failed'])}/{stats[variant, clients]['sent']}",
        )
        for clients in levels
        for variant in (SITE, API)
    ]
    print()
    print_table(
        ("clients", "path", "runs/s", "p50 ms", "p99 ms", "server CPU ms/run", "SQL/run", "failed"),
        rows,
        right=range(2, 8),
    )
    verdicts = []
    for clients in levels:
        site, api = stats[SITE, clients], stats[API, clients]
        verdicts.append(
            (
                api["cpu"] <= site["cpu"] * API_CPU_TOLERANCE and not api["failed"],
                f"{clients} clients: API server CPU {api['cpu'] * 1000:.2f} ms/run <= the site's "
                f"{site['cpu'] * 1000:.2f} (+{API_CPU_TOLERANCE - 1:.0%}); {api['rate']:,.1f} vs "
                f"{site['rate']:,.1f} runs/s; every API run ok: {not api['failed']}",
            )
        )
    return verdicts, server.log


# --------------------------------------------------------------------------- report


def print_table(headers, rows, right=()):
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(values):
        return "  ".join(
            v.rjust(widths[i]) if i in right else v.ljust(widths[i]) for i, v in enumerate(values)
        ).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def summarize(rounds):
    """Per (variant, clients): median runs/s of the rounds, spread, pooled latencies, costs."""
    out = {}
    for key, items in rounds.items():
        rates = [len(inside) / used["t"] for _, inside, used in items]
        lat = [r.latency for _, inside, _ in items for r in inside]
        runs = sum(len(inside) for _, inside, _ in items)
        total = {k: sum(used[k] for _, _, used in items) for k in items[0][2]}
        every = [r for every, _, _ in items for r in every]
        median = statistics.median(rates)
        out[key] = {
            "rate": median,
            "rates": rates,
            "spread": (max(rates) - min(rates)) / median if median else float("nan"),
            "p50": percentile(lat, 50) if lat else float("nan"),
            "p99": percentile(lat, 99) if lat else float("nan"),
            "cpu": total["server"] / runs if runs else float("nan"),
            "queries": total["queries"] / runs if runs else float("nan"),
            "pg": total["pg"] / runs if runs else float("nan"),
            "fake": total["fake"] / runs if runs else float("nan"),
            "client": total["client"] / runs if runs else float("nan"),
            "others": total["others"] / total["t"],
            "machine": total["machine"] / total["t"],
            "sent": len(every),
            "failed": [r for r in every if not r.ok],
        }
    return out


def main():
    global LEVELS, ROUNDS, WINDOW, BURST, USERS, WORKERS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a ~1-minute smoke run with small numbers (its verdicts mean nothing)"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the server logs even if every target passes")
    parser.add_argument(
        "--profile",
        metavar="SECONDS",
        type=float,
        help="instead of the benchmark: sample the project's worker with py-spy (--gil) for SECONDS under 8 clients "
        "and print where its CPU goes",
    )
    parser.add_argument(
        "--profile-path",
        choices=("site", "api", "burst"),
        default="site",
        help="with --profile: the runs posted, to the site's run view (default), to the run API, or the burst's "
        "runs at once against the slow fake",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=WORKERS,
        help=f"worker processes of every server (WEB_CONCURRENCY; default {WORKERS}, production's default is 2)",
    )
    args = parser.parse_args()
    WORKERS = max(1, args.workers)
    if args.quick:
        LEVELS, ROUNDS, WINDOW, BURST, USERS = (1, 8), 1, 2.0, 100, 30

    began = time.perf_counter()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    atexit.register(CLEANUP.run)
    start_watchdog(MAX_SECONDS)
    raise_nofile()

    url, db_name, db_params = database_from_url()
    # How busy other people keep the machine: IDLE_SAMPLE s while this script only sleeps.
    busy0 = machine_busy()
    time.sleep(IDLE_SAMPLE)
    idle_others = (machine_busy() - busy0) / IDLE_SAMPLE
    max_connections, other_connections = create_database(db_name, db_params)
    CLEANUP.add(lambda: drop_database(db_name, db_params))
    logs = Path(tempfile.mkdtemp(prefix="streams-bench-"))
    query_dir = Path(
        tempfile.mkdtemp(prefix="streams-bench-queries-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    )
    CLEANUP.add(lambda: shutil.rmtree(query_dir, ignore_errors=True))

    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    cache_prefix = f"bench-{secrets.token_hex(8)}"
    CLEANUP.add(lambda: forget_cache_keys(redis_url, cache_prefix))
    server_env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(40),  # also this process's: it signs the sessions
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": url,
        "OPENAI_API_KEY": "sk-bench",
        "FIELD_ENCRYPTION_KEYS": "Ahvy3-D0ldBbWBTVFKbhWT9z-WVzuS0MeQrpzb2I7WI=",  # production requires one
        "EMAIL_URL": "consolemail://",  # production requires one
        "SECURE_SSL_REDIRECT": "false",  # the bench speaks plain HTTP to 127.0.0.1
        "LOG_LEVEL": "WARNING",
        "BENCH_QUERY_COUNT_DIR": str(query_dir),
        # Redis as production has it (sessions are read from it); keys under a prefix of
        # this run's own. BENCH_REDIS_URL= (empty) runs on a per-process cache instead.
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": cache_prefix,
        "ALLOW_LOCAL_CACHE": "true",
    }
    for name in (
        "OPENAI_BASE_URL",
        "WEB_CONCURRENCY",
        "PORT",
        "GUNICORN_CMD_ARGS",
        "DJANGO_SETTINGS_MODULE",
        "DATABASE_POOL_MAX_SIZE",
    ):
        server_env.pop(name, None)
    setup_django(
        {
            k: server_env[k]
            for k in (
                "DEBUG",
                "SECRET_KEY",
                "ALLOWED_HOSTS",
                "DATABASE_URL",
                "OPENAI_API_KEY",
                "FIELD_ENCRYPTION_KEYS",
                "EMAIL_URL",
                "SECURE_SSL_REDIRECT",
                "LOG_LEVEL",
                "REDIS_URL",
                "CACHE_KEY_PREFIX",
                "ALLOW_LOCAL_CACHE",
            )
        }
    )
    sessions = create_sessions(USERS)
    owner = new_user("owner")
    pickaxe_fast, pickaxe_burst = new_pickaxe(owner, "throughput"), new_pickaxe(owner, "burst")
    from django.db import connection

    connection.close()
    import gunicorn
    import uvicorn

    print(
        f"Database {db_name!r} (from DATABASE_URL, dropped at exit); PostgreSQL max_connections "
        f"{max_connections}, {other_connections} client connections open at the start."
    )
    print(
        f"gunicorn {gunicorn.__version__}, uvicorn {uvicorn.__version__} ({GUNICORN_CONF.name}: gunicorn.conf.py "
        f"+ a query counter), DEBUG=false, WEB_CONCURRENCY={WORKERS}; {os.cpu_count()} CPU cores, load average "
        f"{os.getloadavg()[0]:.2f}; open-file limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}."
    )
    print(
        f"{USERS} users with sessions; the fake model answers {CHUNKS} chunks at once (throughput) or "
        f"{SLOW_DELAY:g} s apart, ~{(CHUNKS - 1) * SLOW_DELAY:g} s (burst). Logs: {logs}",
        flush=True,
    )
    print(
        f"Before the start, with this script idle for {IDLE_SAMPLE:g} s, other processes kept "
        f"{idle_others:.2f} of {os.cpu_count()} cores busy.\n"
    )

    ctx = {
        "server_env": server_env,
        "sessions": sessions,
        "csrf": csrf_secret(),
        "db": db_params,
        "db_name": db_name,
        "logs": logs,
        "query_dir": query_dir,
        "pickaxe_fast": pickaxe_fast,
    }

    if args.profile:
        profile(ctx, args.profile, path=args.profile_path)
        return

    print(
        f"1. Throughput: {ROUNDS} rounds of {WINDOW:g} s per variant and level, alternating "
        f"(setup took {time.perf_counter() - began:.0f} s).",
        flush=True,
    )
    rounds, throughput_logs = throughput(ctx)
    stats = summarize(rounds)
    print(
        f"\n2. Burst: {BURST} runs at once, fake at ~{(CHUNKS - 1) * SLOW_DELAY:g} s "
        f"({time.perf_counter() - began:.0f} s so far).",
        flush=True,
    )
    bursts = {}
    for variant in THROUGHPUT_VARIANTS:  # the project, then the Django floor and the baseline for reference
        bursts[variant] = burst(ctx, variant, pickaxe_burst)
        print(f"  {variant}: {bursts[variant]['ok']}/{BURST} ok", flush=True)
    print()
    print(f"3. The run API beside the site ({time.perf_counter() - began:.0f} s so far).", flush=True)
    api_verdicts, api_log = api_beside_site(ctx)
    print()

    # ---- throughput table
    headers = (
        "clients",
        "variant",
        "runs/s",
        "rounds",
        "spread",
        "p50 ms",
        "p99 ms",
        "CPU ms/run",
        "queries/run",
        "PG ms/run",
        "fake ms/run",
        "client ms/run",
        "others' cores",
        "failed",
        "of baseline",
    )
    rows = []
    for clients in LEVELS:
        for variant in THROUGHPUT_VARIANTS:
            s = stats[variant, clients]
            ratio = s["rate"] / stats[BASELINE, clients]["rate"] if stats[BASELINE, clients]["rate"] else 0.0
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
                    f"{s['queries']:.1f}",
                    f"{ms(s['pg']):.1f}",
                    f"{ms(s['fake']):.2f}",
                    f"{ms(s['client']):.2f}",
                    f"{s['others']:.2f}",
                    f"{len(s['failed'])}/{s['sent']}",
                    f"{ratio:.0%}" if variant != BASELINE else "",
                )
            )
    print(
        "Throughput (runs/s: median of the rounds; rounds: each round's runs/s; spread: (max-min)/median; "
        "p50/p99 over every round's runs; CPU: the server's processes; others': CPU of everything else "
        "on the machine, in cores):"
    )
    print_table(headers, rows, right=set(range(2, 15)) - {3})
    for clients in LEVELS:
        for variant in THROUGHPUT_VARIANTS:
            failed = stats[variant, clients]["failed"]
            if failed:
                print(f"  {variant} at {clients} clients: {failure_text(failed)}")
    for clients in LEVELS:  # what Django alone leaves of the baseline's rate (bench/django_floor.py)
        p, f, b = (stats[v, clients]["rate"] for v in THROUGHPUT_VARIANTS)
        if f and b:
            print(
                f"  {clients} clients: the Django floor reaches {f / b:.0%} of the baseline's runs/s, "
                f"the project {p / f:.0%} of the floor's."
            )

    # ---- burst table
    print()
    headers = (
        "burst",
        "ok",
        "headers max s",
        "headers p50 s",
        "p50 s",
        "p99 s",
        "peak RSS MiB",
        "worker threads",
        "DB conns",
        "CPU ms/run",
        "queries/run",
        "PG ms/run",
        "fake ms/run",
        "client ms/run",
        "others' cores",
    )
    rows = []

    def seconds(value):
        return f">{BURST_TIMEOUT:g}" if value == float("inf") else f"{value:.2f}"

    for variant, b in bursts.items():
        used = b["used"]
        rows.append(
            (
                variant,
                f"{b['ok']}/{BURST}",
                seconds(b["headers_max"]),
                seconds(b["headers_p50"]),
                seconds(b["p50"]),
                seconds(b["p99"]),
                f"{mib(b['idle_rss']):.0f} -> {mib(b['peak_rss']):.0f}",
                str(b["peak_threads"]),
                str(b["peak_db"]),
                f"{ms(used['server'] / BURST):.1f}",
                f"{used['queries'] / BURST:.1f}",
                f"{ms(used['pg'] / BURST):.1f}",
                f"{ms(used['fake'] / BURST):.2f}",
                f"{ms(used['client'] / BURST):.2f}",
                f"{used['others'] / used['t']:.2f}",
            )
        )
    print(
        f"Burst ({BURST} runs posted at once to a fresh server; headers: from the burst to the response "
        f"headers; p50/p99: POST to the end of the stream, a run that did not succeed within {BURST_TIMEOUT:g} s "
        "counting as endless; RSS: master + worker, idle -> peak; per run: the burst's totals / "
        f"{BURST}):"
    )
    print_table(headers, rows, right=set(range(1, 15)))
    for variant, b in bursts.items():
        if b["ok"] < BURST:
            print(f"  {variant}: {failure_text(b['results'])}")
    if bursts[PROJECT]["statuses"] is not None:
        print(f"  project runs in the database: {statuses_text(bursts[PROJECT]['statuses'])}")

    # ---- noise
    spreads = [s["spread"] for s in stats.values() if s["rate"]]
    others = [s["others"] for s in stats.values()]
    print(
        f"\nNoise: spread between rounds of the same variant and level {min(spreads):.0%}-{max(spreads):.0%} "
        f"(median {statistics.median(spreads):.0%}); CPU used by others during the rounds "
        f"{min(others):.2f}-{max(others):.2f} cores of {os.cpu_count()}; load average now "
        f"{os.getloadavg()[0]:.2f}.\n"
    )

    # ---- verdicts
    verdicts = []

    def target(ok, text):
        verdicts.append(bool(ok))
        print(f"{'PASS' if ok else 'FAIL'}  {text}")

    for clients in (c for c in TARGET_RATIO_LEVELS if c in LEVELS):
        p, b = stats[PROJECT, clients]["rate"], stats[BASELINE, clients]["rate"]
        target(
            b > 0 and p >= TARGET_RATIO * b,
            f"{clients} clients: project {p:,.1f} runs/s >= {TARGET_RATIO:.0%} of the baseline's {b:,.1f} ({p / b:.0%})"
            if b
            else f"{clients} clients: the baseline completed no runs",
        )
    best = max(LEVELS, key=lambda c: stats[PROJECT, c]["rate"])
    target(
        stats[PROJECT, best]["rate"] >= TARGET_RUNS_PER_SECOND,
        f"project reaches {TARGET_RUNS_PER_SECOND} runs/s: best {stats[PROJECT, best]['rate']:,.1f} "
        f"(at {best} clients)",
    )
    failed = {v: sum(len(stats[v, c]["failed"]) for c in LEVELS) for v in THROUGHPUT_VARIANTS}
    sent = {v: sum(stats[v, c]["sent"] for c in LEVELS) for v in THROUGHPUT_VARIANTS}
    target(
        not any(failed.values()),
        "every throughput run ended ok: " + ", ".join(f"{v} {sent[v] - failed[v]}/{sent[v]}" for v in failed),
    )
    p = bursts[PROJECT]
    target(
        p["ok"] == BURST and (p["statuses"] or {}).get("succeeded", 0) == BURST,
        f"burst: all {BURST} runs succeed: {p['ok']} ended ok; in the database: {statuses_text(p['statuses'])}",
    )
    target(
        p["headers"] == BURST and p["headers_max"] <= TARGET_HEADERS_WITHIN,
        f"burst: every stream opened within {TARGET_HEADERS_WITHIN:g} s: {p['headers']}/{BURST} opened, "
        f"the last after {p['headers_max']:.2f} s",
    )
    target(p["p50"] < TARGET_BURST_MEDIAN, f"burst: median run under {TARGET_BURST_MEDIAN:g} s: {seconds(p['p50'])} s")
    target(
        p["peak_rss"] < TARGET_RSS_BYTES,
        f"burst: peak RSS (master + worker) under {mib(TARGET_RSS_BYTES):.0f} MiB: {mib(p['peak_rss']):.0f} MiB",
    )
    target(
        p["peak_threads"] < TARGET_THREADS,
        f"burst: fewer than {TARGET_THREADS} threads in the worker: at most {p['peak_threads']}",
    )

    for ok, text in api_verdicts:
        target(ok, f"API: {text}")

    server_logs = list(throughput_logs.values()) + [b["log"] for b in bursts.values()] + [api_log]
    killed = sum(log_count(log, "WORKER TIMEOUT") for log in server_logs)
    if killed:
        print(f"\nNOTE  gunicorn killed a worker {killed}x (WORKER TIMEOUT) and every stream it held.")
    too_many = sum(log_count(log, "too many clients", "remaining connection slots") for log in server_logs)
    if too_many:
        print(
            f"\nNOTE  PostgreSQL refused connections {too_many}x ('too many clients'; max_connections "
            f"{max_connections})."
        )
    tracebacks = {log.name: log_count(log, "Traceback") for log in server_logs}
    if any(tracebacks.values()):
        print(
            "\nNOTE  tracebacks in the server logs: " + ", ".join(f"{name} {n}" for name, n in tracebacks.items() if n)
        )

    failures = verdicts.count(False)
    if failures or args.keep_logs:
        print(f"\nServer logs kept in {logs}")
    else:
        shutil.rmtree(logs, ignore_errors=True)
    print(f"\n{len(verdicts) - failures}/{len(verdicts)} targets met in {time.perf_counter() - began:.0f} s.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
