"""Shared fixtures, and the rule that CI never skips a test for a missing service.

Tests that need PostgreSQL are marked `postgres`; tests that drive Chromium are marked
`browser`. Locally they are skipped when the service is missing; with
REQUIRE_ALL_SERVICES=1 (set by .ci/run) the run stops with an error instead.
"""

import os
import shutil

import pytest
from django.db import connection

from tests.factories import UserFactory

pytest_plugins = ["tests.fakes.fixtures", "tests.fakes.stripe_fixtures"]

STRICT = os.environ.get("REQUIRE_ALL_SERVICES") == "1"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# The Redis server tests may use; each test keeps to keys under a prefix of its own.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_answers():
    import redis

    try:
        return redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


def _missing_services():
    missing = {}
    if connection.vendor != "postgresql":
        missing["postgres"] = "needs PostgreSQL: set DATABASE_URL=postgres://…"
    if not shutil.which(CHROMIUM):
        missing["browser"] = f"needs Chromium at {CHROMIUM} (apt-get install chromium)"
    if not _redis_answers():
        missing["redis"] = f"needs Redis at {TEST_REDIS_URL} (set TEST_REDIS_URL)"
    return missing


@pytest.hookimpl(trylast=True)  # after `-m` has deselected what this run leaves out
def pytest_collection_modifyitems(config, items):
    missing = _missing_services()
    needed = {name for item in items for name in missing if item.get_closest_marker(name)}
    if STRICT and needed:
        raise pytest.UsageError("REQUIRE_ALL_SERVICES=1 but: " + "; ".join(missing[name] for name in sorted(needed)))
    for item in items:
        for name, reason in missing.items():
            if item.get_closest_marker(name):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def make_user(db):
    return UserFactory


@pytest.fixture
def pickaxe(db):
    """A public pickaxe with one field, `topic`, owned by a user of its own."""
    from tests.pickaxes.factories import PickaxeFactory

    return PickaxeFactory()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Hashing strength is Django's concern; tests only need passwords to round-trip.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def run_tasks(db):
    """Run the background tasks that are due (tests/tasks.py); returns how many ran."""
    from tests.tasks import run_due_tasks

    return run_due_tasks
