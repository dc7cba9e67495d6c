"""Real web processes on one PostgreSQL database and one Redis, for state that must be shared.

Each test gets a database of its own, named from DATABASE_URL's plus `_multiprocess`,
made and migrated here and dropped afterwards, and a Redis key prefix of its own. The
web processes are gunicorn with one uvicorn worker each, as in production, talking to
a fake OpenAI server that answers slowly. A test drives them over real HTTP.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx
import psycopg
import pytest
import redis
from django.db import connection
from psycopg import sql

from tests.conftest import TEST_REDIS_URL
from tests.fakes.openai_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def shared_database():
    """A database of this test's own (from DATABASE_URL's name), migrated, dropped after."""
    settings = connection.settings_dict
    name = f"{settings['NAME'].removeprefix('test_')}_multiprocess"
    server = {
        "host": settings["HOST"] or "127.0.0.1",
        "port": settings["PORT"] or 5432,
        "user": settings["USER"] or "postgres",
    }
    if settings["PASSWORD"]:
        server["password"] = settings["PASSWORD"]
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    auth = f"{server['user']}:{server['password']}@" if "password" in server else f"{server['user']}@"
    url = f"postgres://{auth}{server['host']}:{server['port']}/{name}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "DATABASE_URL": url},
        timeout=120,
    )
    yield url
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def slow_model():
    """The fake OpenAI server answering 12 pieces, 0.4 s apart."""
    fake = FakeOpenAIServer()
    fake.reply = " ".join(f"piece{n}" for n in range(12))
    fake.chunk_delay = 0.4
    with fake:
        yield fake


class WebProcess:
    """gunicorn serving the project with one uvicorn worker, in a process group of its own."""

    def __init__(self, env, log):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "config.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"gunicorn on port {self.port} did not start; see {log.name}")

    def kill(self):
        """SIGKILL to the master and its worker at once: nothing gets to clean up."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


@pytest.fixture
def web_processes(shared_database, slow_model, tmp_path):
    """Two web processes on the shared database and one Redis (a key prefix of this test's)."""
    prefix = f"test-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "DEBUG": "true",  # plain HTTP cookies and static files from the apps; the state is what is tested
        "DATABASE_URL": shared_database,
        "REDIS_URL": TEST_REDIS_URL,
        "CACHE_KEY_PREFIX": prefix,
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": f"{slow_model.url}/v1",
        "RUN_LEASE_SECONDS": "3",
        "RUN_OUTPUT_KEPT_EVERY_SECONDS": "0.3",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    started = []
    log = open(tmp_path / "gunicorn.log", "ab")
    try:
        started.append(WebProcess(env, log))
        started.append(WebProcess(env, log))
        yield started, env
    finally:
        for process in started:
            process.kill()
        log.close()
        store = redis.Redis.from_url(TEST_REDIS_URL)
        for key in store.scan_iter(match=f"{prefix}:*"):
            store.delete(key)


# The site's public name, as a load balancer passes it to every process behind it (allauth
# keys its login limits by site and login, so each process must see the same host).
PUBLIC_HOST = "localhost"


class Browser:
    """An HTTP client that reaches the processes as one site behind a load balancer: one
    public host and one cookie jar, whichever process answers; it posts forms with their
    CSRF token."""

    def __init__(self):
        self.cookies = {}

    def headers(self, url):
        path = urlsplit(url).path
        headers = {"Host": PUBLIC_HOST, "Origin": f"http://{PUBLIC_HOST}", "Referer": f"http://{PUBLIC_HOST}{path}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def request(self, method, url, **kwargs):
        headers = {**self.headers(url), **kwargs.pop("headers", {})}
        response = httpx.request(method, url, headers=headers, timeout=30, **kwargs)
        for cookie in response.headers.get_list("set-cookie"):
            name, value = cookie.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value
        return response

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post_form(self, page_url, post_url, data, **kwargs):
        """Open the page (for its CSRF token and hidden fields), then post the form."""
        html = self.get(page_url).text
        hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
        return self.request("POST", post_url, data={**hidden, **data}, **kwargs)


def run_sql(url, query, params=()):
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
