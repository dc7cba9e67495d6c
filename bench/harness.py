"""What the bench scripts share: their database, the servers, the client, the sampling, the report.

- Exit: `guard()` makes sure that whatever ends a script (its end, an error, Ctrl-C, the
  watchdog) stops the processes it started and drops the databases it created.
- Database: `create_database(suffix)` makes a database of its own, named after
  DATABASE_URL's plus `suffix` (the name must contain `bench`), and drops it at exit.
- Processes: the fake model (bench/fake_model.py) and a server of each variant, all under
  the production gunicorn.conf.py (gunicorn + uvicorn workers): the project
  (`config.asgi`), the Django floor (bench/django_floor.py) and the bare ASGI baseline
  (bench/baseline_asgi.py).
- Client: logged-in users, `POST /p/<slug>/run/` with `Accept: text/event-stream` over raw
  HTTP/1.1, closed-loop rounds and bursts.
- Sampling: CPU from /proc (the server's processes, the fake, this client, the PostgreSQL
  backends of the bench database, and what everything else on the machine used), peak RSS
  and threads.
- Report: tables and PASS/FAIL lines.
"""

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

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/pickaxe_bench"
CHUNKS = 51  # words in the fake model's answer, one chunk each
ALLOWANCE = 100_000  # credits granted to each bench user: nobody runs out

PROJECT, FLOOR, BASELINE = "project", "floor", "baseline"
APPS = {  # what gunicorn serves for each variant
    PROJECT: ["config.asgi:application"],
    FLOOR: ["--pythonpath", str(BENCH), "django_floor:application"],
    BASELINE: ["--pythonpath", str(BENCH), "baseline_asgi:app"],
}


# --------------------------------------------------------------------------- exit

_undo = []  # what to undo at exit, last first


def at_exit(action):
    _undo.append(action)
    return action


def clean_up():
    while _undo:
        try:
            _undo.pop()()
        except Exception as exc:  # keep cleaning up
            print(f"bench: a cleanup step failed: {exc!r}", file=sys.stderr)


def guard(max_seconds):
    """Clean up at exit, on SIGINT/SIGTERM/SIGHUP, and after `max_seconds` (the watchdog:
    a bench never hangs). Also raises the open-file limit: a stream holds 2-3 sockets."""

    def stop(signum, frame):
        print(f"\nbench: stopped by signal {signum}; cleaning up.", file=sys.stderr, flush=True)
        clean_up()
        os._exit(128 + signum)

    def expire():
        print(f"\nbench: WATCHDOG: still running after {max_seconds:.0f} s; stopping.", file=sys.stderr, flush=True)
        clean_up()
        os._exit(3)

    atexit.register(clean_up)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    timer = threading.Timer(max_seconds, expire)
    timer.daemon = True
    timer.start()
    raise_nofile()


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# --------------------------------------------------------------------------- database


def create_database(suffix):
    """(URL, name, connection parameters) of a new database on DATABASE_URL's server: its
    name plus `suffix`. One left over from an earlier run is dropped first; this one is
    dropped at exit."""
    import psycopg
    from psycopg import sql

    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit(f"bench: DATABASE_URL must be a PostgreSQL URL, not {parts.scheme!r}.")
    name = unquote(parts.path.lstrip("/")) + suffix
    if "bench" not in name:
        sys.exit(f"bench: refusing to drop and create {name!r}; DATABASE_URL's database name must contain 'bench'.")
    params = {"host": parts.hostname or "127.0.0.1", "port": parts.port or 5432}
    params["user"] = unquote(parts.username) if parts.username else "postgres"
    if parts.password:
        params["password"] = unquote(parts.password)

    def run(*statements):
        with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=10, **params) as conn:
            for statement in statements:
                conn.execute(sql.SQL(statement).format(sql.Identifier(name)))

    def drop():
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        run("DROP DATABASE IF EXISTS {} WITH (FORCE)")

    run("DROP DATABASE IF EXISTS {} WITH (FORCE)", "CREATE DATABASE {}")
    at_exit(drop)
    return parts._replace(path="/" + quote(name)).geturl(), name, params


