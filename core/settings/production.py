"""Production settings: the base settings, hardened. They refuse to start without real secrets."""

from django.core.exceptions import ImproperlyConfigured

from core.settings.base import *  # noqa: F403
from core.settings.base import SECRET_KEY, SIMPLE_JWT, env

_WEAK_PREFIX = "dev-only-"
if not SECRET_KEY or SECRET_KEY.startswith(_WEAK_PREFIX) or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be set to a random value of at least 50 characters.")
if SIMPLE_JWT["SIGNING_KEY"].startswith(_WEAK_PREFIX) or len(SIMPLE_JWT["SIGNING_KEY"]) < 32:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must be set to a random value of at least 32 characters.")
if SIMPLE_JWT["SIGNING_KEY"] == SECRET_KEY:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must differ from SECRET_KEY.")

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
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
