"""Settings for every environment, read from the environment (django-environ).

Every variable is listed, with its default, in `.env.example`. The defaults are the local
servers that `scripts/services.sh` starts, so `make test` and `make run` need no `.env`.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from core.common.logging import logging_config, structlog_configure

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- core -----------------------------------------------------------------------------------
# Empty counts as unset. The dev-only fallbacks serve DEBUG sessions only (see "no development key" below).
SECRET_KEY = env.str("SECRET_KEY", default="") or "dev-only-insecure-secret-key-change-me"
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "import_export",
    "nested_admin",
    "core.common",
    "core.jobs",
    "core.audit",
    "core.accounts",
    "core.answers",
    "core.exams",
    "core.grading",
    "core.gradebook",
    "core.imports",
    "core.handins",
]

MIDDLEWARE = [
    "core.common.middleware.RequestIdMiddleware",
    "core.common.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # The answer save's lean road, served before the middleware below that a bearer-token save never needs
    # (docs/decisions/0017-lean-put.md); everything else goes on down the chain.
    "core.exams.hot_path.LeanAnswersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "core.accounts.throttles.DeviceCookieMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.common.middleware.JsonErrorMiddleware",
]

ROOT_URLCONF = "core.urls"
WSGI_APPLICATION = "core.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "core" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- stores ---------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://exams:exams@127.0.0.1:55432/exams"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
# A reused connection is checked (SELECT 1) once per request before its first query, so that one PostgreSQL
# restarted under us costs no request an error; false saves that round trip (docs/benchmarks.md).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=True)
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int("DB_CONNECT_TIMEOUT", default=3)
# Django's default (None) forbids psycopg to prepare any statement, even when asked. Its own queries bind on the
# client, which never prepares, so this lets only core/common/statements.py's compiled statements be prepared.
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 5
# Several suites may share one server; each run can pick its own test database.
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_exams")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:56379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="exams"),
        "TIMEOUT": 3600,
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

# The answer store: "cassandra" in production and `make up`, "postgres" for `make run`.
ANSWER_STORE = env.str("ANSWER_STORE", default="postgres")
# Every save also goes to the save history (docs/product.md rule 10). Off only to measure what the history costs.
ANSWER_HISTORY = env.bool("ANSWER_HISTORY", default=True)
# CASSANDRA_NODES=3: the local cluster of scripts/services.sh (127.0.0.1, .2, .3 in data centre dc1). Unless set
# on their own, the contact points are then every node, the local DC dc1, and the replication factor the node
# count (at most 3); 1 node keeps 127.0.0.1, SimpleStrategy and RF 1.
CASSANDRA_NODES = env.int("CASSANDRA_NODES", default=1)
CASSANDRA = {
    "HOSTS": env.list("CASSANDRA_HOSTS", default=[f"127.0.0.{i}" for i in range(1, CASSANDRA_NODES + 1)]),
    "PORT": env.int("CASSANDRA_PORT", default=59042),
    "KEYSPACE": env.str("CASSANDRA_KEYSPACE", default="exams"),
    "REPLICATION_FACTOR": env.int("CASSANDRA_REPLICATION_FACTOR", default=min(CASSANDRA_NODES, 3)),
    "CONSISTENCY": env.str("CASSANDRA_CONSISTENCY", default="LOCAL_QUORUM"),
    "CONNECT_TIMEOUT": env.float("CASSANDRA_CONNECT_TIMEOUT", default=2.0),
    # A save gets its answer, 2xx or 503, within a bounded time (docs/decisions, bounded save time): each attempt
    # waits at most REQUEST_TIMEOUT, an idempotent statement with its retries at most DEADLINE, and an idempotent
    # statement goes to another replica too when the first has not answered after SPECULATIVE_DELAY.
    "REQUEST_TIMEOUT": env.float("CASSANDRA_REQUEST_TIMEOUT", default=2.0),
    "DEADLINE": env.float("CASSANDRA_DEADLINE", default=4.5),
    "SPECULATIVE_DELAY": env.float("CASSANDRA_SPECULATIVE_DELAY", default=0.3),
    # The native protocol: 4, which Cassandra 4 and 5 speak. 5 adds checksummed frames, whose CRC24 the driver
    # computes in Python: about 0.06 ms of CPU per save (docs/benchmarks.md, where a B1 save's time goes).
    "PROTOCOL_VERSION": env.int("CASSANDRA_PROTOCOL_VERSION", default=4),
    # Set in a multi-datacenter cluster: routes to that DC and creates the keyspace with
    # NetworkTopologyStrategy {LOCAL_DC: REPLICATION_FACTOR}; empty means SimpleStrategy.
    "LOCAL_DC": env.str("CASSANDRA_LOCAL_DC", default="dc1" if CASSANDRA_NODES > 1 else ""),
    # Tests use their own keyspace: this, or else the test database's name (see core/test_runner.py).
    "TEST_KEYSPACE": env.str("CASSANDRA_TEST_KEYSPACE", default=""),
}

# --- Celery ---------------------------------------------------------------------------------
# Students per grading chunk: one exam's grading is split into chunks that every worker takes in parallel.
GRADING_CHUNK_STUDENTS = env.int("GRADING_CHUNK_STUDENTS", default=500)
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:56379/1")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3600)
# Longer than the longest task, or Redis redelivers a task that is still running. It is also how long a task
# whose worker was killed (-9) waits before Redis hands it out again; the failure drills shorten it.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 600)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
# Task modules outside an app's own tasks.py, which autodiscovery does not find.
CELERY_IMPORTS = ("core.imports.tasks",)
CELERY_BEAT_SCHEDULE: dict = {
    # Grading chunks whose worker died are sent again after their lease (core.jobs.services.CHUNK_LEASE).
    "grading-rescue": {"task": "core.grading.tasks.grading_rescue_task", "schedule": 10.0},
    # Hand-in files past HANDIN_RETENTION_DAYS; downloads already refuse them, so hourly is enough.
    "handins-expire": {"task": "core.handins.tasks.handins_expire_task", "schedule": 3600.0},
}

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.accounts.authentication.ApiKeyAuthentication",
        "core.accounts.authentication.JWTAuthentication",  # simplejwt's, with ended sessions refused
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.common.parsers.BoundedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.common.pagination.PageNumberPagination",
    "PAGE_SIZE": env.int("PAGE_SIZE", default=50),
    "DEFAULT_SCHEMA_CLASS": "core.common.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.common.errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login_ip": env.str("LOGIN_RATE_PER_CLIENT", default="30/min"),
        "login_email": env.str("LOGIN_RATE_PER_EMAIL", default="10/min"),
    },
    # Behind one Nginx, the client is the last X-Forwarded-For entry, which Nginx appends;
    # an entry a client forged sits to its left and is ignored.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=1),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# Failures only (core/accounts/throttles.py, docs/security.md): a trusted device's cookie lasts this long.
LOGIN_DEVICE_COOKIE_DAYS = env.int("LOGIN_DEVICE_COOKIE_DAYS", default=180)
# Unknown upload or verification codes (404) one client address may try per window before a 429.
CODE_FAILURES_PER_CLIENT = env.str("CODE_FAILURES_PER_CLIENT", default="60/hour")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default="") or "dev-only-insecure-jwt-signing-key-change-me",
    "AUDIENCE": env.str("JWT_AUDIENCE", default="exams-api"),
    "ISSUER": env.str("JWT_ISSUER", default="exams-platform"),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_CLAIM": "user_id",
    "TOKEN_OBTAIN_SERIALIZER": "core.accounts.tokens.LoginSerializer",
}

# --- no development key outside development --------------------------------------------------
# The `dev-only-` defaults above let DEBUG sessions start without a `.env`; nothing else may serve with
# them (wsgi, asgi, celery and manage.py all load these settings). `make up` and `make run` take real keys
# from .state/secrets.env (scripts/secrets.sh); tests use core.settings.test; production.py checks more.
DEV_KEY_PREFIX = "dev-only-"
if not DEBUG:
    for _name, _value in (("SECRET_KEY", SECRET_KEY), ("JWT_SIGNING_KEY", SIMPLE_JWT["SIGNING_KEY"])):
        if not _value or _value.startswith(DEV_KEY_PREFIX):
            raise ImproperlyConfigured(
                f"{_name} is unset or a development value while DEBUG is off. Set a random {_name} (make up and "
                "make run keep one in .state/secrets.env: run commands through scripts/secrets.sh), or DEBUG=true."
            )

SPECTACULAR_SETTINGS = {
    "TITLE": "Exams platform API",
    "DESCRIPTION": "Online exams, answers, grading, gradebook, Markr imports and hand-ins.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from our own static files (drf-spectacular-sidecar), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.common.schema.document_errors_and_tags",
    ],
}

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = False

# --- security headers (Django's defaults, stated so that they are not lost; HSTS is in production.py) ------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# --- limits ---------------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
# JSON bodies nested deeper than this are a 400 malformed_body (the deepest body of the API nests 4).
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=32)
MARKR_MAX_BYTES = env.int("MARKR_MAX_BYTES", default=20 * 1024 * 1024)
HANDIN_MAX_BYTES = env.int("HANDIN_MAX_BYTES", default=3 * 1024 * 1024)
HANDIN_RETENTION_DAYS = env.int("HANDIN_RETENTION_DAYS", default=3)
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=200 * 1024 * 1024)
# Connections that write one subject_grades import at once, each for its own share of the students, while the
# job's thread reads the file (1: one connection, reading and writing in turn). docs/benchmarks.md, B6.
IMPORT_GRADE_WRITERS = env.int("IMPORT_GRADE_WRITERS", default=2)

# --- files ----------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / ".state" / "media"))
MEDIA_URL = "/media/"
# "s3" (SeaweedFS locally, any S3 in production) or "local" for `make run`.
FILE_STORAGE = env.str("FILE_STORAGE", default="s3")
S3 = {
    "ENDPOINT_URL": env.str("S3_ENDPOINT_URL", default="http://127.0.0.1:58333"),
    # Presigned URLs sign the Host header, so they are made for the address clients use.
    "PUBLIC_ENDPOINT_URL": env.str("S3_PUBLIC_ENDPOINT_URL", default="http://127.0.0.1:58333"),
    # Local development fallbacks, which production refuses; make up and make test use generated keys.
    "ACCESS_KEY": env.str("S3_ACCESS_KEY", default="") or "exams-access",
    "SECRET_KEY": env.str("S3_SECRET_KEY", default="") or "exams-secret-key-for-local-only",
    "BUCKET": env.str("S3_BUCKET", default="exams"),
    "REGION": env.str("S3_REGION", default="us-east-1"),
}
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- i18n, logging --------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
# The admin shows times in this zone (the API always speaks UTC).
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# structlog as the one logger: every line is one JSON object (core/common/logging.py).
LOGGING = logging_config(level=LOG_LEVEL)
structlog_configure()

TEST_RUNNER = "core.test_runner.CountingTestRunner"

if FILE_STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "endpoint_url": S3["ENDPOINT_URL"],
            "access_key": S3["ACCESS_KEY"],
            "secret_key": S3["SECRET_KEY"],
            "bucket_name": S3["BUCKET"],
            "region_name": S3["REGION"],
            "addressing_style": "path",
            "signature_version": "s3v4",
            "querystring_auth": True,
            "querystring_expire": 600,
            "file_overwrite": False,
            "default_acl": None,
        },
    }

# --- the student site, and a Content-Security-Policy on every page (docs/site.md) -------------
INSTALLED_APPS += ["csp", "drf_spectacular_sidecar", "core.site"]
# Right after SecurityMiddleware, so that every response gets the header, the error pages included.
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
# The site picks its language from the browser's Accept-Language (core/site/views.py); the API stays English.
LANGUAGES = [("en", "English"), ("ar", "العربية")]
# Scripts and styles come only from this origin: no inline script or style, no eval, no CDN. Question images
# may come from the file store's public address (presigned S3 URLs).
_CSP_IMAGES = ["'self'", "data:"]
if FILE_STORAGE == "s3":
    _CSP_IMAGES.append(S3["PUBLIC_ENDPOINT_URL"].rstrip("/"))
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": _CSP_IMAGES,
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Swagger UI's files come from drf-spectacular-sidecar (served by us), and its start-up script from a URL of
# its own (SpectacularSwaggerSplitView), so /api/docs/ needs no inline script and no CDN either.
SPECTACULAR_SETTINGS |= {"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR"}

# --- observability (docs/observability.md) ---------------------------------------------------
# /metrics answers only these client addresses (and networks); behind Nginx both the proxy and the client
# NUM_PROXIES hops from the right of X-Forwarded-For must be in the list.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
# Off: no HTTP, answer-save or store-write metrics are recorded (the bench compares both).
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=True)
# --- the doctors' admin -----------------------------------------------------------------------
PLATFORM_NAME = env.str("PLATFORM_NAME", default="Exams platform")
# Where "View site" and a student who tries the admin are sent.
STUDENT_SITE_URL = env.str("STUDENT_SITE_URL", default="/app/")
# django-import-export: formulas escaped in every export, and the file between "preview" and "confirm" kept in
# the shared file store (S3), not on one web instance's disk.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
IMPORT_EXPORT_TMP_STORAGE_CLASS = "import_export.tmp_storages.MediaStorage"
# --- the answer save's lean road (core/exams/hot_path.py) -------------------------------------
# Off: every PUT of answers goes through DRF's full road; what the lean road earns is measured in
# docs/decisions/0017-lean-put.md.
EXAMS_LEAN_PUT = env.bool("EXAMS_LEAN_PUT", default=True)
