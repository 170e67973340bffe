"""Production settings: the base settings, hardened. They refuse to start without real secrets.

Refused (ImproperlyConfigured at import, so wsgi, asgi, celery and manage.py all stop): a `SECRET_KEY` or
`JWT_SIGNING_KEY` that is missing, a `dev-only-` default, too short or of too few distinct characters, or
equal to another secret; and, with `FILE_STORAGE=s3`, file-store keys that are the public local defaults,
too short, repetitive, or equal to each other or to another secret. Tested in
core/common/tests/test_secrets.py.
"""

from django.core.exceptions import ImproperlyConfigured

from core.settings.base import *  # noqa: F403
from core.settings.base import DEV_KEY_PREFIX, FILE_STORAGE, S3, SECRET_KEY, SIMPLE_JWT, env

# The file-store keys base.py falls back to, which earlier versions of docker-compose.yml and .env.example
# also carried: anyone who has read the repository knows them.
PUBLIC_S3_KEYS = frozenset({"exams-access", "exams-secret-key-for-local-only"})
# A random value of the lengths below has far more distinct characters than this; "aaaa…" or "abab…" has not.
MIN_DISTINCT_CHARACTERS = 8


def _refuse_weak(name: str, value: str, *, min_length: int) -> None:
    if not value or value.startswith(DEV_KEY_PREFIX) or value in PUBLIC_S3_KEYS or len(value) < min_length:
        raise ImproperlyConfigured(f"{name} must be set to a random value of at least {min_length} characters.")
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        raise ImproperlyConfigured(f"{name} is too repetitive to be random; generate a new one.")


_refuse_weak("SECRET_KEY", SECRET_KEY, min_length=50)
_refuse_weak("JWT_SIGNING_KEY", SIMPLE_JWT["SIGNING_KEY"], min_length=32)
if SIMPLE_JWT["SIGNING_KEY"] == SECRET_KEY:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must differ from SECRET_KEY.")
if FILE_STORAGE == "s3":
    _refuse_weak("S3_ACCESS_KEY", S3["ACCESS_KEY"], min_length=16)
    _refuse_weak("S3_SECRET_KEY", S3["SECRET_KEY"], min_length=32)
    if S3["SECRET_KEY"] == S3["ACCESS_KEY"]:
        raise ImproperlyConfigured("S3_SECRET_KEY must differ from S3_ACCESS_KEY.")
    if S3["SECRET_KEY"] in (SECRET_KEY, SIMPLE_JWT["SIGNING_KEY"]):
        raise ImproperlyConfigured("S3_SECRET_KEY must differ from SECRET_KEY and JWT_SIGNING_KEY.")

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Off only where the site is served over plain HTTP on loopback (`make up`); on in every real deployment.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Nginx answers /health on plain HTTP for the load balancer's checks.
SECURE_REDIRECT_EXEMPT = [r"^health$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
