"""Settings for the Tatum customer dashboard.

Every value comes from the environment (or an optional `.env` file beside `manage.py`); the names and
defaults are documented in the README's configuration table.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

_DEVELOPMENT_SECRET_KEY = "development-only-secret-key-never-use-in-production-0123456789"
SECRET_KEY = env("SECRET_KEY", default=_DEVELOPMENT_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY in the environment (it is required when DEBUG is off).")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Tatum ---------------------------------------------------------------------------------------
TATUM_API_KEY = env("TATUM_API_KEY", default="")
SANDBOX_MODE = not TATUM_API_KEY
SANDBOX_API_KEY = env("SANDBOX_API_KEY", default="sandbox-key")
SANDBOX_LATENCY_MS = env.int("SANDBOX_LATENCY_MS", default=0)
# The sandbox's plan rate: calls per key in any one second before it answers 429 (unset or empty: none).
_sandbox_max_rps = env("SANDBOX_MAX_RPS", default="").strip()
if _sandbox_max_rps and not (_sandbox_max_rps.isdigit() and int(_sandbox_max_rps) >= 1):
    raise ImproperlyConfigured("SANDBOX_MAX_RPS must be a whole number of at least 1, or empty for no limit.")
SANDBOX_MAX_RPS = int(_sandbox_max_rps) if _sandbox_max_rps else None
# The port this process serves on, used to reach the built-in sandbox in sandbox mode.
PORT = env.int("PORT", default=8000)
TATUM_API_URL = env(
    "TATUM_API_URL",
    default=f"http://127.0.0.1:{PORT}/sandbox" if SANDBOX_MODE else "https://api.tatum.io",
).rstrip("/")
_timeout = env.list("TATUM_TIMEOUT", cast=float, default=[3.05, 10.0])
TATUM_TIMEOUT = (_timeout[0], _timeout[-1])
TATUM_MAX_RPS = env.float("TATUM_MAX_RPS", default=5.0)
TATUM_MAX_RETRIES = env.int("TATUM_MAX_RETRIES", default=3)
TATUM_RETRY_BACKOFF = env.float("TATUM_RETRY_BACKOFF", default=0.25)
TATUM_OFFSET_MODE = env("TATUM_OFFSET_MODE", default="records")
if TATUM_OFFSET_MODE not in ("records", "pages"):
    raise ImproperlyConfigured("TATUM_OFFSET_MODE must be 'records' or 'pages'.")
TATUM_EXPORT_CONCURRENCY = env.int("TATUM_EXPORT_CONCURRENCY", default=4)
# Credits the deployment means to spend in a calendar month (in TIME_ZONE); every signed-in page shows a
# banner from 80% of it. Unset, empty or 0: no budget, no banner.
_monthly_credit_budget = env("TATUM_MONTHLY_CREDIT_BUDGET", default="").strip()
if _monthly_credit_budget and not _monthly_credit_budget.isdigit():
    raise ImproperlyConfigured(
        "TATUM_MONTHLY_CREDIT_BUDGET must be a whole number of credits, or 0 or empty for no budget."
    )
TATUM_MONTHLY_CREDIT_BUDGET = int(_monthly_credit_budget or 0)
# Threads of a web process (gunicorn.conf.py reads the same variable). A detail page reads the customer
# and its accounts at once, so a web process may hold two Tatum connections per thread; an export
# worker holds TATUM_EXPORT_CONCURRENCY. The client keeps that many alive, so none is discarded.
WEB_THREADS = env.int("GUNICORN_THREADS", default=16)
TATUM_POOL_SIZE = env.int("TATUM_POOL_SIZE", default=max(2 * WEB_THREADS, TATUM_EXPORT_CONCURRENCY))
# How long a change to a customer waits for another change to the same customer to finish: longer
# than one change can take (a read and a write, each within TATUM_TIMEOUT).
CUSTOMER_LOCK_WAIT_SECONDS = env.float("CUSTOMER_LOCK_WAIT_SECONDS", default=30.0)
# A running export whose worker has not reported for this long is taken over by another worker.
EXPORT_STALLED_AFTER_SECONDS = env.float("EXPORT_STALLED_AFTER_SECONDS", default=30.0)
EXPORT_RETENTION_DAYS = env.int("EXPORT_RETENTION_DAYS", default=30)
EXPORT_ROOT = Path(env("EXPORT_ROOT", default=str(BASE_DIR / "exports")))
# How many reverse proxies in front of the app append to X-Forwarded-For (0: use REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Django --------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "dashboard",
    "customers",
]
if SANDBOX_MODE:
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "customers.middleware.PrivacyHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "customers.middleware.RequestIdMiddleware",
    "customers.middleware.ApiCallRecordingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "customers.middleware.HtmxCreditsMiddleware",
    "dashboard.middleware.HtmxAwareLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

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
                "customers.context_processors.dashboard",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web threads, the task worker and the sandbox share one file: wait for locks, write-ahead log.
    # Connections persist as on PostgreSQL: opening one and setting it up costs about 2 ms a request.
    # Every write elsewhere empties a connection's page cache; memory-mapped reads refill it cheaply.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA mmap_size=268435456;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# The dashboard speaks British English only. Dates and numbers are still formatted as en-gb, but no
# translation machinery runs: with it on, every `{% url %}` and formatted value asks which language is
# active (switching it off saves 7% of the instructions of a 50-row list page).
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# --- Security ------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The sandbox is reached by the app itself over plain HTTP on loopback.
    SECURE_REDIRECT_EXEMPT = [r"^sandbox/", r"^healthz$"]

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "customers.context.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "customers.context.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