def production_env(database_url):
    """The environment of the servers (and of this process's Django): production settings
    (DEBUG off) on the bench database, Redis under a key prefix of this run's own (its keys
    deleted at exit; BENCH_REDIS_URL= runs on a per-process cache instead)."""
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench-{secrets.token_hex(8)}"
    if redis_url:
        at_exit(lambda: _forget_redis_keys(redis_url, prefix))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_BASE_URL", "WEB_CONCURRENCY", "PORT", "GUNICORN_CMD_ARGS", "DATABASE_POOL_MAX_SIZE")
    }
    return env | {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(40),  # this process's too: it signs the sessions
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url,
        "OPENAI_API_KEY": "sk-bench",
        "FIELD_ENCRYPTION_KEYS": "Ahvy3-D0ldBbWBTVFKbhWT9z-WVzuS0MeQrpzb2I7WI=",  # production requires one
        "EMAIL_URL": "consolemail://",  # production requires one
        "SECURE_SSL_REDIRECT": "false",  # plain HTTP to 127.0.0.1
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "ALLOW_LOCAL_CACHE": "true",
    }


def _forget_redis_keys(redis_url, prefix):
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


def setup_django(env):
    """Django in this process, with `env`, on the migrated bench database; each thread
    holds a plain connection of its own (no pool)."""
    os.environ.update(env)
    os.environ["DATABASE_POOL_MAX_SIZE"] = "0"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def new_user(label):
    from accounts.models import User

    user = User(email=f"bench-{label}@example.com")
    user.set_unusable_password()  # cheaper than hashing one
    user.save()  # opens the credit account with the Free allowance
    return user


def logged_in_users(count):
    """Session keys of `count` new users with ALLOWANCE credits each, logged in as a login
    does (Django's `Client.force_login` stores the session where the servers read it)."""
    from django.test import Client

    from credits.services import grant

    sessions = []
    for i in range(count):
        user = new_user(f"user{i}")
        grant(user, ALLOWANCE, reason="benchmark")
        client = Client()
        client.force_login(user)
        sessions.append(client.cookies["sessionid"].value)
    return sessions


def new_pickaxe(label):
    """A public pickaxe with one short-text field, `topic`."""
    from django.conf import settings
    from django.utils.text import slugify

    from pickaxes.models import InputField, Pickaxe

    pickaxe = Pickaxe.objects.create(
        owner=new_user(f"owner-{label}"),
        name=f"Bench: {label}",
        slug=slugify(f"bench-{label}"),
        visibility=Pickaxe.Visibility.PUBLIC,
        system_instructions="You are a benchmark.",
        prompt_template="Write about {{topic}}.",
        model=settings.PICKAXE_MODELS[0],
    )
    InputField.objects.create(
        pickaxe=pickaxe, position=0, label="Topic", key="topic", kind=InputField.Kind.SHORT_TEXT, max_length=200
    )
    return pickaxe.slug


class Setup:
    """What the server benchmarks prepare: a database with `users` logged-in users and a
    pickaxe, the servers' environment, and a folder for the server logs (removed at exit
    unless `keep_logs()`)."""

    def __init__(self, suffix, users):
        self.url, self.db_name, self.db_params = create_database(suffix)
        self.env = production_env(self.url)
        setup_django(self.env)
        self.sessions = logged_in_users(users)
        self.slug = new_pickaxe("run")
        self.csrf = csrf_secret()
        from django.db import connections

        connections.close_all()
        self.logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
        self._remove_logs = at_exit(lambda: shutil.rmtree(self.logs, ignore_errors=True))

    def keep_logs(self):
        if self._remove_logs in _undo:
            _undo.remove(self._remove_logs)
        print(f"Server logs kept in {self.logs}")

    def server(self, variant, fake_url, workers):
        return start_server(variant, env=self.env, fake_url=fake_url, workers=workers, logs=self.logs)

    def probe(self, fake):
        return Probe(self.db_params, self.db_name, fake)

    def poster(self, server):
        return RunPoster(server.port, self.slug, self.sessions, self.csrf)


