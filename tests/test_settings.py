"""Production settings refuse what would silently break across processes (DESIGN.md
section 9): a per-process cache when DEBUG is off."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.cache import caches

from tests.conftest import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-production-secret-for-this-test-only",
    "ALLOWED_HOSTS": "pickaxe.example.com",
    "OPENAI_API_KEY": "sk-test",
    "FIELD_ENCRYPTION_KEYS": "Ahvy3-D0ldBbWBTVFKbhWT9z-WVzuS0MeQrpzb2I7WI=",
}


def settings_in_a_new_process(**environment):
    """Start Django as a production process would, and print the cache backend it chose."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "ALLOW_LOCAL_CACHE", "DEBUG")}
    env.update(PRODUCTION, DJANGO_SETTINGS_MODULE="config.settings", **environment)
    code = (
        "import django; django.setup(); from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_production_refuses_to_start_on_a_per_process_cache():
    started = settings_in_a_new_process()
    assert started.returncode != 0
    assert "REDIS_URL is not set" in started.stderr


def test_production_starts_on_a_per_process_cache_only_when_told_to():
    started = settings_in_a_new_process(ALLOW_LOCAL_CACHE="true")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "django.core.cache.backends.locmem.LocMemCache"


def test_redis_url_turns_on_djangos_redis_cache():
    started = settings_in_a_new_process(REDIS_URL="redis://127.0.0.1:6379/0")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "django.core.cache.backends.redis.RedisCache"


@pytest.mark.redis
def test_the_redis_cache_is_one_store_for_every_process(settings):
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": TEST_REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    caches["default"].set("seen", "here", timeout=30)
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG",)}
    env.update(PRODUCTION, DJANGO_SETTINGS_MODULE="config.settings", REDIS_URL=TEST_REDIS_URL, CACHE_KEY_PREFIX=prefix)
    code = "import django; django.setup(); from django.core.cache import cache; print(cache.get('seen'))"
    other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    caches["default"].delete("seen")
    assert other.stdout.strip() == "here", other.stderr
