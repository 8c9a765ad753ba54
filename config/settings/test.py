"""Settings for the test suite: the base settings with a fixed key and a fast hasher.

DATABASE_URL and REDIS_URL still come from the environment, so `.ci/run` points the
same suite at PostgreSQL and Redis.
"""

import os

os.environ.setdefault("SECRET_KEY", "greenbox-tests-only-not-a-secret")

from .base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = False
# The manifest storage needs `collectstatic`; tests find static files in the apps instead.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True  # no collected static folder to scan at start-up

# Without Redis, tasks the tests enqueue (recomputes after a void, ...) go to kombu's in-memory
# transport and vanish with the process, instead of into the development broker's folder where
# `make run`'s worker would pick them up. The worker test runs against Redis.
if not REDIS_URL:  # noqa: F405
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = "cache+memory://"
