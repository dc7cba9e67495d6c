"""Benchmark of the production server on the run endpoint (see bench/README.md).

    .venv/bin/python bench/streams.py

Drops and re-creates the PostgreSQL database `pickaxe_streams_bench` (server, user and
password from DATABASE_URL when set, else postgres@127.0.0.1:5432), migrates it, creates
users with credits and logged-in sessions and a public pickaxe with one short-text
field, then measures, with the fake OpenAI server (tests/fakes/openai_server.py) in a
subprocess and gunicorn (gunicorn.conf.py) in another:

1. Submits per second and p50/p99 latency (POST to the last SSE event) with the fake
   answering at once: 32 closed-loop clients for 15 s, one uvicorn worker process.
2. Concurrent streams with the fake taking ~10 s per answer: 1,000 runs opened at once
   against one uvicorn worker process; how many are open together, how many end with
   `end` ok=true, and the peak RSS of gunicorn's processes (master + worker).
3. The same 10 s runs through gunicorn's sync worker (1 worker, 1 thread) and gthread
   worker (1 worker, 32 threads) on config.wsgi, side by side for 30 s, posted as a
   browser without JavaScript does; runs open at once and ended are read from the DB.
4. The metering step: services.start_run + finish_run through sync_to_async from 1 and
   32 asyncio tasks, interleaved call by call with a baseline that writes the same Run
   row without credits.spend.

Prints a table, one PASS/FAIL line per target and DIAGNOSIS notes for causes found in
the server logs; exits 1 if any target fails. The load client is this process (asyncio,
raw HTTP/1.1); the servers are subprocesses.
"""

import argparse
import asyncio
import json
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlencode, urlsplit

from run import ms, percentile  # bench/run.py (this folder is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "pickaxe_streams_bench"  # dropped and re-created: never any other name
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/"

USERS = 200  # logged-in sessions the load is spread over
ALLOWANCE = 100_000  # credits per user: nobody runs out

# 1. Throughput with the fake answering at once.
SUBMIT_CLIENTS = 32
SUBMIT_WARMUP = 2.0
SUBMIT_SECONDS = 15.0
SUBMIT_GRACE = 10.0  # a run still open this long after the window is given up

# 2. Concurrent streams: an answer of SLOW_WORDS words, SLOW_DELAY s apart, lasts
#    (SLOW_WORDS - 1) * SLOW_DELAY = 10 s at the fake.
STREAMS = 1000
SLOW_WORDS = 21
SLOW_DELAY = 0.5
STREAM_DEADLINE = 60.0  # seconds from the burst: a stream not ended by then is given up

# 3. gunicorn's sync and gthread workers, same 10 s answers.
SYNC_WINDOW = 30.0
SYNC_CLIENTS = {"sync 1x1": 8, "gthread 1x32": 64}  # closed-loop clients, well above the threads

# 4. Metering.
METER_LEVELS = (1, 32)  # concurrent tasks; the target is read at 32
METER_WARMUP = 1.0
METER_SECONDS = 10.0  # per level, after the warm-up

# Targets (the issue's).
TARGET_STREAMS = 1000
TARGET_RSS_BYTES = 1 << 30  # 1 GiB
TARGET_METERING_P99_MS = 5.0

NOFILE = 65536


# --------------------------------------------------------------------------- plumbing


def raise_nofile():
    """Raise the open-file limit toward the hard limit (each stream is 2-3 sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def mib(nbytes):
    return nbytes / (1 << 20)


def bench_database_url():
    """DATABASE_URL's server and credentials, always with the database DB_NAME."""
    base = os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL
    parts = urlsplit(base)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        base, parts = DEFAULT_SERVER_URL, urlsplit(DEFAULT_SERVER_URL)
    return parts._replace(path="/" + DB_NAME, query="", fragment="").geturl()


def recreate_database(url):
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    assert unquote(parts.path.lstrip("/")) == DB_NAME
    params = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": unquote(parts.username) if parts.username else "postgres",
    }
    if parts.password:
        params["password"] = unquote(parts.password)
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
        max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])
        others = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").fetchone()[0]
    return params, max_connections, others


# --------------------------------------------------------------------------- fake model


def serve_fake(delay, words):
    """Subprocess mode: the fake OpenAI server with a deep listen backlog, until stdin closes."""
    sys.path.insert(0, str(ROOT))
    from http.server import ThreadingHTTPServer

    from tests.fakes.openai_server import FakeOpenAIServer, _Handler

    class DeepBacklogServer(ThreadingHTTPServer):
        request_queue_size = 4096  # the default 5 drops connections in a burst of 1,000
        daemon_threads = True

    class BenchFake(FakeOpenAIServer):
        def start(self):
            self._httpd = DeepBacklogServer(("127.0.0.1", 0), _Handler)
            self._httpd.fake = self
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
            return self

    threading.stack_size(256 * 1024)  # 1,000 handler threads
    fake = BenchFake()
    fake.reply = " ".join(f"word{i}" for i in range(words))
    fake.chunk_delay = delay
    fake.start()
    print(fake.url, flush=True)
    sys.stdin.read()  # the parent closes our stdin to stop us
    fake.stop()


