"""Test settings: the production settings with a throwaway secret and fast password hashing."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DEBUG", "false")
# Tests always run in sandbox mode, whatever a developer's environment says.
os.environ["TATUM_API_KEY"] = ""

from dashboard.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Manifest storage needs collectstatic; tests serve plain static files.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
TATUM_MAX_RPS = 1000.0
# Retries keep their count; only the waits between them shrink, so failing reads stay quick to test.
TATUM_RETRY_BACKOFF = 0.001
EXPORT_ROOT = BASE_DIR / ".test-exports"  # noqa: F405
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
AXES_VERBOSE = False
