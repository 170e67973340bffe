from __future__ import annotations

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from core.accounts.models import ApiKey, User
from core.accounts.selectors import api_key_authenticate

API_KEY_HEADER = "HTTP_X_API_KEY"


class ApiKeyAuthentication(BaseAuthentication):
    """`X-API-Key: <key>`: a machine acting for the doctor who made the key."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        raw = request.META.get(API_KEY_HEADER)
        if not raw:
            return None
        key = api_key_authenticate(raw=raw)
        if key is None:
            raise AuthenticationFailed("The API key is not valid, or it has been revoked.")
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        # Makes an unauthenticated request a 401 (with this challenge) rather than a 403.
        return 'Bearer realm="api"'