class Subprocess:
    """A child process in its own process group, stopped by its pid."""

    def __init__(self, args, *, env=None, log=None, stdout=None, stderr=None):
        self.log = log
        out = open(log, "ab") if log else stdout
        err = subprocess.STDOUT if log else open(stderr, "ab") if stderr else None
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=out, stderr=err,
            preexec_fn=lambda: (raise_nofile(), os.setpgrp()),
        )
        for f in (out, err):
            if hasattr(f, "close") and f is not stdout:
                f.close()

    def stop(self, sig=signal.SIGINT, timeout=15):
        """SIGINT: gunicorn's quick shutdown (streams still open are cut, not waited for)."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Anything left in its group (a worker orphaned by a killed master).
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def start_fake(delay, words, logs):
    child = Subprocess([sys.executable, __file__, "--fake", str(delay), str(words)], stdout=subprocess.PIPE,
                       stderr=logs / "fake-openai.log")
    url = child.proc.stdout.readline().decode().strip()
    if not url.startswith("http://"):
        child.stop()
        sys.exit("bench: the fake OpenAI server did not start.")
    return child, url


# --------------------------------------------------------------------------- gunicorn


def start_gunicorn(app, *, fake_url, server_env, log, extra=()):
    port = free_port()
    env = dict(server_env, OPENAI_BASE_URL=fake_url + "/v1", WEB_CONCURRENCY="1", PORT=str(port))
    args = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{port}", *extra, app]
    server = Subprocess(args, env=env, log=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return server, port
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    sys.exit(f"bench: gunicorn did not answer /healthz; see {log}:\n" + Path(log).read_text()[-3000:])


def process_tree(pid):
    """pid and all its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


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


class Sampler:
    """Every 0.1 s: RSS of the server's processes and the worker's threads; every 0.25 s:
    PostgreSQL connections to the bench database and runs still 'running', per pickaxe."""

    def __init__(self, db_params, server_pids=()):
        self.db_params = db_params
        self.server_pids = list(server_pids)
        self.peak_rss = 0
        self.peak_worker_rss = 0
        self.peak_threads = 0
        self.peak_db_connections = 0
        self.peak_running = {}
        self.idle_rss = None
        self.server_cores = self.machine_cores = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _cpu(self):
        """(wall, machine busy CPU s, server processes' CPU s)."""
        tick = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        busy = (sum(fields) - fields[3] - fields[4]) / tick  # all but idle and iowait
        server = 0.0
        for master in self.server_pids:
            for pid in process_tree(master):
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        values = f.read().rsplit(")", 1)[1].split()
                    server += (int(values[11]) + int(values[12])) / tick
                except (OSError, IndexError, ValueError):
                    pass
        return time.monotonic(), busy, server

    def __enter__(self):
        self._cpu_start = self._cpu()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        wall, busy, server = (end - start for end, start in zip(self._cpu(), self._cpu_start))
        self.machine_cores = busy / wall if wall else 0.0
        self.server_cores = server / wall if wall else 0.0

    def cpu_text(self):
        server = f"{self.server_cores:.2f} cores" if self.server_cores >= 0 else "n/a (a worker was replaced)"
        return f"server CPU {server}, machine {self.machine_cores:.2f}/{os.cpu_count()} busy"

    def _loop(self):
        import psycopg

        conn = psycopg.connect(dbname=DB_NAME, autocommit=True, **self.db_params)
        next_db = 0.0
        try:
            while not self._stop.is_set():
                total = 0
                for master in self.server_pids:
                    for pid in process_tree(master):
                        status = proc_status(pid)
                        if not status:
                            continue
                        rss = int(status.get("VmRSS", "0 kB").split()[0]) * 1024
                        total += rss
                        if pid != master:
                            self.peak_worker_rss = max(self.peak_worker_rss, rss)
                            self.peak_threads = max(self.peak_threads, int(status.get("Threads", "0")))
                if self.idle_rss is None:
                    self.idle_rss = total
                self.peak_rss = max(self.peak_rss, total)
                now = time.monotonic()
                if now >= next_db:
                    next_db = now + 0.25
                    try:
                        connections = conn.execute(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        ).fetchone()[0]
                        self.peak_db_connections = max(self.peak_db_connections, connections)
                        for pickaxe_id, running in conn.execute(
                            "SELECT pickaxe_id, count(*) FROM pickaxes_run WHERE status = 'running' GROUP BY 1"
                        ):
                            self.peak_running[pickaxe_id] = max(self.peak_running.get(pickaxe_id, 0), running)
                    except psycopg.Error:
                        pass
                self._stop.wait(0.1)
        finally:
            conn.close()


