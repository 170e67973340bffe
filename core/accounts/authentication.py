from __future__ import annotations

from typing import cast

from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework_simplejwt import authentication as simplejwt
from rest_framework_simplejwt.tokens import Token

from core.accounts.models import ApiKey, User
from core.accounts.selectors import api_key_authenticate
from core.accounts.tokens import token_session_check

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


class _SessionChecked:
    """A validated JWT whose session was ended (core/accounts/revocation.py) is refused with 401."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = super().get_validated_token(raw_token)  # type: ignore[misc]
        token_session_check(token.payload)
        return token


class JWTAuthentication(_SessionChecked, simplejwt.JWTAuthentication):
    """simplejwt's bearer JWT (loads the user), with ended sessions refused."""


class JWTStatelessAuthentication(_SessionChecked, simplejwt.JWTStatelessUserAuthentication):
    """simplejwt's bearer JWT without the user query (the role rides in the token), with ended sessions
    refused: one Redis GET. The lean answer road checks the same rule in its own MGET instead."""


def request_user(request: Request | HttpRequest) -> User:
    """The caller of a view (or an admin page) that has already refused anonymous requests, typed as a User."""
    return cast(User, request.user)
