"""Settings for the whole project, read from the environment (and `.env` when present).

Every value has a safe development default. With DEBUG off (production) the unsafe
defaults are refused at start-up instead of being used silently.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from config.mailers import mailer_from_url

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # existing environment variables win

DEBUG = env.bool("DEBUG", default=True)
# Development is the default so that a fresh clone runs with nothing set; a deploy that
# forgot DEBUG=false is told so by every management command (config/checks.py).
DEBUG_BY_DEFAULT = "DEBUG" not in env

SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-development-only-key"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.apps.ProjectAdminConfig",  # the project's admin site: config/admin.py
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "config.apps.SignInEmailsConfig",  # allauth.account, named apart from our accounts in the admin
    "django_tasks_db",  # the background tasks' queue, a table in this database
    "accounts",
    "credits",
    "billing",
    "pickaxes",
    "embeds",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.RefuseNulBytesMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

if not DEBUG:
    # Production serves static files from the app process; development uses runserver's.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")
else:
    # A missing page is the site's 404 page, not Django's list of every URL pattern.
    MIDDLEWARE.append("config.middleware.NotFoundPageMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pickaxes.context_processors.credit_balance",
                "pickaxes.context_processors.pickaxe_to_run",
                "config.context_processors.credit_rules",
            ],
        },
    },
]

# Database: SQLite in the project by default, PostgreSQL in CI and production.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes SQLite's write lock when a transaction starts, so two spends
    # cannot both read a balance and then both write: the second waits.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
else:
    # Under ASGI a persistent connection would leak across event-loop threads. A pool per
    # process caps the connections: a burst of runs waits for one instead of failing.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    options = DATABASES["default"].setdefault("OPTIONS", {})
    if env.bool("DATABASE_TRANSACTION_POOLING", default=False):
        # Behind PgBouncer in transaction mode a connection is lent per transaction, so
        # nothing may outlive one: no server-side cursors, no prepared statements, and no
        # pool of our own (PgBouncer is the pool).
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        options["prepare_threshold"] = None
    else:
        # Parameters bound by the server instead of spliced into the SQL text in Python,
        # so psycopg prepares what a process sends again and again (a run's statements
        # are the same every time): less CPU per run in the web process and in PostgreSQL.
        options["server_side_binding"] = env.bool("DATABASE_SERVER_SIDE_BINDING", default=True)
        if pool_size := env.int("DATABASE_POOL_MAX_SIZE", default=20):
            options["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": 30}

# Sync threads a web process lends to requests while their responses are built (see
# config.asgi); a request that finds none free waits for one. Keep it near the pool size.
ASGI_SYNC_THREADS = env.int("ASGI_SYNC_THREADS", default=20)

# Cache: shared state across processes and machines (allauth's login rate limits and any
# other limiter). REDIS_URL turns on Django's Redis cache; without it each process keeps
# its own in memory, which is right for `make run` (one process) and wrong for production:
# limits would halve with two workers and reset on restart, so DEBUG=false refuses it.
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.SharedPoolRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="pickaxe"),
        }
    }
    # Sessions read from Redis on every request, written through to the database (which
    # stays the record): one query fewer per request.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    if not DEBUG and not env.bool("ALLOW_LOCAL_CACHE", default=False):
        raise ImproperlyConfigured(
            "REDIS_URL is not set: rate limits would live in each process's memory. Set REDIS_URL, "
            "or ALLOW_LOCAL_CACHE=true for a deployment that is one process on one machine."
        )
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-allauth: email + password, no usernames.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_FORMS = {"login": "accounts.forms.LoginForm"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
# Production verifies every address before it can log in (so before any run): free credits
# cannot be farmed with made-up addresses. Development (`make run`) skips it.
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", default="none" if DEBUG else "mandatory")
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "account"
ACCOUNT_SIGNUP_REDIRECT_URL = "account"
LOGOUT_REDIRECT_URL = "/"

# Email: printed to the console in development; EMAIL_URL otherwise, in any scheme
# django-environ reads (smtp+tls://user:pass@host:587, consolemail://, filemail:///folder, …;
# config/mailers.py gives each its backend's options, and refuses what cannot send).
if not DEBUG and "EMAIL_URL" not in env:
    raise ImproperlyConfigured("EMAIL_URL must be set when DEBUG is off (sign-up and billing send email).")
MAILERS = {
    "default": mailer_from_url(
        env("EMAIL_URL", default="consolemail://"),
        # Emails are sent by a task holding its email's row locked: a hung mail server
        # must not hold it for long (the task retries later).
        timeout=env.float("EMAIL_TIMEOUT_SECONDS", default=20.0),
    )
}

# Background tasks (django.tasks): emails, applying Stripe webhook events, the stale-run
# sweep. django-tasks-db keeps the queue in the database above, so any machine that
# reaches it can run `manage.py db_worker`; no broker to run. Our tasks retry by
# enqueueing themselves for later (accounts.tasks.retry_later), so the backend must
# support run_after (Django's ImmediateBackend does not).
TASKS = {
    "default": {
        "BACKEND": env("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}
# A task "running" longer than this lost its worker; `manage.py requeue_abandoned_tasks` queues it again.
TASKS_ABANDONED_AFTER_SECONDS = env.float("TASKS_ABANDONED_AFTER_SECONDS", default=600)

SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")  # for links in emails
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Pickaxe <noreply@localhost>")

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Framing is refused everywhere; the embed view (embeds.views.embed) is the only page
# that may be framed, by the domains its owner allows.
X_FRAME_OPTIONS = "DENY"
# Forms post only to the site, and from there to Stripe's Checkout and Portal (a form's
# redirect counts as its action).
STRIPE_ORIGINS = ["https://checkout.stripe.com", "https://billing.stripe.com"]
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF, *env.list("STRIPE_REDIRECT_ORIGINS", default=STRIPE_ORIGINS)],
    "frame-ancestors": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
# HTTPS only in production: plain HTTP is redirected (but /healthz, for load balancers),
# and browsers are told to use HTTPS for a year (HSTS; lower it while trying a new domain).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Behind a proxy, uvicorn takes the scheme from X-Forwarded-Proto when the proxy is in
# FORWARDED_ALLOW_IPS, so Django needs nothing more. Set SECURE_PROXY_SSL_HEADER (e.g.
# "HTTP_X_FORWARDED_PROTO") only for a server that does not: trusting a header any client
# can send would let plain HTTP pass for HTTPS.
SECURE_PROXY_SSL_HEADER = (
    (env("SECURE_PROXY_SSL_HEADER"), "https") if env("SECURE_PROXY_SSL_HEADER", default="") else None
)

# Credits: each used credit returns this many days after it was used.
CREDIT_REPLENISH_DAYS = env.int("CREDIT_REPLENISH_DAYS", default=30)
# Staff who are not superusers may grant or deduct at most this many credits at a time.
STAFF_CREDIT_CEILING = env.int("STAFF_CREDIT_CEILING", default=100)
# ... and at most this many in 24 hours, all their grants, deductions and allowance
# changes together; their grants expire at most this many days ahead.
STAFF_CREDIT_DAILY_TOTAL = env.int("STAFF_CREDIT_DAILY_TOTAL", default=500)
STAFF_GRANT_MAX_DAYS = env.int("STAFF_GRANT_MAX_DAYS", default=365)

# The language model. With no OPENAI_API_KEY the offline demo model answers (labelled
# "demo"), so every flow works on a fresh machine; production refuses that unless told.
OPENAI_API_KEY = env("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="") or None  # any OpenAI-compatible server
OPENAI_TIMEOUT_SECONDS = env.float("OPENAI_TIMEOUT_SECONDS", default=60.0)
# Models a creator may choose for a pickaxe; the first is the default.
PICKAXE_MODELS = env.list("PICKAXE_MODELS", default=["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"])
ALLOW_DEMO_MODEL = env.bool("ALLOW_DEMO_MODEL", default=DEBUG)
DEMO_MODEL_DELAY_SECONDS = env.float("DEMO_MODEL_DELAY_SECONDS", default=0.02)  # between streamed words
if not OPENAI_API_KEY and not ALLOW_DEMO_MODEL:
    raise ImproperlyConfigured(
        "OPENAI_API_KEY is not set. Set it, or set ALLOW_DEMO_MODEL=true to run on the offline demo model."
    )
# Run inputs: the most characters one text input takes (a field's own limit can only be
# lower), and the most the rendered prompt may have. A run costs one credit whatever its
# size, so the server bounds the size.
RUN_INPUT_MAX_CHARS = env.int("RUN_INPUT_MAX_CHARS", default=8000)
RUN_PROMPT_MAX_CHARS = env.int("RUN_PROMPT_MAX_CHARS", default=8000)
# Stripe. Without a secret key the site runs and the plans page says payments are off.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_PRICE_GOLD = env("STRIPE_PRICE_GOLD", default="")
STRIPE_PRICE_PACK_100 = env("STRIPE_PRICE_PACK_100", default="")
STRIPE_PRICE_PACK_250 = env("STRIPE_PRICE_PACK_250", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")  # empty: Stripe's own; tests point it at a fake
# The prices the plans page shows while Stripe is not configured (with Stripe, its prices
# are shown): cents a month, in BILLING_DISPLAY_CURRENCY. The defaults are the list prices
# `manage.py stripe_setup` creates (accounts/plans.py).
BILLING_DISPLAY_CURRENCY = env("BILLING_DISPLAY_CURRENCY", default="eur")
BILLING_DISPLAY_PRICES = {
    "gold": env.int("BILLING_DISPLAY_PRICE_GOLD", default=1900),
    "pack_100": env.int("BILLING_DISPLAY_PRICE_PACK_100", default=500),
    "pack_250": env.int("BILLING_DISPLAY_PRICE_PACK_250", default=1000),
}

# Fernet keys for secrets at rest (own API keys), newest first; older ones still decrypt.
# Development derives one from SECRET_KEY; production must set its own.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set when DEBUG is off.")
    import base64
    import hashlib

    FIELD_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]

# Embeds: how long an embed's signed form stays valid, and a cap on embed runs per owner.
EMBED_FORM_TOKEN_MAX_AGE = env.int("EMBED_FORM_TOKEN_MAX_AGE", default=6 * 3600)
EMBED_OWNER_RUNS_PER_MINUTE = env.int("EMBED_OWNER_RUNS_PER_MINUTE", default=30)

# While a run streams, the page gets its output so far (rendered) at most this often (seconds).
RUN_PROGRESS_EVERY_SECONDS = env.float("RUN_PROGRESS_EVERY_SECONDS", default=0.15)
# While a run streams, its output so far is stored this often (seconds).
RUN_OUTPUT_KEPT_EVERY_SECONDS = env.float("RUN_OUTPUT_KEPT_EVERY_SECONDS", default=1.0)
# A running run's lease: the process driving it renews it every third of this; a run whose
# lease has lapsed (its process died) is closed by `manage.py close_stale_runs`.
RUN_LEASE_SECONDS = env.float("RUN_LEASE_SECONDS", default=30.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO").upper()},
}

# SQLite ignores the ledger index's INCLUDE columns; the index still works there. HSTS
# preload is an operator's opt-in (SECURE_HSTS_PRELOAD), hard to undo: no nagging about it.
SILENCED_SYSTEM_CHECKS = ["models.W040", "security.W021"]