def log_has(path, *needles):
    """How many times the needles occur in a server log."""
    try:
        text = Path(path).read_text(errors="replace")
    except (OSError, TypeError):
        return 0
    return sum(text.count(needle) for needle in needles)


# --------------------------------------------------------------------------- load client


class Target:
    """Where to POST runs, and the logged-in sessions to POST them with."""

    def __init__(self, port, slug, sessions, csrf, *, accept="text/event-stream"):
        self.port = port
        self.slug = slug
        self.sessions = sessions
        self.csrf = csrf
        self.accept = accept  # text/html: the form post of a browser without JavaScript
        self.counter = 0

    def request(self, label):
        self.counter += 1
        session = self.sessions[self.counter % len(self.sessions)]
        key = f"{label}-{self.counter}-{secrets.token_urlsafe(18)}"[:64]  # 16-64 chars
        body = urlencode({"submission_key": key, "topic": f"stream number {self.counter}"}).encode()
        head = (
            f"POST /p/{self.slug}/run/ HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{self.port}\r\n"
            f"Accept: {self.accept}\r\n"
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
        out += data[j + 2:j + 2 + size]
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


async def post_run(target, label, timeout):
    """One run: POST, read the whole response (Connection: close), check the last event."""
    result = Result()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", target.port, limit=1 << 20)
            writer.write(target.request(label))
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
        result.deltas = sum(1 for name, _ in events if name == "delta")
        if events and events[-1][0] == "end":
            end = json.loads(events[-1][1])
            result.ok = result.status == 200 and end.get("ok") is True
            result.message = end.get("message", "")[:80]
        elif result.status != 200:
            result.message = body[:80].decode("utf-8", "replace").strip()
        else:
            result.message = "no end event"
    except TimeoutError:
        result.error = "client timeout"
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:80]
    finally:
        if result.t_end is None:
            result.t_end = time.perf_counter()
        if writer is not None:
            writer.close()
    return result


async def closed_loop(target, *, clients, seconds, warmup=0.0, grace, label):
    """`clients` tasks each sending runs one after another from now until the end of the
    window (warm-up + seconds). A run still open `grace` seconds after the window is
    given up (a client timeout). Returns every run, and the window's start and end."""
    start = time.perf_counter()
    window_start = start + warmup
    window_end = window_start + seconds
    results = []

    async def client():
        while (now := time.perf_counter()) < window_end:
            results.append(await post_run(target, label, window_end + grace - now))

    await asyncio.gather(*(client() for _ in range(clients)))
    return results, window_start, window_end


def peak_open(results):
    """Most responses open at once: between response headers and the end of the body."""
    edges = []
    for r in results:
        if r.t_head is not None:
            edges.append((r.t_head, 1))
            edges.append((r.t_end, -1))
    edges.sort()
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def outcome_notes(results):
    """Counts of the ways runs did not succeed (status, message or client error)."""
    counts = {}
    for r in results:
        if r.ok:
            continue
        what = r.error or f"HTTP {r.status}" + (f" {r.message!r}" if r.message else "")
        counts[what] = counts.get(what, 0) + 1
    return ", ".join(f"{n}x {what}" for what, n in sorted(counts.items(), key=lambda kv: -kv[1])[:3])


# --------------------------------------------------------------------------- setup


def setup_django(env):
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
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


def create_users():
    """USERS users with ALLOWANCE credits each, and a logged-in session for each."""
    from django.test import Client

    from credits.services import set_allowance

    users, sessions = [], []
    for i in range(USERS):
        user = new_user(f"user{i}")
        set_allowance(user, ALLOWANCE, reason="benchmark: streams")
        client = Client()
        client.force_login(user)  # a session in the database, as a login makes
        users.append(user)
        sessions.append(client.cookies["sessionid"].value)
    return users, sessions


def pickaxe_factory():
    """new_pickaxe(label): a public pickaxe with one short-text field; one per
    measurement, so each one's runs can be counted apart."""
    from django.conf import settings
    from django.utils.text import slugify

    from pickaxes.models import InputField, Pickaxe

    owner = new_user("owner")

    def new_pickaxe(label):
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
            pickaxe=pickaxe, position=0, label="Topic", key="topic",
            kind=InputField.Kind.SHORT_TEXT, max_length=200,
        )
        return pickaxe

    return new_pickaxe


