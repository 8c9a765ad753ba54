"""Production settings: the base settings, hardened. `manage.py check --deploy` is clean with them
(tests/test_production_settings.py runs it).

The app runs behind a load balancer or reverse proxy that terminates TLS and sets
X-Forwarded-Proto; every secret and host name comes from the environment (README, "Production").
"""

import os

from django.core.exceptions import ImproperlyConfigured

# Checked before base.py runs: without DATABASE_URL it would start the embedded development server.
if not os.environ.get("DATABASE_URL"):
    raise ImproperlyConfigured("DATABASE_URL is not set: production has no embedded database.")

from .base import *  # noqa: E402,F403
from .base import env  # noqa: E402

DEBUG = False  # whatever the environment says

# No default, not even the development one base.py allows with DEBUG: the server refuses to start.
SECRET_KEY = env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
# Origins (scheme and host) that may POST forms, e.g. https://greenbox.example.cn
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS only: the proxy says which scheme the client used; plain HTTP is redirected to HTTPS.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = 365 * 24 * 60 * 60
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Collected, compressed, content-hashed static files (base.py picks them when DEBUG is off;
# repeated here because DEBUG is forced off above, whatever base.py read).
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Database connections kept open between requests (gunicorn workers are long-lived); checked
# before reuse, so a restarted PostgreSQL costs one failed request at most, not a worker.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405

# Everything to stdout, one line per record: the process manager or container runtime collects
# it. Audit events ("greenbox.audit") are one JSON object each (audit.services.log_line).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "plain"}},
    "root": {"handlers": ["stdout"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"level": "INFO"},
        "django.db.backends": {"level": "WARNING"},  # never SQL with parameters in production logs
        "greenbox.audit": {"level": "INFO"},
    },
}