# --------------------------------------------------------------------------- processes


class Child:
    """A child process in a process group of its own, killed (group and all) at exit at the latest."""

    def __init__(self, args, *, env=None, log=None):
        out = open(log, "ab") if log else subprocess.PIPE
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
        self.pid, self.log, self.port = self.proc.pid, log, None
        self._undo = at_exit(self.kill)

    def kill(self):
        if self._undo in _undo:
            _undo.remove(self._undo)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            print(f"bench: process {self.pid} outlived SIGKILL.", file=sys.stderr)

    def stop(self, timeout=15):
        """Close stdin and SIGINT (gunicorn's quick shutdown), then kill what is left."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.send_signal(signal.SIGINT)
                self.proc.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()


def start_fake(delay):
    """The fake model (bench/fake_model.py): CHUNKS words, `delay` s apart. (child, base URL)."""
    fake = Child([sys.executable, str(BENCH / "fake_model.py"), "--chunks", str(CHUNKS), "--delay", str(delay)])
    line = []
    reader = threading.Thread(target=lambda: line.append(fake.proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(20)
    url = line[0].decode().strip() if line else ""
    if not url.startswith("http://"):
        fake.kill()
        sys.exit("bench: the fake model did not start.")
    return fake, url


def start_server(variant, *, env, fake_url, workers, logs):
    """A server of `variant` under the production gunicorn.conf.py, once it answers /healthz."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = Path(logs) / f"{variant}-{port}.log"
    env = env | {"OPENAI_BASE_URL": fake_url + "/v1", "WEB_CONCURRENCY": str(workers), "PORT": str(port)}
    args = ["-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}", *APPS[variant]]
    server = Child([sys.executable, "-m", "gunicorn", *args], env=env, log=log)
    server.port = port
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
    server.kill()
    sys.exit(f"bench: the {variant} server did not answer /healthz; its log:\n" + log.read_text()[-3000:])


def worker_log_notes(logs):
    """What the server logs say went wrong: killed workers, refused connections, tracebacks."""
    text = "".join(path.read_text(errors="replace") for path in Path(logs).glob("*.log"))
    notes = {
        "gunicorn killed a worker (WORKER TIMEOUT)": text.count("WORKER TIMEOUT"),
        "PostgreSQL refused a connection": text.count("too many clients") + text.count("remaining connection slots"),
        "tracebacks": text.count("Traceback"),
    }
    return [f"NOTE  {what}: {n}x (logs in {logs})" for what, n in notes.items() if n]


# --------------------------------------------------------------------------- sampling

TICK = os.sysconf("SC_CLK_TCK")


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
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    return tree


