"""Two web processes, one database, one Redis: what one process
learns, the other knows; a process killed mid-run leaves nothing lost or charged wrongly."""

import json
import os
import signal
import subprocess
import sys
import time

import httpx2 as httpx
import pytest

from tests.fakes.smtp_server import SMTPSink
from tests.multiprocess.conftest import ROOT, Browser, manage, run_sql

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db]

PASSWORD = "a correct horse, 9 batteries"
SETUP = """
from accounts.models import User
from credits import services as credits
from embeds.services import embed_for
from pickaxes.models import InputField, Pickaxe
owner = User.objects.create_user("owner@example.com", "{password}")
User.objects.create_user("reader@example.com", "{password}")
pickaxe = Pickaxe.objects.create(owner=owner, name="Poem", slug="poem", visibility="public",
                                 prompt_template="A poem about {{{{topic}}}}.", model="gpt-4o-mini")
InputField.objects.create(pickaxe=pickaxe, label="Topic", key="topic", max_length=200)
embed = embed_for(pickaxe)
embed.runs_per_visitor = 1
embed.save()
print(embed.token)
"""


@pytest.fixture
def site(web_processes):
    """The two processes, with an owner, a reader, a public pickaxe and its embed (1 run per visitor)."""
    processes, env = web_processes
    made = manage(env, "shell", "-c", SETUP.format(password=PASSWORD))
    assert made.returncode == 0, made.stderr
    return processes, env, made.stdout.strip().splitlines()[-1]


def log_in(browser, process, email, password):
    return browser.post_form(
        f"{process.url}/accounts/login/", f"{process.url}/accounts/login/", {"login": email, "password": password}
    )


def test_a_login_lockout_earned_on_one_process_holds_on_the_other(site):
    (first, second), _, _ = site
    attacker = Browser()
    for _ in range(5):
        refused = log_in(attacker, first, "reader@example.com", "a wrong password")
        assert refused.status_code == 200 and "not correct" in refused.text
    person = Browser()
    locked = log_in(person, second, "reader@example.com", PASSWORD)
    assert locked.status_code == 200
    assert "Too many failed login attempts" in locked.text


def test_an_embed_visitor_limit_holds_across_processes(site):
    (first, second), env, token = site
    visitor = Browser()
    ran = visitor.post_form(f"{first.url}/e/{token}/", f"{first.url}/e/{token}/run/", {"topic": "the sea"})
    assert "piece11" in ran.text
    again = visitor.post_form(f"{second.url}/e/{token}/", f"{second.url}/e/{token}/run/", {"topic": "rivers"})
    assert "You have reached the limit of this tool" in again.text
    assert run_sql(env["DATABASE_URL"], "SELECT count(*) FROM pickaxes_run")[0][0] == 1


def test_a_process_killed_mid_stream_leaves_its_run_to_the_sweep_with_the_output_kept(site):
    (first, _second), env, _ = site
    reader = Browser()
    assert log_in(reader, first, "reader@example.com", PASSWORD).status_code == 302
    page = reader.get(f"{first.url}/p/poem/").text
    key = page.split('name="submission_key" value="', 1)[1].split('"', 1)[0]
    csrf = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    headers = {**reader.headers(f"{first.url}/p/poem/"), "Accept": "text/event-stream"}
    seen = []
    with httpx.stream(
        "POST",
        f"{first.url}/p/poem/run/",
        headers=headers,
        timeout=30,
        data={"topic": "the sea", "submission_key": key, "csrfmiddlewaretoken": csrf},
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]).get("text", ""))
            if len(seen) >= 5:  # two seconds into the answer: kept at least once by now
                first.kill()
                break

    ((status, output, refunded),) = run_sql(env["DATABASE_URL"], "SELECT status, output, refunded FROM pickaxes_run")
    assert status == "running" and output, "the output should be stored as it streams"
    (lease_holds,) = run_sql(env["DATABASE_URL"], "SELECT lease_until > now() FROM pickaxes_run")[0]
    assert lease_holds, "the lease was renewed while the process lived"
    time.sleep(float(env["RUN_LEASE_SECONDS"]) + 0.5)  # nobody renews it any more
    assert manage(env, "close_stale_runs").stdout.strip() == "Closed 1 stale run; counted the runs of 1."
    ((status, kept, refunded),) = run_sql(env["DATABASE_URL"], "SELECT status, output, refunded FROM pickaxes_run")
    assert (status, refunded) == ("failed", False)
    assert kept.startswith("piece0 piece1") and kept == output
    balance = run_sql(
        env["DATABASE_URL"],
        "SELECT a.balance FROM credits_creditaccount a JOIN accounts_user u "
        "ON u.id = a.user_id WHERE u.email = 'reader@example.com'",
    )[0][0]
    assert balance == 24  # charged: the reader saw output


def test_a_worker_killed_while_it_sends_an_email_leaves_it_sent_exactly_once_after_a_restart(shared_database, tmp_path):
    sink = SMTPSink()
    sink.accept_after = 30.0  # the first try is held until its worker is killed
    sink.start()
    env = {
        **os.environ,
        "DATABASE_URL": shared_database,
        "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}",
        "TASKS_ABANDONED_AFTER_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    queued = manage(env, "shell", "-c", QUEUE_EMAIL)
    assert queued.returncode == 0, queued.stderr
    log = open(tmp_path / "worker.log", "ab")
    try:
        worker = start_worker(env, log)
        assert sink.holding.wait(30), "the worker never reached the mail server"
        os.killpg(worker.pid, signal.SIGKILL)  # mid-conversation, before the server accepted
        worker.wait(10)
        sink.accept_after = 0.0
        time.sleep(1.5)  # past TASKS_ABANDONED_AFTER_SECONDS
        assert manage(env, "requeue_abandoned_tasks").stdout.strip() == "Queued 1 abandoned task again."
        worker = start_worker(env, log)
        deadline = time.monotonic() + 30
        while not sink.messages and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # time for a second send, if there were one
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        log.close()
        sink.stop()
    assert [m["to"] for m in sink.messages] == [["<someone@example.com>"]]
    assert run_sql(shared_database, "SELECT sent_at IS NOT NULL FROM accounts_outgoingemail") == [(True,)]


QUEUE_EMAIL = """
from django.db import transaction
from accounts.services import queue_email
with transaction.atomic():
    queue_email(key="test:once", to="someone@example.com", subject="Once", body="Exactly once.")
"""


def start_worker(env, log):
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
