"""Runs work under every server Django offers: `manage.py runserver`, WSGI (`config/wsgi.py`
under gunicorn's sync worker) and the production ASGI server (gunicorn with uvicorn
workers). Each is started for real, on a SQLite file of this module's own, and a signed-in
person runs a pickaxe with JavaScript (server-sent events) and without (the form posted,
the page back when the run has ended): both succeed, each charged once.

Under WSGI Django sends an async response whole, so there the events arrive together when
the run has ended; what matters is that the run is driven to its end and recorded.
"""

import json
import os
import signal
import subprocess
import sys
import time

import httpx2 as httpx
import pytest

from tests.multiprocess.conftest import ROOT, Browser, free_port, manage

PASSWORD = "a correct horse, 9 batteries"
SETUP = """
from accounts.models import User
from pickaxes.models import InputField, Pickaxe
owner = User.objects.create_user("owner@example.com", "{password}")
pickaxe = Pickaxe.objects.create(owner=owner, name="Poem", slug="poem", visibility="public",
                                 prompt_template="A poem about {{{{topic}}}}.", model="gpt-4o-mini")
InputField.objects.create(pickaxe=pickaxe, label="Topic", key="topic", max_length=200)
for n in range(3):
    User.objects.create_user(f"reader{{n}}@example.com", "{password}")
"""
READ = """
from accounts.models import User
from credits.selectors import available
from pickaxes.models import Run
user = User.objects.get(email="{email}")
runs = Run.objects.filter(payer=user)
print(available(user), runs.count(), runs.filter(status="succeeded", entry__isnull=False).count())
"""

SERVERS = {
    "runserver": [sys.executable, "manage.py", "runserver", "--noreload", "--nothreading", "127.0.0.1:{port}"],
    "wsgi": [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "sync",
        "--workers",
        "1",
        "--bind",
        "127.0.0.1:{port}",
        "config.wsgi:application",
    ],
    "asgi": [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "gunicorn.conf.py",
        "--workers",
        "1",
        "--bind",
        "127.0.0.1:{port}",
        "config.asgi:application",
    ],
}


@pytest.fixture(scope="module")
def site_env(tmp_path_factory):
    """The environment every server gets: DEBUG on, the demo model, a migrated SQLite file
    with an owner, a public pickaxe and three readers."""
    folder = tmp_path_factory.mktemp("servers")
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{folder / 'site.sqlite3'}",
        "OPENAI_API_KEY": "",
        "DEMO_MODEL_DELAY_SECONDS": "0.01",
        "LOG_LEVEL": "WARNING",
    }
    for name in ("DJANGO_SETTINGS_MODULE", "REDIS_URL"):
        env.pop(name, None)
    migrated = manage(env, "migrate", "--no-input", "-v0")
    assert migrated.returncode == 0, migrated.stderr
    made = manage(env, "shell", "-c", SETUP.format(password=PASSWORD))
    assert made.returncode == 0, made.stderr
    return env, folder


def serve(kind, env, log):
    port = free_port()
    command = [part.format(port=port) for part in SERVERS[kind]]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"{kind} did not start; see {log.name}")


@pytest.mark.parametrize("kind", ["runserver", "wsgi", "asgi"])
def test_a_run_with_and_without_javascript_succeeds_and_is_charged_once_under(kind, site_env):
    env, folder = site_env
    email = f"reader{list(SERVERS).index(kind)}@example.com"
    with open(folder / f"{kind}.log", "ab") as log:
        process, url = serve(kind, env, log)
        try:
            browser = Browser()
            page = f"{url}/p/poem/"
            browser.post_form(
                f"{url}/accounts/login/", f"{url}/accounts/login/", {"login": email, "password": PASSWORD}
            )

            streamed = browser.post_form(
                page, f"{url}/p/poem/run/", {"topic": "the sea"}, headers={"Accept": "text/event-stream"}
            )
            assert streamed.status_code == 200, streamed.text
            end = [block for block in streamed.text.split("\n\n") if block.startswith("event: end")]
            result = json.loads(end[0].split("data: ", 1)[1])
            assert result["ok"] and "Demo answer" in result["html"] and result["balance"] == 24

            posted = browser.post_form(page, f"{url}/p/poem/run/", {"topic": "the hills"})
            assert posted.status_code == 200, posted.text
            assert 'data-testid="run-output"' in posted.text and "Demo answer" in posted.text
            assert 'data-testid="run-error"' not in posted.text
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
    read = manage(env, "shell", "-c", READ.format(email=email))
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines()[-1].split() == ["23", "2", "2"]  # two runs, each charged once, both answered