def cpu_of(pid):
    """utime + stime of a process (all its threads), in seconds; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            values = f.read().rsplit(")", 1)[1].split()
        return (int(values[11]) + int(values[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_busy():
    """CPU seconds the whole machine has been busy: user, nice, system, irq, softirq, steal
    (not idle and iowait; guest time is already in user)."""
    with open("/proc/stat") as f:
        user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / TICK


def others_while_idle(seconds=2.0):
    """Cores the rest of the machine keeps busy while this script sleeps."""
    busy = machine_busy()
    time.sleep(seconds)
    return (machine_busy() - busy) / seconds


class Probe:
    """CPU counters at one moment: the server's processes, the fake, this client, the
    PostgreSQL backends connected to the bench database, and the whole machine."""

    def __init__(self, params, db_name, fake):
        import psycopg

        self.conn = psycopg.connect(dbname=db_name, autocommit=True, connect_timeout=10, **params)
        self.fake = fake

    def close(self):
        self.conn.close()

    def backends(self):
        query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        return {pid: cpu_of(pid) for (pid,) in self.conn.execute(query)}

    def snap(self, server):
        times = os.times()
        return {
            "t": time.perf_counter(),
            "server": sum(cpu_of(pid) for pid in process_tree(server.pid)),
            "fake": cpu_of(self.fake.pid),
            "client": times.user + times.system,
            "machine": machine_busy(),
            "pg": self.backends(),
        }


def usage(s0, s1):
    """CPU seconds used between two snaps, by whom; `others`: everything else on the machine."""
    used = {k: s1[k] - s0[k] for k in ("t", "server", "fake", "client", "machine")}
    used["pg"] = sum(max(0.0, cpu - s0["pg"].get(pid, 0.0)) for pid, cpu in s1["pg"].items())
    used["others"] = max(0.0, used["machine"] - used["server"] - used["fake"] - used["client"] - used["pg"])
    return used


class PeakSampler:
    """Every 50 ms, in a thread: the RSS of a server (master + workers) and the most threads in a worker."""

    def __init__(self, master_pid):
        self.master = master_pid
        self.peak_rss = self.peak_threads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _loop(self):
        tree, next_tree = [], 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_tree:
                tree, next_tree = process_tree(self.master), time.monotonic() + 1.0
            rss = 0
            for pid in tree:
                status = _status(pid)
                rss += int(status.get("VmRSS", "0 kB").split()[0]) * 1024
                if pid != self.master:
                    self.peak_threads = max(self.peak_threads, int(status.get("Threads", "0")))
            self.peak_rss = max(self.peak_rss, rss)
            self._stop.wait(0.05)


def _status(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return {}


# --------------------------------------------------------------------------- client


class RunPoster:
    """The run requests of one pickaxe: each with the session of the next user in turn, a
    CSRF cookie and the same value in X-CSRFToken, and a fresh submission key."""

    def __init__(self, port, slug, sessions, csrf):
        self.port, self.slug, self.sessions, self.csrf = port, slug, sessions, csrf
        self.counter = 0

    def parts(self):
        """(path, headers, body) of the next run."""
        self.counter += 1
        session = self.sessions[self.counter % len(self.sessions)]
        key = f"{self.counter}-{secrets.token_urlsafe(24)}"[:64]  # submission keys are 16-64 characters
        body = urlencode({"submission_key": key, "topic": f"stream number {self.counter}"}).encode()
        headers = [
            ("Host", f"127.0.0.1:{self.port}"),
            ("Accept", "text/event-stream"),
            ("Origin", f"http://127.0.0.1:{self.port}"),
            ("Cookie", f"sessionid={session}; csrftoken={self.csrf}"),
            ("X-CSRFToken", self.csrf),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", str(len(body))),
        ]
        return f"/p/{self.slug}/run/", headers, body

    def request(self):
        path, headers, body = self.parts()
        head = "".join(f"{name}: {value}\r\n" for name, value in headers)
        return f"POST {path} HTTP/1.1\r\n{head}Connection: close\r\n\r\n".encode() + body


def csrf_secret():
    """A CSRF cookie value; the same value in the X-CSRFToken header passes the check."""
    from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH
    from django.utils.crypto import get_random_string

    return get_random_string(CSRF_SECRET_LENGTH, allowed_chars=CSRF_ALLOWED_CHARS)


class Result:
    __slots__ = ("t0", "t_head", "t_end", "ok", "problem")

    def __init__(self):
        self.t0 = time.perf_counter()
        self.t_head = self.t_end = None
        self.ok = False
        self.problem = ""

    @property
    def latency(self):
        return self.t_end - self.t0


def read_events(body):
    """[(event name, data)] of a server-sent event stream."""
    events = []
    for block in body.decode("utf-8", "replace").split("\n\n"):
        lines = block.splitlines()
        name = next((line[6:].strip() for line in lines if line.startswith("event:")), None)
        if name:
            events.append((name, "\n".join(line[5:].strip() for line in lines if line.startswith("data:"))))
    return events


def run_problem(status, body):
    """Why a run's answer is not a whole successful run ("" if it is): HTTP 200 and a last
    `end` event with ok=true and the whole answer (CHUNKS words) in its html."""
    events = read_events(body)
    if status != 200 or not events or events[-1][0] != "end":
        return f"HTTP {status}, " + (f"last event {events[-1][0]!r}" if events else repr(body[:60]))
    end = json.loads(events[-1][1])
    words = len(re.sub(r"<[^>]+>", " ", end.get("html") or "").split())
    if end.get("ok") is not True or words < CHUNKS:
        return f"end ok={end.get('ok')}, {words} words: {(end.get('message') or '')[:60]!r}"
    return ""


def _dechunk(data):
    out, i = bytearray(), 0
    while True:
        j = data.index(b"\r\n", i)
        size = int(data[i:j].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[j + 2 : j + 2 + size]
        i = j + 2 + size + 2


async def post_run(poster, timeout):
    """One run: POST, read the whole response (Connection: close), check it."""
    result, writer = Result(), None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", poster.port, limit=1 << 20)
            writer.write(poster.request())
            head = await reader.readuntil(b"\r\n\r\n")
            result.t_head = time.perf_counter()
            body = await reader.read()
        result.t_end = time.perf_counter()
        if b"transfer-encoding: chunked" in head.lower():
            body = _dechunk(body)
        result.problem = run_problem(int(head.split(b" ", 2)[1]), body)
        result.ok = not result.problem
    except TimeoutError:
        result.problem = "client timeout"
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        result.problem = f"{type(exc).__name__}: {exc}"[:80]
    finally:
        result.t_end = result.t_end or time.perf_counter()
        if writer is not None:
            writer.close()
    return result


async def closed_loop(poster, clients, *, probe, server, window, run_timeout=30.0):
    """`clients` clients posting runs back to back: a warm-up until each has ended a run
    (1-15 s), `window` s measured between two snaps, then the runs under way are awaited.
    Returns (every run, the runs ended ok inside the window, the window's CPU usage)."""
    results, ended, stop_at = [], [0] * clients, [float("inf")]

    async def client(i):
        while time.perf_counter() < stop_at[0]:
            results.append(await post_run(poster, run_timeout))
            ended[i] += 1

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    began = time.perf_counter()
    await asyncio.sleep(1.0)
    while min(ended) == 0 and time.perf_counter() - began < 15.0:
        await asyncio.sleep(0.05)
    s0 = probe.snap(server)
    stop_at[0] = s0["t"] + window
    await asyncio.sleep(window)
    s1 = probe.snap(server)
    _, pending = await asyncio.wait(tasks, timeout=run_timeout + 5)
    for task in pending:
        task.cancel()
    inside = [r for r in results if r.ok and s0["t"] <= r.t_end <= s1["t"]]
    return results, inside, usage(s0, s1)


def problems(results):
    """The commonest ways runs failed, as text."""
    counts = {}
    for r in results:
        if not r.ok:
            counts[r.problem] = counts.get(r.problem, 0) + 1
    return ", ".join(f"{n}x {what}" for what, n in sorted(counts.items(), key=lambda kv: -kv[1])[:3])


# --------------------------------------------------------------------------- report


def percentile(values, p):
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def ms(seconds):
    return seconds * 1000.0


def print_table(headers, rows):
    """Columns two spaces apart; columns of figures right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    right = [all(_numeric(r[i]) for r in rows) for i in range(len(headers))]

    def line(values):
        cells = (v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True))
        return "  ".join(cells).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def _numeric(cell):
    return bool(re.match(r"^[>\d.,% /x+-]*$", cell))


class Targets:
    """PASS/FAIL lines, and the exit status: 1 if any target was missed."""

    def __init__(self):
        self.results = []

    def check(self, ok, text):
        self.results.append(bool(ok))
        print(f"{'PASS' if ok else 'FAIL'}  {text}", flush=True)

    def exit_status(self, began):
        missed = self.results.count(False)
        met = len(self.results) - missed
        print(f"\n{met}/{len(self.results)} targets met in {time.perf_counter() - began:.0f} s.")
        return 1 if missed else 0