def csrf_secret():
    """A CSRF cookie value; the same value in the X-CSRFToken header passes the check."""
    from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH
    from django.utils.crypto import get_random_string

    return get_random_string(CSRF_SECRET_LENGTH, allowed_chars=CSRF_ALLOWED_CHARS)


# --------------------------------------------------------------------------- benchmarks


def run_statuses(pickaxe):
    """How the runs of one pickaxe ended, from the database (after the server stopped)."""
    from django.db import connection
    from django.db.models import Count

    from pickaxes.models import Run

    counts = dict(Run.objects.filter(pickaxe=pickaxe).values_list("status").annotate(n=Count("id")))
    connection.close()
    return counts


def statuses_text(counts):
    return "runs in DB: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) if counts else "no runs in DB"


def bench_submits(ctx, rows, out, *, app, server_label):
    """1. Submits/s and latency with the fake answering at once, one uvicorn worker."""
    fake, fake_url = start_fake(0.0, 10, ctx["logs"])
    log = ctx["logs"] / f"submits-{server_label.replace(' ', '_')}.log"
    pickaxe = ctx["pickaxe"](f"submits {server_label}")
    server, port = start_gunicorn(app, fake_url=fake_url, server_env=ctx["server_env"], log=log)
    try:
        target = Target(port, pickaxe.slug, ctx["sessions"], ctx["csrf"])
        with Sampler(ctx["db"], [server.proc.pid]) as sampler:
            every, window_start, _ = asyncio.run(
                closed_loop(target, clients=SUBMIT_CLIENTS, seconds=SUBMIT_SECONDS,
                            warmup=SUBMIT_WARMUP, grace=SUBMIT_GRACE, label="fast")
            )
    finally:
        server.stop()
        fake.stop()
    statuses = run_statuses(pickaxe)
    results = [r for r in every if r.t0 >= window_start]  # the warm-up's are only checked
    ok = [r for r in results if r.ok]
    lat = [r.latency for r in ok]
    rate = len(ok) / SUBMIT_SECONDS
    failed = [r for r in every if not r.ok]
    notes = f"{len(every)} sent in all, {len(failed)} failed"
    if failed:
        notes += f" ({outcome_notes(failed)})"
    notes += (f"; {statuses_text(statuses)}; {sampler.cpu_text()}; peak RSS {mib(sampler.peak_rss):.0f} MiB, "
              f"{sampler.peak_db_connections} DB conns")
    rows.append((f"submit, fake 0 ms, +{SUBMIT_WARMUP:g} s warm-up", server_label, SUBMIT_CLIENTS, SUBMIT_SECONDS,
                 len(ok), rate, ms(percentile(lat, 50)), ms(percentile(lat, 99)), notes))
    out.update(rate=rate, total=len(every), ok=len(every) - len(failed), p50=percentile(lat, 50),
               p99=percentile(lat, 99), log=log, statuses=statuses)


def bench_streams(ctx, rows, out, *, app, server_label):
    """2. 1,000 runs of ~10 s opened at once against one uvicorn worker process."""
    fake, fake_url = start_fake(SLOW_DELAY, SLOW_WORDS, ctx["logs"])
    log = ctx["logs"] / f"streams-{server_label.replace(' ', '_')}.log"
    pickaxe = ctx["pickaxe"](f"streams {server_label}")
    server, port = start_gunicorn(app, fake_url=fake_url, server_env=ctx["server_env"], log=log)
    try:
        target = Target(port, pickaxe.slug, ctx["sessions"], ctx["csrf"])
        with Sampler(ctx["db"], [server.proc.pid]) as sampler:
            time.sleep(0.3)  # the idle RSS sample

            async def burst():
                return await asyncio.gather(*(post_run(target, "slow", STREAM_DEADLINE) for _ in range(STREAMS)))

            t0 = time.perf_counter()
            results = asyncio.run(burst())
            wall = time.perf_counter() - t0
            time.sleep(0.3)
    finally:
        server.stop()
        fake.stop()
    statuses = run_statuses(pickaxe)
    ok = [r for r in results if r.ok]
    lat = [r.latency for r in ok]
    held = peak_open(ok)
    heads = [r.t_head - r.t0 for r in results if r.t_head is not None]
    notes = (
        f"{held} ok streams open at once (any response: {peak_open(results)}); "
        f"RSS {mib(sampler.idle_rss or 0):.0f} -> {mib(sampler.peak_rss):.0f} MiB "
        f"(worker {mib(sampler.peak_worker_rss):.0f}), {sampler.peak_threads} worker threads, "
        f"{sampler.peak_db_connections} DB conns; {sampler.cpu_text()}"
    )
    if heads:
        notes += f"; response headers within {max(heads):.1f} s"
    if len(ok) < len(results):
        notes += f"; {len(results) - len(ok)} failed: {outcome_notes(results)}"
    notes += f"; {statuses_text(statuses)}"
    if log_has(log, "WORKER TIMEOUT"):
        notes += f"; gunicorn killed the worker {log_has(log, 'WORKER TIMEOUT')}x (WORKER TIMEOUT)"
    rows.append((f"streams, fake {(SLOW_WORDS - 1) * SLOW_DELAY:g} s, all at once", server_label, STREAMS, wall,
                 len(ok), len(ok) / wall, ms(percentile(lat, 50)), ms(percentile(lat, 99)), notes))
    out.update(ok=len(ok), held=held, peak_rss=sampler.peak_rss, db_connections=sampler.peak_db_connections,
               log=log, statuses=statuses)


