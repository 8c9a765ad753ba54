"""Settings of the chaos run's gunicorn, Celery worker and beat: the base settings without DEBUG,
with the production's database connections (persistent and health-checked, so a restarted
PostgreSQL costs a request, not a worker), throttles lifted for the load, and each 500's cause
recorded by chaos.errorlog. Only `chaos/run.py` uses it. (A request whose worker was killed holds
its idempotency key only as long as its transaction: the retry finds the key free at once.)
"""

import os

os.environ.setdefault("SECRET_KEY", "greenbox-chaos-only-not-a-secret")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
os.environ.setdefault("API_THROTTLE_USER", "1000000/s")
os.environ.setdefault("API_THROTTLE_STATION", "1000000/s")

from config.settings.base import *  # noqa: E402,F403
from config.settings.base import DATABASES, STORAGES  # noqa: E402

DEBUG = False
DATABASES["default"]["CONN_MAX_AGE"] = 60
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The API serves no static files; skip the manifest (and collectstatic).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_AUTOREFRESH = True  # no collected static folder to scan at start-up

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
        "errors": {"class": "chaos.errorlog.JsonErrorHandler", "level": "ERROR"},
    },
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {"django.request": {"handlers": ["stderr", "errors"], "level": "ERROR", "propagate": False}},
}
