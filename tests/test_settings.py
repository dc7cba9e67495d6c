"""Production settings fail loud: they refuse what would silently break across processes
(a per-process cache when DEBUG is off) and the unsafe defaults, and
`check --deploy` is clean once production is configured. And the browser policy (CSP)."""

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
    "EMAIL_URL": "smtp+tls://mailer:secret@mail.example.com:587",
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
    assert started.stdout.strip() == "config.cache.SharedPoolRedisCache"


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


# Production as `check --deploy` judges it: a long random-looking key, and one process.
DEPLOY = {
    **PRODUCTION,
    "SECRET_KEY": "a-production-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ",
    "ALLOW_LOCAL_CACHE": "true",
}
# Left out of the child's environment: ours, and what other tests' tools set in this process.
OURS = {
    *DEPLOY,
    "REDIS_URL",
    "CACHE_KEY_PREFIX",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "ALLOW_DEMO_MODEL",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def manage(*args, **env):
    """Run manage.py in a fresh process with exactly these settings from the environment."""
    clean = {key: value for key, value in os.environ.items() if key not in OURS}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **{key: value for key, value in env.items() if value is not None}},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_check_deploy_is_clean_with_debug_off():
    done = manage("check", "--deploy", "--fail-level", "WARNING", **DEPLOY)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_production_settings_refuse_to_start_without_an_email_backend():
    done = manage("check", **{**DEPLOY, "EMAIL_URL": None})
    assert done.returncode != 0 and "EMAIL_URL must be set when DEBUG is off" in done.stderr


def test_production_settings_trust_a_proxy_ssl_header_only_when_the_operator_sets_one():
    show = [
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT)",
    ]
    assert manage(*show, **DEPLOY).stdout.strip().splitlines()[-1] == "None True"
    chosen = manage(*show, **DEPLOY, SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO").stdout.strip().splitlines()[-1]
    assert chosen == "('HTTP_X_FORWARDED_PROTO', 'https') True"


def test_production_settings_a_forgotten_debug_is_said_by_every_command():
    done = manage("check")
    assert "config.W001" in done.stdout + done.stderr and "Set DEBUG=false in production" in done.stdout + done.stderr
    assert "config.W001" not in manage("check", DEBUG="true").stdout


@pytest.fixture
def csp(client):
    def policy(url):
        header = client.get(url)["Content-Security-Policy"]
        return {part.split()[0]: part.split()[1:] for part in header.split("; ")}

    return policy


def test_csp_every_page_says_where_forms_may_post(csp, db, pickaxe):
    for url in ("/", f"/p/{pickaxe.slug}/", "/accounts/login/", "/admin/login/"):
        assert csp(url)["form-action"][0] == "'self'"
        assert set(csp(url)["form-action"][1:]) == {"https://checkout.stripe.com", "https://billing.stripe.com"}


def test_csp_the_embed_forbids_plugins_and_base_and_posts_only_to_the_site(csp, pickaxe):
    from embeds.services import embed_for

    policy = csp(f"/e/{embed_for(pickaxe).token}/")
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"] and policy["frame-ancestors"] == ["*"]


def test_log_level_is_accepted_in_any_case():
    started = settings_in_a_new_process(LOG_LEVEL="info", ALLOW_LOCAL_CACHE="true")
    assert started.returncode == 0, started.stderr


@pytest.mark.redis
def test_every_request_shares_one_redis_connection_pool_per_process(settings):
    """Django makes a cache object per request context; each used to open its own
    connection to Redis. Two of them (as two requests would) now share one client."""
    settings.CACHES = {
        "default": {"BACKEND": "config.cache.SharedPoolRedisCache", "LOCATION": TEST_REDIS_URL, "KEY_PREFIX": "t"}
    }
    first, second = caches.create_connection("default"), caches.create_connection("default")
    assert first is not second and first._cache is second._cache
    first.set("shared", 1, timeout=5)
    assert second.get("shared") == 1
    first.delete("shared")