def runs_succeeded_by(pickaxe, when):
    """Runs of `pickaxe` recorded as succeeded by `when` (a time.time() value)."""
    from datetime import UTC, datetime

    from django.db import connection

    from pickaxes.models import Run

    count = Run.objects.filter(
        pickaxe=pickaxe, status=Run.Status.SUCCEEDED, finished_at__lte=datetime.fromtimestamp(when, UTC)
    ).count()
    connection.close()
    return count


def bench_sync_workers(ctx, rows, out):
    """3. The same 10 s runs on gunicorn's sync and gthread workers (config.wsgi), side by
    side. Posted as a browser without JavaScript does (Accept: text/html): the streamed
    response does not work under WSGI (see README), and this path holds its thread for
    the whole run just the same. Runs that ended are counted in the database."""
    fake, fake_url = start_fake(SLOW_DELAY, SLOW_WORDS, ctx["logs"])
    kinds = {
        "sync 1x1": ["-k", "sync", "--workers", "1", "--threads", "1"],
        "gthread 1x32": ["-k", "gthread", "--workers", "1", "--threads", "32"],
    }
    servers, pickaxes, targets = {}, {}, {}
    try:
        for kind, extra in kinds.items():
            log = ctx["logs"] / f"wsgi-{kind.replace(' ', '_')}.log"
            pickaxes[kind] = ctx["pickaxe"](f"wsgi {kind}")
            server, port = start_gunicorn("config.wsgi:application", fake_url=fake_url,
                                          server_env=ctx["server_env"], log=log, extra=extra)
            servers[kind] = (server, log)
            targets[kind] = Target(port, pickaxes[kind].slug, ctx["sessions"], ctx["csrf"], accept="text/html")

        async def both():
            return await asyncio.gather(*(
                closed_loop(targets[kind], clients=SYNC_CLIENTS[kind], seconds=SYNC_WINDOW, grace=0.5, label="wsgi")
                for kind in kinds
            ))

        clock = time.time() - time.perf_counter()  # perf_counter -> wall clock
        with Sampler(ctx["db"], [server.proc.pid for server, _ in servers.values()]) as sampler:
            outcomes = asyncio.run(both())
        ended = {kind: runs_succeeded_by(pickaxes[kind], clock + window_end)
                 for kind, (_, _, window_end) in zip(kinds, outcomes)}
    finally:
        for server, _ in servers.values():
            server.stop()
        fake.stop()
    for kind, (results, _, _) in zip(kinds, outcomes):
        statuses = run_statuses(pickaxes[kind])
        running = sampler.peak_running.get(pickaxes[kind].pk, 0)
        answered = [r for r in results if r.status is not None]
        lat = [r.latency for r in answered]
        codes = {}
        for r in answered:
            codes[r.status] = codes.get(r.status, 0) + 1
        notes = (f"at most {running} runs open at once; {ended[kind]} runs succeeded in the window (DB); "
                 f"responses: " + (", ".join(f"{n}x HTTP {code}" for code, n in sorted(codes.items())) or "none")
                 + f", {len(results) - len(answered)} unanswered; {statuses_text(statuses)}")
        rows.append((f"no-JS runs, fake 10 s, {SYNC_WINDOW:g} s window", kind, SYNC_CLIENTS[kind], SYNC_WINDOW,
                     ended[kind], ended[kind] / SYNC_WINDOW, ms(percentile(lat, 50)), ms(percentile(lat, 99)), notes))
        out[kind] = {"ok": ended[kind], "running": running, "log": servers[kind][1], "codes": codes}


