"""JWT login, refresh and logout on top of simplejwt.

Refresh tokens rotate, and a used one is refused. The blacklisting is a plain INSERT into a unique
column, so when the same refresh token is presented twice at once exactly one request wins.
"""

from __future__ import annotations

import time
from typing import Any, cast

from django.db import IntegrityError, transaction
from rest_framework import serializers
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import (
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
    TokenVerifySerializer,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, UntypedToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from core.accounts.models import User
from core.accounts.revocation import SESSION_CLAIM, SessionEnded, session_check, session_started


def user_payload(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "full_name": user.full_name,
        "student_number": user.student_number,
    }


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField(allow_null=True)
    role = serializers.CharField()
    full_name = serializers.CharField()
    student_number = serializers.CharField(allow_null=True)


class SingleUseRefreshToken(RefreshToken):
    def blacklist(self) -> BlacklistedToken:
        """Blacklist this token, or raise TokenError if another request already did."""
        outstanding, _ = OutstandingToken.objects.get_or_create(
            jti=self.payload[api_settings.JTI_CLAIM],
            defaults={
                "user_id": self.payload.get(api_settings.USER_ID_CLAIM),
                "created_at": self.current_time,
                "token": str(self),
                "expires_at": datetime_from_epoch(self.payload["exp"]),
            },
        )
        try:
            with transaction.atomic():
                return BlacklistedToken.objects.create(token=outstanding)
        except IntegrityError as exc:
            raise TokenError("Token is blacklisted") from exc

    @classmethod
    def for_user(cls, user: User) -> SingleUseRefreshToken:  # type: ignore[override]
        token = super().for_user(user)
        # The role rides in the token, so the answer-saving hot path needs no user query.
        token["role"] = user.role
        # When the session started; rotated and access tokens keep it (core/accounts/revocation.py).
        token[SESSION_CLAIM] = int(time.time() * 1000) / 1000
        return token  # type: ignore[return-value]


class LoginSerializer(TokenObtainPairSerializer):
    token_class = SingleUseRefreshToken
    default_error_messages = {"no_active_account": "The email or password is not correct."}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs[self.username_field] = str(attrs[self.username_field]).strip().lower()
        data: dict[str, Any] = {**super().validate(attrs)}
        data["user"] = user_payload(cast(User, self.user))  # set by the validation above, or it raised
        return data


def token_session_check(payload: dict[str, Any]) -> None:
    """Raise InvalidToken (401) when the token's session was ended."""
    user_id = payload.get(api_settings.USER_ID_CLAIM)
    if user_id is None:
        return
    try:
        session_check(user_id=user_id, started=session_started(payload))
    except SessionEnded as exc:
        raise InvalidToken(SessionEnded.detail) from exc


class RefreshSerializer(TokenRefreshSerializer):
    token_class = SingleUseRefreshToken
    refresh = serializers.CharField(write_only=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        token = self.token_class(attrs["refresh"])
        token_session_check(token.payload)
        user_id = token.payload.get(api_settings.USER_ID_CLAIM)
        if user_id is None or not User.objects.filter(pk=user_id).exists():
            raise InvalidToken("The user of this token no longer exists.")  # simplejwt would answer 500
        return super().validate(attrs)


class VerifySerializer(TokenVerifySerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[Any, Any]:
        data = super().validate(attrs)
        token_session_check(UntypedToken(attrs["token"]).payload)
        return data
