"""Settings for leadrouter, read from the environment (and an optional .env file).

SQLite (``db.sqlite3``) is the embedded default; set ``DATABASE_URL`` for PostgreSQL.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="insecure-development-key-change-me")
# Off unless asked for: `make run` (the demo) turns it on; production never shows debug pages.
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.admin.LeadrouterAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "adminsortable2",
    "simple_history",
    "django_htmx",
    "django_q",
    "phonenumber_field",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files, offline
    "agents",
    "routing",
    "leads",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from the app server (gunicorn), compressed, with cache headers.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "routing.middleware.BrokerageTimezoneMiddleware",
    "config.middleware.FriendlyMethodNotAllowedMiddleware",
]
if env("LEADROUTER_BENCH", default="") == "1":  # `manage.py bench_api`'s server only
    MIDDLEWARE.insert(0, "leads.intake.bench.BenchMeterMiddleware")

ROOT_URLCONF = "config.urls"

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
                "notifications.context_processors.web_push",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# --- Database -------------------------------------------------------------------------------
# SQLite: IMMEDIATE transactions and a busy timeout, so concurrent writers queue instead of
# failing with "database is locked"; WAL so that readers never wait for a writer.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
_ON_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
# Persistent connections on PostgreSQL: a new connection per request costs its server process
# more CPU than the request's own statements (a fresh backend reads every table's catalog
# entries again), and halved the intake API's throughput. Checked before reuse, so a restarted
# database costs no failed request. 0: a connection per request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0 if _ON_SQLITE else 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Prepared statements on a persistent connection: the statements sent apart from their
# parameters (``config.cursors.bound_cursor``: a routed lead's rows, the inbound log's) are
# prepared on the server from their second run, which then neither parses nor plans them
# again; Django's other statements are never prepared. Off (unset) without persistent
# connections, where a statement would be prepared for one request, and behind a
# transaction-mode pooler that does not keep prepared statements (``DB_PREPARE_THRESHOLD=``).
if not _ON_SQLITE and DATABASES["default"]["CONN_MAX_AGE"] != 0:
    _prepare_after = env("DB_PREPARE_THRESHOLD", default="2")
    if _prepare_after:
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
            "prepare_threshold", int(_prepare_after))
if _ON_SQLITE:
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"].setdefault("TEST", {})
    if env("SQLITE_TEST_NAME", default=""):
        DATABASES["default"]["TEST"]["NAME"] = env("SQLITE_TEST_NAME")
    # The reports' covering indexes carry extra columns on PostgreSQL; SQLite builds them on
    # their key columns alone, which is all its small data needs.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

# The claim clock's threads for a burst's batches (routing/clock.py): on PostgreSQL two, so that
# one decides while the other waits for the database; SQLite takes one writer at a time.
CLOCK_WORKERS = env.int(
    "CLOCK_WORKERS", default=1 if _ON_SQLITE else 2)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# --- Brokerage ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
# The brokerage's time zone: rule windows, shifts and "leads today" are read in it.
TIME_ZONE = env("TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True

# Phone numbers written without a country code are read in this region.
PHONENUMBER_DEFAULT_REGION = env("PHONE_REGION", default="US")
PHONENUMBER_DB_FORMAT = "E164"

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves STATIC_ROOT (filled by `collectstatic`, which `serve` runs), gzip/brotli
# copies included; with DEBUG on it also serves straight from the source folders. Plain names
# (no hashed manifest): pages render the same with or without a collected STATIC_ROOT.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- HTTPS and cookies (production: see the README's "Production settings") ----------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Behind a proxy that terminates TLS: "HTTP_X_FORWARDED_PROTO,https".
_proxy_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
SECURE_PROXY_SSL_HEADER = tuple(_proxy_header) if len(_proxy_header) == 2 else None
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)

# --- Cache: every limit (logins, the API's throttles) counts here, shared by all processes ---
# Redis when REDIS_URL is set, else a table in the main database (`createcachetable`, which
# `make run`, `serve` and the test runner run).
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                          "LOCATION": "leadrouter_cache"}}

# Web logins (/accounts/login/, /admin/login/): tries per username and per client address and
# minute; the next one is refused with a message. A successful login clears the name's count.
LOGIN_RATE_PER_MINUTE = env.int("LOGIN_RATE_PER_MINUTE", default=10)
LOGIN_ADDRESS_RATE_PER_MINUTE = env.int("LOGIN_ADDRESS_RATE_PER_MINUTE", default=30)
# The request header holding the client's address when a proxy stands in front (e.g.
# "HTTP_X_REAL_IP", set by the proxy); empty: REMOTE_ADDR.
CLIENT_ADDRESS_HEADER = env("CLIENT_ADDRESS_HEADER", default="")

# Where people reach the product: links in emails and text messages.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

# How often an open offers page asks for changes (seconds): an empty 304 while nothing changed.
OFFERS_REFRESH_SECONDS = env.int("OFFERS_REFRESH_SECONDS", default=1)
# How long before an appointment its reminder goes out (leads.reminders).
APPOINTMENT_REMINDER_MINUTES = env.int("APPOINTMENT_REMINDER_MINUTES", default=30)
# My leads' "needs attention": an open lead with no timeline entry in this many days.
LEADS_QUIET_DAYS = env.int("LEADS_QUIET_DAYS", default=7)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- Email ----------------------------------------------------------------------------------
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=15)
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="leads@leadrouter.local")
# For the SMTP backend (django.core.mail.backends.smtp.EmailBackend): the mail server.
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
# For the file-based backend (the demo's): where each email is written.
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))

# --- Task cluster (django-q2) ---------------------------------------------------------------
# The ORM broker on the main database is the default: no extra server, and a task is enqueued
# in the same transaction as the change that needs it. Set Q_BROKER=redis for larger installs.
Q_CLUSTER = {
    # The queue's name: every web server, clock and cluster of one install uses the same one
    # (with Redis, two installs on one Redis server need two names, or two database numbers).
    "name": env("Q_CLUSTER_NAME", default="leadrouter"),
    # Notifications and webhook deliveries only: the claim clock runs in its own process
    # (``manage.py run_clock --loop``), never in this queue. A webhook task gives up after
    # 60 s (notifications/webhooks/sending.py): timeout above it, retry above the timeout.
    "workers": env.int("Q_WORKERS", default=4),
    "timeout": 100,
    "retry": 130,
    "max_attempts": 5,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    "poll": 0.5,
    "sync": env.bool("Q_SYNC", default=False),
}
if env("Q_BROKER", default="orm") == "redis":
    Q_CLUSTER["redis"] = REDIS_URL or "redis://127.0.0.1:6379/0"
else:
    Q_CLUSTER["orm"] = "default"
    # The ORM broker, its task row written in one plain INSERT (every routed lead queues one).
    Q_CLUSTER["broker_class"] = "notifications.queueing.OrmBroker"

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # Domain errors (config.errors.ApplicationError) answered once, for every API view.
    "EXCEPTION_HANDLER": "config.api.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "leadrouter API",
    "DESCRIPTION": "Lead intake for vendors (per-source API keys), the agent API for phone apps "
    "and the manager API (read).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Several models have a "status": name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "LeadStatusEnum": "leads.models.Lead.Status",
        "OfferStatusEnum": "routing.models.Offer.Status",
    },
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema needs a login unless DEBUG is on (the docs pages: see config/api/urls.py).
    "SERVE_PERMISSIONS": ["config.api.base.DocsPermission"],
    "SERVE_AUTHENTICATION": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
}
# Largest lead body the intake API accepts, and requests per minute per key.
INTAKE_MAX_BODY_BYTES = 64 * 1024
INTAKE_RATE_PER_MINUTE = env.int("INTAKE_RATE_PER_MINUTE", default=600)
# Token logins (POST /api/v1/auth/token/) per username and minute.
API_LOGIN_RATE_PER_MINUTE = env.int("API_LOGIN_RATE_PER_MINUTE", default=10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}

# --- SMS (notifications) --------------------------------------------------------------------
# SMS_BACKEND: dotted path of a class implementing notifications.sms.BaseSmsBackend: console
# (default), FileSmsBackend (JSON lines in SMS_FILE_PATH), LocmemSmsBackend (tests), or a
# provider's backend. SMS_FROM: the sender number or ID passed to the backend.
SMS_BACKEND = env("SMS_BACKEND", default="notifications.sms.ConsoleSmsBackend")
SMS_FILE_PATH = env("SMS_FILE_PATH", default=str(BASE_DIR / "var" / "sms.jsonl"))
SMS_FROM = env("SMS_FROM", default="")
# Twilio (SMS_BACKEND=notifications.sms.TwilioSmsBackend): the account's SID and auth token
# (the token also checks every inbound webhook's signature); TWILIO_API_BASE points the REST
# client at a Twilio-compatible endpoint instead of https://api.twilio.com (tests, proxies).
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="")
TWILIO_API_BASE = env("TWILIO_API_BASE", default="https://api.twilio.com")
# --- end SMS --------------------------------------------------------------------------------

# --- Instant calls (routing.calls) ----------------------------------------------------------
# VOICE_BACKEND: dotted path of a routing.calls.BaseVoiceBackend: ConsoleVoiceBackend (default,
# logs and places no call), TwilioVoiceBackend, LocmemVoiceBackend (tests). VOICE_FROM: the
# number calls come from (and the caller ID the lead sees). The Twilio account is the SMS
# block's (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN).
VOICE_BACKEND = env("VOICE_BACKEND", default="routing.calls.ConsoleVoiceBackend")
VOICE_FROM = env("VOICE_FROM", default="")
# --- end instant calls ----------------------------------------------------------------------

# --- Web Push (notifications.push) ----------------------------------------------------------
# The VAPID key pair (`manage.py generate_vapid_keys`; `make run` writes the demo's own to
# .env). Without both, phone alerts are off. WEBPUSH_VAPID_SUBJECT: "mailto:..." or "https://..."
# the push services may contact (default: mailto: DEFAULT_FROM_EMAIL). WEBPUSH_ENDPOINT_HOSTS:
# the push services devices may subscribe through (host suffixes, https; or full origins).
WEBPUSH_BACKEND = env("WEBPUSH_BACKEND", default="notifications.push.WebPushBackend")
WEBPUSH_VAPID_PUBLIC_KEY = env("WEBPUSH_VAPID_PUBLIC_KEY", default="")
WEBPUSH_VAPID_PRIVATE_KEY = env("WEBPUSH_VAPID_PRIVATE_KEY", default="")
WEBPUSH_VAPID_SUBJECT = env("WEBPUSH_VAPID_SUBJECT", default="")
WEBPUSH_ENDPOINT_HOSTS = env.list("WEBPUSH_ENDPOINT_HOSTS", default=[
    "fcm.googleapis.com", "push.services.mozilla.com", "push.apple.com", "notify.windows.com"])
# --- end Web Push ---------------------------------------------------------------------------

# --- Webhooks (notifications.webhooks) ------------------------------------------------------
# Webhooks go only to public internet addresses (checked after DNS resolution, again at every
# connection). WEBHOOK_ALLOWED_HOSTS: comma-separated host names or addresses allowed anyway,
# e.g. a CRM inside the brokerage's own network ("crm.office.lan,10.0.0.12").
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])

# --- Away calendars (agents.away_feed) ------------------------------------------------------
# Agents' ICS feeds are read from the server, public addresses only (like webhooks).
# AWAY_CALENDAR_PRIVATE_HOSTS: comma-separated host names or addresses allowed anyway, e.g. a
# calendar server inside the office network ("cal.office.lan").
AWAY_CALENDAR_PRIVATE_HOSTS = env.list("AWAY_CALENDAR_PRIVATE_HOSTS", default=[])