def start_run_unmetered(*, pickaxe, payer, submitted_by, inputs, submission_key, source):
    """pickaxes.services.start_run without the charge: the same transaction, earlier-key
    check, Run row (in its savepoint) and run counter, but no credits.spend (the Run has
    no entry). Keep it in step with start_run, or the difference measures something else."""
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from pickaxes.models import Pickaxe, Run

    with transaction.atomic():
        earlier = Run.objects.filter(payer=payer, submission_key=submission_key).first()
        if earlier:
            return earlier, False
        with transaction.atomic():
            run = Run.objects.create(
                pickaxe=pickaxe, payer=payer, submitted_by=submitted_by, source=source,
                submission_key=submission_key, inputs=inputs, model=pickaxe.model, entry=None,
                started_at=timezone.now(),
            )
        Pickaxe.objects.filter(pk=pickaxe.pk).update(runs_count=F("runs_count") + 1)
    return run, True


def _connect():
    from django.db import connection

    connection.ensure_connection()  # this thread's connection (looked up in the thread)


def _disconnect():
    from django.db import connection

    connection.close()


def bench_metering(ctx, rows, out):
    """4. start_run + finish_run from asyncio tasks, each in a request-like thread context
    (as Django's ASGI handler gives each request: its own thread and DB connection), with
    and without the credit charge, at 1 and 32 concurrent tasks. Each task alternates the
    two call by call, so both meet the same load at the same moments: what differs
    between them is the charge, not the noise of separate runs."""
    from asgiref.sync import ThreadSensitiveContext, sync_to_async

    from pickaxes import services
    from pickaxes.models import Run

    pickaxe = ctx["pickaxe"]("metering")
    variants = {"metered": services.start_run, "unmetered": start_run_unmetered}
    names = list(variants)
    sequence = 0

    async def round_(users, seconds):
        ready = asyncio.Event()
        state = {"connected": 0}
        lat = {name: [] for name in names}

        async def task(index, user):
            nonlocal sequence
            async with ThreadSensitiveContext():
                await sync_to_async(_connect)()  # connected before the clock starts
                state["connected"] += 1
                if state["connected"] == len(users):
                    state["start"] = time.perf_counter()
                    ready.set()
                await ready.wait()
                deadline = state["start"] + seconds
                i = index
                while time.perf_counter() < deadline:
                    name = names[i % 2]
                    i += 1
                    sequence += 1
                    t0 = time.perf_counter()
                    run, _ = await sync_to_async(variants[name])(
                        pickaxe=pickaxe, payer=user, submitted_by=user, inputs={"topic": "metering"},
                        submission_key=f"meter-{name}-{sequence:08d}", source=Run.Source.SITE,
                    )
                    await sync_to_async(services.finish_run)(
                        run, output="Metered answer.", model=pickaxe.model, prompt_tokens=4, completion_tokens=3,
                    )
                    lat[name].append(time.perf_counter() - t0)
                await sync_to_async(_disconnect)()

        await asyncio.gather(*(task(i, u) for i, u in enumerate(users)))
        return lat, time.perf_counter() - state["start"]

    async def level(tasks):
        users = ctx["users"][:tasks]
        await round_(users, METER_WARMUP)
        return await round_(users, METER_SECONDS)

    for tasks in METER_LEVELS:
        lat, took = asyncio.run(level(tasks))
        for name in names:
            what = "start_run+finish_run" if name == "metered" else "same without credits.spend"
            rows.append((f"metering: {what}", "in-process", tasks, took, len(lat[name]),
                         len(lat[name]) / took, ms(percentile(lat[name], 50)), ms(percentile(lat[name], 99)),
                         "interleaved call by call with the other"))
            out[tasks, name] = {"p50": percentile(lat[name], 50), "p99": percentile(lat[name], 99)}


# --------------------------------------------------------------------------- report


def print_table(rows):
    headers = ("benchmark", "server", "clients", "secs", "ok", "ok/s", "p50 ms", "p99 ms", "notes")
    cells = [
        (name, server, str(clients), f"{secs:.1f}", str(ok), f"{rate:,.1f}", f"{p50:,.1f}", f"{p99:,.1f}", notes)
        for name, server, clients, secs, ok, rate, p50, p99, notes in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers[:-1])] + [0]
    right = {2, 3, 4, 5, 6, 7}

    def line(values):
        return "  ".join(
            v.rjust(widths[i]) if i in right else v.ljust(widths[i]) for i, v in enumerate(values)
        ).rstrip()

    print(line(headers))
    print("  ".join("-" * max(w, 5) for w in widths))
    for c in cells:
        print(line(c))


ASGI_APP = "config.asgi:application"


