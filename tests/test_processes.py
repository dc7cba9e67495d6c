"""Each production process starts with exactly the environment the README's "Running on
many machines" names, and without any one of those variables it refuses to start: every
process loads the same settings. (The README once said the worker needed only the
database, mail and Stripe, and the scheduler only the database: both stopped at once with
"SECRET_KEY must be set".)"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What the README says every process needs with DEBUG off (the alternatives it names for
# REDIS_URL and OPENAI_API_KEY: one process of each kind here, and no model is called).
DOCUMENTED = {
    "DEBUG": "false",
    "SECRET_KEY": "a-production-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ",
    "ALLOWED_HOSTS": "pickaxe.example.com",
    "FIELD_ENCRYPTION_KEYS": "Ahvy3-D0ldBbWBTVFKbhWT9z-WVzuS0MeQrpzb2I7WI=",
    "EMAIL_URL": "consolemail://",
    "ALLOW_LOCAL_CACHE": "true",
    "ALLOW_DEMO_MODEL": "true",
}


def readme_section():
    text = (ROOT / "README.md").read_text()
    return text.split("## Running on many machines", 1)[1].split("\n## ", 1)[0]


def run(args, database, *, without=()):
    """`args` in a new process whose environment is the documented one and nothing else of
    ours (only PATH and HOME besides)."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "DATABASE_URL": database}
    env.update({name: value for name, value in DOCUMENTED.items() if name not in without})
    for name in without:
        env.pop(name, None)
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def manage(*args, database, without=()):
    return run([sys.executable, "manage.py", *args], database, without=without)


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    """A migrated SQLite database file of these tests' own (the release step, with the same
    environment)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('processes') / 'db.sqlite3'}"
    migrated = manage("migrate", "--no-input", "-v0", database=url)
    assert migrated.returncode == 0, migrated.stderr
    return url


def test_the_readme_names_every_variable_these_tests_start_with():
    section = readme_section()
    for name in ["DATABASE_URL", *(name for name in DOCUMENTED if name != "DEBUG")]:
        assert f"`{name}" in section, name
    assert "`DEBUG=false`" in section


def test_the_web_app_starts_with_the_documented_environment(database):
    started = run([sys.executable, "-c", "import config.asgi"], database)
    assert started.returncode == 0, started.stderr


def test_the_worker_starts_with_the_documented_environment_and_sends_a_queued_email(database):
    queued = manage(
        "shell",
        "-c",
        "from accounts.services import queue_email; "
        "queue_email(key='processes-test', to='owner@example.com', subject='Credits are back', body='Body.')",
        database=database,
    )
    assert queued.returncode == 0, queued.stderr
    worked = manage("db_worker", "--batch", "--no-startup-delay", database=database)
    assert worked.returncode == 0, worked.stderr
    assert "Subject: Credits are back" in worked.stdout


@pytest.mark.parametrize("command", [["close_stale_runs", "--enqueue"], ["requeue_abandoned_tasks"]])
def test_the_scheduled_commands_start_with_the_documented_environment(database, command):
    done = manage(*command, database=database)
    assert done.returncode == 0, done.stderr


# The variable a refusal names: the alternatives' are the variable they stand in for.
NAMED = {"ALLOW_LOCAL_CACHE": "REDIS_URL", "ALLOW_DEMO_MODEL": "OPENAI_API_KEY"}


@pytest.mark.parametrize("missing", [name for name in DOCUMENTED if name != "DEBUG"])
def test_without_any_documented_variable_even_a_scheduled_command_refuses_to_start(database, missing):
    done = manage("close_stale_runs", "--enqueue", database=database, without=[missing])
    assert done.returncode != 0
    assert re.search(rf"\b{NAMED.get(missing, missing)}\b", done.stderr), done.stderr
