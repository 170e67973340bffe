"""Failure throttles: count only what failed (a wrong password, an unknown code), in Redis so that every web
instance shares the counts, and refuse further tries of that kind once a limit is reached, until the window that
the first failure opened has passed. Successes are never counted, so a busy classroom behind one address is not
throttled for logging in (docs/security.md).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from redis.exceptions import RedisError
from rest_framework.exceptions import Throttled
from rest_framework.request import Request

from core.common.clients import client_address

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


@dataclass(frozen=True, slots=True)
class FailureLimit:
    scope: str
    limit: int
    window_seconds: int

    @classmethod
    def parse(cls, scope: str, rate: str) -> FailureLimit:
        """`"10/min"`, `"60/hour"`, `"5/10min"` (a count of failures per window)."""
        count, _, period = rate.partition("/")
        digits = "".join(ch for ch in period if ch.isdigit())
        unit = period[len(digits) :].strip().lower()
        if unit not in _PERIODS or not count.strip().isdigit():
            raise ValueError(f"Not a failure rate: {rate!r} (expected e.g. 10/min, 60/hour)")
        return cls(scope=scope, limit=int(count), window_seconds=int(digits or 1) * _PERIODS[unit])


def _key(limit: FailureLimit, ident: str) -> str:
    digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return cache.make_key(f"failures:{limit.scope}:{digest}")


def _client() -> Any:
    return cache._cache.get_client(write=True)  # type: ignore[attr-defined]  # Django's redis-py client


def failures_wait(*, limit: FailureLimit, ident: str) -> int | None:
    """Seconds until `ident` may try again, or None when it is below the limit. A cache that is down
    throttles nobody (it is logged)."""
    try:
        pipe = _client().pipeline(transaction=False)
        key = _key(limit, ident)
        pipe.get(key)
        pipe.ttl(key)
        count, ttl = pipe.execute()
    except RedisError:
        logger.warning("cache down: failure throttle %s not checked", limit.scope)
        return None
    if count is None or int(count) < limit.limit:
        return None
    return max(int(ttl), 1)


def failure_record(*, limit: FailureLimit, ident: str) -> None:
    """Count one failure; the first failure of a window opens it."""
    try:
        pipe = _client().pipeline(transaction=False)
        key = _key(limit, ident)
        pipe.set(key, 0, ex=limit.window_seconds, nx=True)
        pipe.incr(key)
        pipe.execute()
    except RedisError:
        logger.warning("cache down: failure for %s not counted", limit.scope)


def failures_clear(*, limit: FailureLimit, ident: str) -> None:
    try:
        _client().delete(_key(limit, ident))
    except RedisError:
        logger.warning("cache down: failures for %s not cleared", limit.scope)


def code_guess_limit() -> FailureLimit:
    return FailureLimit.parse("code_client", settings.CODE_FAILURES_PER_CLIENT)


class CodeGuessThrottled:
    """For views whose path holds a bearer code (upload and verification codes): a client whose unknown codes
    (404) reached CODE_FAILURES_PER_CLIENT is answered 429 until its window passes, known codes included."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        wait = failures_wait(limit=code_guess_limit(), ident=client_address(request))
        if wait is not None:
            raise Throttled(wait=wait, detail=f"Too many unknown codes from this address; try again in {wait} s.")
        super().initial(request, *args, **kwargs)  # type: ignore[misc]

    def finalize_response(self, request: Request, response: HttpResponse, *args: Any, **kwargs: Any) -> Any:
        if response.status_code == 404:
            failure_record(limit=code_guess_limit(), ident=client_address(request))
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
