"""GreenBox settings, read from the environment (see the table in README.md).

Every value has a safe development default except SECRET_KEY, which has one only
when DEBUG is on: a server started without DEBUG and without a key refuses to start.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config import embedded_postgres

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"  # runtime files of the embedded default (database, broker folders); git ignores it

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment, or set DEBUG=1 for local development."
        )
    SECRET_KEY = "django-insecure-greenbox-development-only"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])

INSTALLED_APPS = [
    "config.apps.GreenBoxAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_celery_beat",
    "django_htmx",
    "axes",
    "csp",  # the Content-Security-Policy header (django-csp); its checks catch settings of the old style
    "audit",  # the audit log: below stations in the dependency chain, imports none of the apps
    "events",  # the business events outbox, webhooks and notices: ground floor, imports only core/
    "ledger",  # accounts, transfers, posting and the audit registry: ground floor, imports only core/
    "idempotency",  # the one idempotency-key table and run_idempotent(): ground floor, imports only core/
    "stations",
    "recycling",
    "rewards",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by the app
    "api",
    "simulator",
    "members",
    "dashboards",  # the ops dashboards at /ops/; reads stations and recycling, nothing imports it
    "desk",  # the station desk at /desk/; calls stations, recycling and rewards, nothing imports it
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy: CONTENT_SECURITY_POLICY below
    "core.headers.PermissionsPolicyMiddleware",  # the camera for the desk's pages only
    "whitenoise.middleware.WhiteNoiseMiddleware",  # the app serves its own static files
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "config.middleware.RejectNulBytesMiddleware",  # a NUL in a query or form is a 400
    "config.middleware.ServiceUnavailableMiddleware",  # PostgreSQL or Redis down: 503, not 500
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditContextMiddleware",  # the address of audit events; records every 403
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a lockout into its page
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# PostgreSQL only. Without DATABASE_URL, the embedded default: a private PostgreSQL under
# var/postgres, started on demand (config/embedded_postgres.py; `make run` and `make test` start
# and stop it around their commands and hand them DATABASE_URL).
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
else:
    DATABASES = {"default": env.db_url_config(embedded_postgres.start_on_demand())}
# psycopg binds parameters on the server and prepares a statement once it has run 5 times on a
# connection (psycopg's default threshold; Django turns preparing off unless told): later runs
# skip PostgreSQL's parse and plan. It pays with persistent connections (CONN_MAX_AGE, as in
# production and bench/bench_api.py). A prepared statement holds one command: run each SQL
# command in an execute() of its own (migrations, run once, may hold several). Behind PgBouncer
# in transaction mode, prepared statements need PgBouncer 1.21+ (max_prepared_statements).
DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out sign-in before any password check
    "django.contrib.auth.backends.ModelBackend",  # staff and ops: username
    "recycling.auth.MobileNumberBackend",  # members: mobile number
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Uploads (a delivery's receipt or photo): not public; the admin serves each file to superusers
# (rewards/admin.py, NotebookDeliveryAdmin.receipt_view). Back this folder up with the database.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Without DEBUG, `manage.py collectstatic` writes compressed, content-hashed files that
    # whitenoise serves with far-future caching; with DEBUG it serves them from the apps.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Redis serves as Celery's broker and result store when REDIS_URL is set. Without it the
# embedded default uses kombu's filesystem transport: a real broker that needs no server.
REDIS_URL = env.str("REDIS_URL", default="")
# Redis re-delivers a task not acknowledged within the visibility timeout; keep it far above
# the longest task and any countdown we use (retries back off for at most 10 minutes).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    # Redis down must not hang a web request that queues a task (the admin's recompute, a void's
    # recompute): connecting gives up after 0.5 s and a command after 1 s (kombu reads the
    # worker's BRPOP only once it is readable, so this does not cut it short), and a publish is
    # tried twice (CELERY_TASK_PUBLISH_RETRY_POLICY below): about 1.2 s in all before the
    # caller's BrokerError, never a 500. The web never waits for a result (it queues with
    # ignore_result, recycling/tasks.py); the workers store theirs with the time-outs below.
    CELERY_BROKER_TRANSPORT_OPTIONS |= {"socket_connect_timeout": 0.5, "socket_timeout": 1}
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 1
    CELERY_REDIS_SOCKET_TIMEOUT = 5
else:
    _broker_dir = VAR_DIR / "celery"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{_broker_dir / 'results'}"
    for _folder in ("queue", "processed", "control", "results"):  # the transport expects its folders to exist
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task is acknowledged only after it ran, and a worker killed mid-task hands it back to the
# queue; every task is therefore written to give the same result when it runs twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_RESULT_EXPIRES = 86400

LOGIN_URL = "admin:login"

# Content-Security-Policy (django-csp 4): scripts, styles, fonts and requests from the app's own
# origin only, nothing inline; no plugins, no framing by other sites, forms post to the app.
# Images may also be data: URLs (the admin's and Swagger UI's icons, the member's QR code).
# Every page's scripts are files the app serves (whitenoise); the browser tests fail on any
# violation.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# The views where the page may use the camera (Permissions-Policy, core/headers.py): the desk's
# log-cartons page, where staff scan the member's QR code (recycling/_scan_button.html). The
# hand-out pages take the pickup code typed: the member's page shows it as digits.
GREENBOX_CAMERA_VIEWS = ["desk:log", "desk:hand_out"]

# How many reverse proxies (load balancer, nginx) stand in front of the app and append to
# X-Forwarded-For. 0: the client is REMOTE_ADDR and X-Forwarded-For is ignored (a client can
# write anything there). The audit log takes the client's address from this.
GREENBOX_TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)

# Repeated failed sign-ins (members' pages and the admin; wrong old passwords on the password
# change pages count too) lock that account out from that client address for a while: per
# account+address, so an attacker elsewhere cannot lock a member out, and the lock ends after
# the cool-off however many attempts come in meanwhile. The account is the same whichever
# identifier was typed (mobile number or username), and the address is the one the audit log
# records (audit.context.client_address, behind GREENBOX_TRUSTED_PROXIES). One address is also
# limited across accounts, which stops one password tried against many numbers
# (members/lockout.py explains both).
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "members.lockout.lockout_username"  # the account, whichever identifier was typed
AXES_CLIENT_IP_CALLABLE = "audit.context.client_address"  # the audit log's address: one derivation
AXES_HANDLER = "members.lockout.LockoutHandler"  # adds the limit per address across accounts
AXES_LOCKOUT_CALLABLE = "members.lockout.lockout_response"
AXES_LOCKOUT_TEMPLATE = "members/locked_out.html"
GREENBOX_SIGNIN_FAILURES_PER_ADDRESS = 20

# Wrong pickup codes typed at a station's desk (admin and API) per staff user and station:
# after this many within the cool-off the desk refuses further codes there until it ends.
GREENBOX_PICKUP_CODE_FAILURE_LIMIT = 5
GREENBOX_PICKUP_CODE_COOLOFF = timedelta(minutes=15)

# Staff searches for a member (recycling.services.search_members): per staff user, counted in
# Django's cache, so one login cannot harvest members' numbers. A rate as DRF writes them.
GREENBOX_MEMBER_SEARCH_RATE = env.str("MEMBER_SEARCH_RATE", default="60/hour")
# The privacy notice members agree to at sign-up (members/templates/members/privacy.html):
# change the version whenever the notice's substance changes.
GREENBOX_PRIVACY_NOTICE_VERSION = "2026-12"

# Points earned per carton and the daily cap are data (EarningRule); this is only the cap
# that a new rule starts with.
GREENBOX_DEFAULT_DAILY_CARTON_CAP = 20

# How long before it is recorded a drop-off may have happened (recycling.services.
# check_dropoff_time): at the desk and in a single API POST, and in a batch synced by a station
# device that was offline, whose drop-offs beyond the first window are flagged for review.
GREENBOX_DROPOFF_MAX_AGE_HOURS = env.int("DROPOFF_MAX_AGE_HOURS", default=72)
GREENBOX_OFFLINE_DROPOFF_MAX_AGE_DAYS = env.int("OFFLINE_DROPOFF_MAX_AGE_DAYS", default=7)
# A drop-off recorded this long after it happened is an anomaly flag (dashboards/anomalies.py);
# never more than the first window, so every batch drop-off beyond that window is flagged.
GREENBOX_LATE_DROPOFF_FLAG_HOURS = env.int("LATE_DROPOFF_FLAG_HOURS", default=24)

# A reserved reward not collected within this many days expires: its points and stock come back.
GREENBOX_RESERVATION_EXPIRY_DAYS = 3
# A member is warned (a notice, recycling/notices.py) this long before a reservation expires.
GREENBOX_RESERVATION_EXPIRY_NOTICE_HOURS = 12
# The class that sends members' notices (SMS, WeChat template messages); the default logs them.
GREENBOX_NOTICE_CHANNEL = "recycling.notices.LogChannel"

# Django's cache: Redis when REDIS_URL is set (shared by every web worker, so the API's
# throttles count across processes), else local memory (per process: fine for development).
# config.redis_cache is Django's RedisCache keeping one client per connection pool (a new
# client per call cost 0.4 ms of a drop-off POST's CPU: see that module).
# Short time-outs: the throttles fail open when Redis does not answer (api/throttling.py), and
# a throttle check waiting seconds for a dead server would stall every API request.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The REST API (api/): token (devices, integrations) and session (web pages) authentication,
# JSON only, one error shape (api.errors), throttles per user and per station. The rates are
# settings, overridable from the environment (the API benchmark lifts them).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated request gets 401 with "WWW-Authenticate: Token".
        "api.authentication.ApiTokenAuthentication",  # hashed tokens, one per device (api/models.py)
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_METADATA_CLASS": None,  # OPTIONS answers 405: the schema documents the API
    "DEFAULT_PAGINATION_CLASS": "api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # Per user, or per client address when anonymous; the station's writes also per station
    # (api.throttling.StationRateThrottle, on the views that name a station). DRF's classes,
    # failing open when Redis is down (api/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.AnonRateThrottle",
        "api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="30/min"),
        "user": env.str("API_THROTTLE_USER", default="600/min"),
        "station": env.str("API_THROTTLE_STATION", default="300/min"),
    },
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
}
# The largest request body read: a form's fields (Django refuses more with a 400) and an API
# body, refused with a 413 before it is read (api.errors). 1 MiB holds a 500-item batch with
# every field at its longest (tests/api/test_body_limit.py).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
SPECTACULAR_SETTINGS = {
    "TITLE": "GreenBox API",
    "DESCRIPTION": "Carton drop-offs, points, rewards and donations for station devices and partner systems.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's files come from drf-spectacular-sidecar, served by the app itself (no CDN).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# Idempotency keys of every keyed write (idempotency.models.IdempotencyKey) are kept at least this
# long; a retry sent later runs as a new request. 30 days: a station device queues drop-offs while
# it is offline and re-sends the queue when it is back, possibly under another staff login, and
# nothing bounds how long a station may be offline (the campaign brief names no limit, and the
# batch endpoint accepts drop-offs of any earlier day), so the keys outlive any plausible outage,
# a whole 20-day campaign window included. The cost is one small row per write, purged daily.
GREENBOX_IDEMPOTENCY_RETENTION_HOURS = 30 * 24
# An API token expires this many days after it is created unless its creator picks another day.
GREENBOX_API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=365)
