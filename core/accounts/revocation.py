"""Ending a person's sessions everywhere, at once, even on the answer-saving hot path
(docs/decisions/0012-revocation.md).

A session starts at a login: its refresh token, every token rotated from it and every access token made from
them carry the login's time in the `auth_time` claim (milliseconds precision). Ending a user's sessions writes
one Redis entry, "sessions that started before T are void", and blacklists their outstanding refresh tokens in
PostgreSQL (which outlives Redis). The one rule, `session_is_void`, is applied by:
- DRF's JWT authentication (both classes in `authentication.py`), refresh and verify: one Redis GET;
- the lean answer road: the entry comes in the MGET the hot path already makes (core/exams/caching.py), so a
  warm save still makes one Redis round trip and no PostgreSQL query.
Sessions end when a user is deactivated, deleted, changes password (receivers in `receivers.py`, so the admin
counts), or logs out everywhere (`POST /api/auth/logout-all`, and the admin's action).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

SESSION_CLAIM = "auth_time"
SCHEMA = 1


class SessionEnded(Exception):
    """The token belongs to a session that was ended (deactivation, deletion, password change, logout-all)."""

    detail = "This session has ended (logged out everywhere, deactivated or password changed); log in again."


def void_before_name(user_id: int | str) -> str:
    return f"accounts:v{SCHEMA}:sessions-void-before:{user_id}"


def session_started(payload: dict[str, Any]) -> float:
    """When the token's session started, in seconds: `auth_time`, or for a token made before the claim existed
    its `iat`, which is rounded down, so such a token is judged as early as it can have been made."""
    value = payload.get(SESSION_CLAIM, payload.get("iat", 0))
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def session_is_void(*, started: float, void_before_ms: Any) -> bool:
    """The rule: a session that started before the user's "void before" moment is void. `void_before_ms` is the
    cached value (integer milliseconds since the epoch, one past the millisecond the sessions were ended in, so
    a token of that same millisecond is void too) or None when the user never ended their sessions."""
    if void_before_ms is None:
        return False
    try:
        return round(started * 1000) < int(void_before_ms)
    except (TypeError, ValueError):
        return False


def entry_ttl_seconds() -> int:
    # Older sessions cannot hold a token that is still valid: every refresh token of one has expired.
    jwt = settings.SIMPLE_JWT
    return int((jwt["REFRESH_TOKEN_LIFETIME"] + jwt["ACCESS_TOKEN_LIFETIME"]).total_seconds()) + 60


def void_before_get(*, user_id: int | str) -> Any:
    """The cached moment (ms) before which the user's sessions are void, or None. Raises RedisError."""
    return cache.get(void_before_name(user_id))


def session_check(*, user_id: int | str, started: float) -> None:
    """Raise SessionEnded when the session is void. With Redis down, falls back to PostgreSQL: a deactivated
    or deleted user is still refused (a logout-all is then known to the refresh tokens' blacklist only)."""
    try:
        void_before = void_before_get(user_id=user_id)
    except RedisError:
        logger.warning("cache down: checking user %s's session in the database", user_id)
        session_check_without_cache(user_id=user_id)
        return
    if session_is_void(started=started, void_before_ms=void_before):
        raise SessionEnded(SessionEnded.detail)


def session_check_without_cache(*, user_id: int | str) -> None:
    from core.accounts.models import User

    if not User.objects.filter(pk=user_id, is_active=True).exists():
        raise SessionEnded(SessionEnded.detail)
