from __future__ import annotations

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView


class LoginClientThrottle(SimpleRateThrottle):
    """Login attempts per client address (the one Nginx saw, not one a client wrote)."""

    scope = "login_ip"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginEmailThrottle(SimpleRateThrottle):
    """Login attempts per target email, from any number of addresses."""

    scope = "login_email"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        email = request.data.get("email") if hasattr(request.data, "get") else None
        if not email:
            return None
        return self.cache_format % {"scope": self.scope, "ident": str(email).strip().lower()[:254]}