def diagnose(submits, streams, sync, max_connections, extra_logs=()):
    """Explanations for failures whose cause shows in the server logs."""
    notes = []
    logs = [submits.get("log"), streams.get("log")]
    quit_errors = sum(log_has(log, "CurrentThreadExecutor already quit") for log in logs)
    stuck = sum(r.get("statuses", {}).get("running", 0) for r in (submits, streams))
    if quit_errors or stuck:
        notes.append(
            f"runs that never end under the production config ({stuck} left 'running' in the DB, "
            f"{quit_errors} 'CurrentThreadExecutor already quit or is broken' errors logged; most such "
            "tasks die without a log line). With DEBUG off, settings.py inserts WhiteNoiseMiddleware, "
            "which is sync-only, so Django runs every view below it through async_to_sync. The task "
            "running.begin() starts with asyncio.create_task inherits that call's CurrentThreadExecutor; "
            "the executor quits when the view returns its StreamingHttpResponse, so the task's next "
            "sync_to_async (mark_output_started, then fail_run) raises RuntimeError, the task dies, the "
            "SSE response waits on its queue for ever and the run stays 'running' (charged) until the "
            "stale-run sweep. Fix: make the middleware chain fully async with an async-capable WhiteNoise "
            "middleware (config/middleware.py has one). To stay safe if a "
            "sync-only middleware is ever added, also start the run's task in a context of its own "
            "(create_task(..., context=contextvars.Context()) with _drive inside its own asgiref "
            "ThreadSensitiveContext), so its database calls never use the request's executors."
        )
    too_many = sum(log_has(log, "too many clients", "remaining connection slots") for log in logs)
    if too_many or streams.get("db_connections", 0) >= max_connections - 5:
        notes.append(
            f"PostgreSQL connections: up to {streams.get('db_connections', 0)} open "
            f"(max_connections {max_connections}), {too_many} 'too many clients' lines in the log. Under "
            "ASGI each request gets its own sync thread (asgiref ThreadSensitiveContext) and so its own "
            "connection, opened by the session lookup and closed (CONN_MAX_AGE=0) only when the response "
            "ends: an open stream keeps an idle connection for its whole life, so one process can hold "
            "at most about max_connections streams. Fix: close the connection after each database step "
            "of a run (after start_run, and after each call in running._drive), and cap connections per "
            "process with a pool (Django's OPTIONS['pool'] with psycopg-pool, i.e. psycopg[binary,pool]), "
            "so a burst waits for a connection instead of failing."
        )
    killed = sum(log_has(log, "WORKER TIMEOUT") for log in logs + list(extra_logs))
    if killed:
        notes.append(
            f"gunicorn killed a uvicorn worker {killed}x (WORKER TIMEOUT), cutting every stream it held: "
            "the worker reports to the master from its event loop only every timeout/2 s, so an event "
            "loop lagging that long under the burst counts as stuck (see `timeout` in gunicorn.conf.py)."
        )
    if any(500 in r.get("codes", {}) for r in sync.values()):
        notes.append(
            "the WSGI comparison's pages answer HTTP 500: with DEBUG off the run page is rendered "
            "with WhiteNoise's manifest storage, which needs `manage.py collectstatic` (the bench "
            "does not write STATIC_ROOT). The runs themselves succeed; they are counted in the DB."
        )
    return notes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fake", nargs=2, metavar=("DELAY", "WORDS"), help=argparse.SUPPRESS)
    parser.add_argument("--keep-logs", action="store_true", help="keep the server logs even if all targets pass")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (targets not meaningful)")
    args = parser.parse_args()
    if args.fake:
        return serve_fake(float(args.fake[0]), int(args.fake[1]))
    if args.quick:
        global SUBMIT_SECONDS, STREAMS, SYNC_WINDOW, METER_SECONDS, USERS, STREAM_DEADLINE
        SUBMIT_SECONDS, STREAMS, SYNC_WINDOW, METER_SECONDS, USERS, STREAM_DEADLINE = 3.0, 50, 12.0, 2.0, 40, 25.0

    began = time.perf_counter()
    raise_nofile()
    url = bench_database_url()
    db_params, max_connections, other_connections = recreate_database(url)
    server_env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(40),  # also this process's: it signs the sessions
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": url,
        "OPENAI_API_KEY": "sk-bench",
        "FIELD_ENCRYPTION_KEYS": "Ahvy3-D0ldBbWBTVFKbhWT9z-WVzuS0MeQrpzb2I7WI=",  # production requires one
        "LOG_LEVEL": "WARNING",
    }
    for name in ("OPENAI_BASE_URL", "WEB_CONCURRENCY", "PORT", "GUNICORN_CMD_ARGS", "DJANGO_SETTINGS_MODULE"):
        server_env.pop(name, None)
    setup_django({
        **{k: server_env[k] for k in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL",
                                      "OPENAI_API_KEY", "FIELD_ENCRYPTION_KEYS", "LOG_LEVEL")},
        # This process holds one connection per metering task itself: no pool cap here.
        "DATABASE_POOL_MAX_SIZE": "0",
    })
    users, sessions = create_users()
    from django.db import connection

    connection.close()  # leave the server processes every connection the database allows

    logs = Path(tempfile.mkdtemp(prefix="streams-bench-"))
    import gunicorn
    import uvicorn

    print(f"Database {DB_NAME!r} created and migrated; PostgreSQL max_connections {max_connections} "
          f"({other_connections} client connections open at the start).")
    print(f"gunicorn {gunicorn.__version__} with uvicorn {uvicorn.__version__} "
          f"(uvicorn.workers.UvicornWorker, gunicorn.conf.py), DEBUG=false, one worker process; "
          f"{os.cpu_count()} CPU cores; open-file limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}.")
    print(f"{USERS} users with sessions. Slow fake: {SLOW_WORDS} words {SLOW_DELAY:g} s apart "
          f"(~{(SLOW_WORDS - 1) * SLOW_DELAY:g} s per run). Logs: {logs}\n", flush=True)

    ctx = {"server_env": server_env, "pickaxe": pickaxe_factory(), "users": users, "sessions": sessions,
           "csrf": csrf_secret(), "db": db_params, "logs": logs}
    rows = []
    submits, streams, sync, metering = {}, {}, {}, {}
    bench_submits(ctx, rows, submits, app=ASGI_APP, server_label="uvicorn")
    bench_streams(ctx, rows, streams, app=ASGI_APP, server_label="uvicorn")
    bench_sync_workers(ctx, rows, sync)
    bench_metering(ctx, rows, metering)

    print_table(rows)
    print()

    verdicts = []

    def target(ok, text):
        verdicts.append(ok)
        print(f"{'PASS' if ok else 'FAIL'}  {text}")

    target(
        submits["total"] > 0 and submits["ok"] == submits["total"],
        f"fake at 0 ms, {SUBMIT_CLIENTS} clients, one uvicorn process: every submit ends with `end` ok=true "
        f"({submits['ok']}/{submits['total']}); {submits['rate']:,.1f} submits/s, "
        f"p50 {ms(submits['p50']):,.0f} ms, p99 {ms(submits['p99']):,.0f} ms",
    )
    target(
        streams["held"] >= TARGET_STREAMS and streams["ok"] == STREAMS,
        f"one uvicorn worker process holds {TARGET_STREAMS:,} concurrent ~10 s streams: "
        f"{streams['held']:,} successful streams open at once, {streams['ok']:,}/{STREAMS:,} ended ok",
    )
    target(
        streams["held"] >= TARGET_STREAMS and streams["peak_rss"] < TARGET_RSS_BYTES,
        f"under 1 GiB with {TARGET_STREAMS:,} streams open (gunicorn master + worker RSS): peak "
        f"{mib(streams['peak_rss']):,.0f} MiB"
        + ("" if streams["held"] >= TARGET_STREAMS else f", but with only {streams['held']:,} streams held"),
    )
    top = max(METER_LEVELS)
    diff = metering[top, "metered"]["p99"] - metering[top, "unmetered"]["p99"]
    one = min(METER_LEVELS)
    diff_one = metering[one, "metered"]["p99"] - metering[one, "unmetered"]["p99"]
    target(
        ms(diff) < TARGET_METERING_P99_MS,
        f"metering adds < {TARGET_METERING_P99_MS:g} ms at p99 ({top} tasks): "
        f"{ms(metering[top, 'metered']['p99']):.1f} ms vs {ms(metering[top, 'unmetered']['p99']):.1f} ms without "
        f"the charge ({ms(diff):+.1f} ms; at {one} task: {ms(diff_one):+.2f} ms)",
    )
    for kind, result in sync.items():
        print(f"INFO  gunicorn {kind} (config.wsgi, one process): at most {result['running']} runs open at once, "
              f"{result['ok']} succeeded in {SYNC_WINDOW:g} s; the uvicorn worker held {streams['held']:,} "
              f"successful streams at once")
    for note in diagnose(submits, streams, sync, max_connections):
        print(f"\nDIAGNOSIS  {note}")

    failed = verdicts.count(False)
    if failed or args.keep_logs:
        print(f"\nServer logs kept in {logs}")
    else:
        for log in logs.iterdir():
            log.unlink()
        logs.rmdir()
    print(f"\n{len(verdicts) - failed}/{len(verdicts)} targets met in {time.perf_counter() - began:.0f} s.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
