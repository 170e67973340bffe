"""The answer save's lean road: PUT /api/exams/{id}/answers without DRF's machinery, behind a switch.

Most saves are the same well-formed request: a student's bearer token, a JSON body of a few answers, JSON
back. For that request this module does what DRF's road (core/exams/apis.py, AnswersApi.put) does, in fewer
steps: it checks the token as simplejwt does (and remembers a token it has checked), parses the body as DRF's
JSON parser does, calls the same service, and renders the body with DRF's own renderer. Anything else - no
or a bad token, another role, another content type or Accept, a body that does not parse or has the wrong
shape, an ended session - returns None and goes down DRF's road, which gives exactly the error it always gave.
core/exams/tests/test_answers_lean.py holds the two roads to the same answers, headers included. The road is
served by LeanAnswersMiddleware, before the session, CSRF, authentication and messages middleware that a
bearer-token save never needs. The save's cache entries are read by this module's own Redis reader (the end of
this file) while the road is on.

EXAMS_LEAN_PUT=false (settings) sends every save down DRF's road, and the cache reads through Django's cache
API. What the road earns, measured with it on and off in the same run: docs/decisions/0017-lean-put.md.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import threading
import time
from typing import Any, cast

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.handlers.exception import response_for_exception
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication

from core.accounts.revocation import SessionEnded, session_started
from core.answers.store import SaveOrigin
from core.common import metrics
from core.common.errors import api_exception_handler
from core.common.permissions import STUDENT


class AnswerItemSerializer(serializers.Serializer):
    question = serializers.IntegerField()
    choices = serializers.ListField(child=serializers.IntegerField())


@extend_schema_field(AnswerItemSerializer(many=True))
class AnswersField(serializers.Field):
    """`[{"question": int, "choices": [int, ...]}, ...]` parsed by hand, on both roads: nested serializers
    cost more than the rest of the request. Only the shape is checked here (400); whether the answers fit the
    exam is the service's business (422)."""

    def to_internal_value(self, data: Any) -> list[tuple[int, list[int]]]:
        if not isinstance(data, list):
            raise serializers.ValidationError("Expected a list of {question, choices} objects.")
        parsed: list[tuple[int, list[int]]] = []
        errors: dict[str, list[str]] = {}
        for index, item in enumerate(data):
            question = item.get("question") if isinstance(item, dict) else None
            choices = item.get("choices") if isinstance(item, dict) else None
            if not isinstance(item, dict):
                errors[str(index)] = ["Expected an object with question and choices."]
            elif type(question) is not int:
                errors[str(index)] = ["question must be an integer id."]
            elif not isinstance(choices, list) or any(type(choice) is not int for choice in choices):
                errors[str(index)] = ["choices must be a list of integer ids."]
            else:
                parsed.append((question, choices))
        if errors:
            raise serializers.ValidationError(errors)
        return parsed

    def to_representation(self, value: Any) -> Any:
        return value


_ident = BaseThrottle()


def save_origin(request: HttpRequest | Request) -> SaveOrigin:
    """What the save history records of where a save came from, on both roads: the client's address as the
    throttles see it (NUM_PROXIES entries from the right of X-Forwarded-For), and its user agent."""
    client_ip = _ident.get_ident(cast(Request, request)) or ""  # reads request.META only, as on a Django request
    return SaveOrigin(client_ip=client_ip, user_agent=request.META.get("HTTP_USER_AGENT", ""))


# --- the lean road ----------------------------------------------------------------------------

_jwt_auth = JWTStatelessUserAuthentication()
_renderer = JSONRenderer()
_answers_field = AnswersField()
# Access tokens already checked in this process (signature, audience, issuer, type, jti, user claim, role):
# the token's exact text -> (student id, the moment it stops being valid, when its session started). The same
# bytes carry the same signature, so only the expiry needs checking again. Bounded; emptied when the JWT
# settings change.
_checked_tokens: dict[str, tuple[int, float, float]] = {}
_CHECKED_TOKENS_MAX = 20_000
_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"})
_ACCEPT_JSON = frozenset({"*/*", "application/*", "application/json"})


@receiver(setting_changed)
def _jwt_settings_changed(*, setting: str, **_: object) -> None:
    if setting == "SIMPLE_JWT":
        _checked_tokens.clear()


def _student_of(request: HttpRequest) -> tuple[int, float] | None:
    """The student id of a valid student access token in the Authorization header and when its session
    started, or None for anything else (which DRF's JWT authentication and IsStudent then judge and word).
    Whether the session was ended is judged per request, in the save's cache round trip (services.answers_save)."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if not header:
        return None
    parts = header.split()
    if len(parts) != 2 or parts[0] != "Bearer":
        return None
    raw = parts[1]
    checked = _checked_tokens.get(raw)
    if checked is None:
        try:
            token = _jwt_auth.get_validated_token(raw.encode("iso-8859-1"))
            user = _jwt_auth.get_user(token)
        except Exception:  # DRF's road reports it
            return None
        if getattr(user, "role", None) != STUDENT or getattr(token, "is_api_key", False):
            return None
        try:
            student_id = int(cast(Any, user).id)  # simplejwt's TokenUser: the token's user_id claim
            valid_until = float(token.payload["exp"]) + token.get_token_backend().get_leeway().total_seconds()
        except (KeyError, TypeError, ValueError):
            return None
        if len(_checked_tokens) >= _CHECKED_TOKENS_MAX:
            _checked_tokens.clear()
        checked = _checked_tokens[raw] = (student_id, valid_until, session_started(token.payload))
    student_id, valid_until, started = checked
    if time.time() >= valid_until:  # expired, as PyJWT and simplejwt judge it (exp <= now - leeway)
        _checked_tokens.pop(raw, None)
        return None
    return student_id, started


def _strict_constant(value: str) -> Any:
    raise ValueError(f"{value} is not valid JSON")  # DRF's parser refuses NaN and Infinity too


def _answers_of(request: HttpRequest) -> list[tuple[int, list[int]]] | None:
    """The parsed answers when the body is JSON of the right shape, within the size limit, and the client
    takes JSON back; None otherwise."""
    meta = request.META
    if meta.get("CONTENT_TYPE", "").lower() not in _JSON_TYPES or "format=" in meta.get("QUERY_STRING", ""):
        return None
    accept = meta.get("HTTP_ACCEPT")
    if accept:
        offered = [item.strip() for item in accept.split(",")]
        if any(";" in item for item in offered) or _ACCEPT_JSON.isdisjoint(offered):
            return None
    try:
        length = int(meta.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if length <= 0 or (limit is not None and length > limit):
        return None
    try:
        data = json.loads(request.body.decode("utf-8"), parse_constant=_strict_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError; nesting: the parser's 400
        return None
    if not isinstance(data, dict) or "answers" not in data:
        return None
    try:
        return _answers_field.to_internal_value(data["answers"])
    except serializers.ValidationError:
        return None


def _json_response(view: APIView, body: bytes, status_code: int) -> HttpResponse:
    response = HttpResponse(body, status=status_code, content_type="application/json")
    response["Allow"] = ", ".join(view.allowed_methods)
    return response


def answers_put_lean(*, view: APIView, request: HttpRequest, exam_id: int) -> HttpResponse | None:
    """PUT without DRF's Request, negotiation and serializers: the same checks and the same service, the same
    body and status for every outcome. None sends the request down DRF's road instead; so does the switch
    (EXAMS_LEAN_PUT=false)."""
    if not settings.EXAMS_LEAN_PUT:
        return None
    checked = _student_of(request)
    if checked is None:
        return None
    student_id, session = checked
    answers = _answers_of(request)
    if answers is None:
        return None
    request.observed_user_id = student_id  # type: ignore[attr-defined]  # for the request's log line
    # Imported here: services imports caching, which imports this module's reader.
    from core.exams import services

    now = timezone.now()
    try:
        saved = services.answers_save(
            student_id=student_id,
            exam_id=exam_id,
            answers=answers,
            now=now,
            origin=save_origin(request),
            session_started=session,
        )
    except SessionEnded:  # DRF's road refuses it, with its 401 and WWW-Authenticate
        return None
    except Exception as exc:  # rendered as DRF's handler renders it, or raised on
        handled = api_exception_handler(exc, {"view": view, "args": (), "kwargs": {"exam_id": exam_id}})
        if handled is None:
            raise
        body = handled.data if isinstance(handled.data, dict) else {"detail": handled.data}
        body.setdefault("server_time", timezone.now())
        return _json_response(view, _renderer.render(body), handled.status_code)
    return _json_response(view, _renderer.render({"saved": saved, "server_time": now}), 200)


# --- served before the middleware a bearer-token save never needs -----------------------------

_ANSWERS_URL_NAME = "exam-answers"


class LeanAnswersMiddleware:
    """Serves the lean road before the session, CSRF, authentication, messages and device-cookie middleware.

    A save the lean road takes carries a bearer token and no cookie is read or set for it, so what those
    middleware do per request (a lazy session, a lazy user, a message store, a CSRF cookie check on a
    csrf_exempt view) is only bookkeeping. Placed after RequestId, RequestLog, Security, CSP and CORS, so
    the request id, the request's log line and metrics, and every security header stay; the two headers the
    skipped middleware would add to such a response (Content-Length by CommonMiddleware, X-Frame-Options by
    XFrameOptionsMiddleware) are added here. An error nobody handled becomes the same JSON 500 (handler500),
    recorded the same way. Anything the lean road declines goes down the whole chain, unchanged.
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.x_frame_options = getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "PUT" and settings.EXAMS_LEAN_PUT and request.path_info.endswith("/answers"):
            response = self._lean(request)
            if response is not None:
                return response
        return cast(HttpResponse, self.get_response(request))

    def _lean(self, request: HttpRequest) -> HttpResponse | None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return None
        if match.url_name != _ANSWERS_URL_NAME:
            return None
        view_func = cast(Any, match.func)
        view = view_func.view_class(**view_func.view_initkwargs)
        view.setup(request, *match.args, **match.kwargs)
        request.resolver_match = match
        try:
            response = answers_put_lean(view=view, request=request, exam_id=match.kwargs["exam_id"])
        except Exception as exc:  # recorded and answered as Django's handler does (handler500: the JSON 500)
            response = response_for_exception(request, exc)
        if response is None:
            return None
        if settings.METRICS_ENABLED:
            metrics.ANSWER_SAVES.labels(metrics.answer_save_outcome(response.status_code)).inc()
        if "X-Frame-Options" not in response:
            response["X-Frame-Options"] = self.x_frame_options
        if "Content-Length" not in response:
            response["Content-Length"] = str(len(response.content))
        return response


# --- the hot read: the save's cache entries in one MGET ----------------------------------------
# Django's RedisCache builds a new redis-py client object on every call, which costs more than the round trip:
# one process-wide client sends one MGET of the same keys, made by the cache's own `make_key`, and unpickles the
# values the way the cache wrote them. Used by core/exams/caching.py while EXAMS_LEAN_PUT is on.

_client_lock = threading.Lock()
_client: tuple[int, redis.Redis] | None = None  # (pid it was made in, client)
# The exam keys last read, by cache key: (the pickled bytes, the value they hold). An exam key is frozen, so the
# same bytes are the same key: unpickled once per process and version, not once per save.
_decoded_keys: dict[str, tuple[bytes, Any]] = {}
_DECODED_KEYS_MAX = 256


def _hot_client() -> redis.Redis:
    """One redis-py client per process, on the default cache's server and options; made again after a fork."""
    global _client
    made = _client
    pid = os.getpid()
    if made is not None and made[0] == pid:
        return made[1]
    with _client_lock:
        if _client is None or _client[0] != pid:
            conf = settings.CACHES["default"]
            location = conf["LOCATION"]
            # The first server, where the cache writes (a list, or a string split as RedisCache splits it).
            location = location[0] if isinstance(location, (list, tuple)) else re.split("[;,]", location)[0]
            options = {k: v for k, v in conf.get("OPTIONS", {}).items() if k.startswith("socket_")}
            _client = (pid, redis.Redis(connection_pool=redis.ConnectionPool.from_url(location, **options)))
        return _client[1]


def _reset_hot_client() -> None:
    global _client
    with _client_lock:
        made, _client = _client, None
    _decoded_keys.clear()
    if made is not None and made[0] == os.getpid():
        made[1].connection_pool.disconnect()


@receiver(setting_changed)
def _cache_settings_changed(*, setting: str, **_: object) -> None:
    if setting in ("CACHES", "REDIS_URL"):
        _reset_hot_client()


def _loads(raw: bytes) -> Any:
    # What Django's RedisSerializer does: integers are stored bare, everything else pickled.
    try:
        return int(raw)
    except ValueError:
        return pickle.loads(raw)  # noqa: S301 - our own cache, written by cache.set


def _exam_key_loads(name: str, raw: bytes) -> Any:
    seen = _decoded_keys.get(name)
    if seen is not None and seen[0] == raw:
        return seen[1]
    value = _loads(raw)
    if len(_decoded_keys) >= _DECODED_KEYS_MAX:
        _decoded_keys.clear()
    _decoded_keys[name] = (raw, value)
    return value


def entries_read(key_name: str, window_name: str, void_name: str | None = None) -> tuple[Any, Any, Any]:
    """The exam key, attempt window and (with `void_name`) "sessions void before" entries in one MGET, as
    `cache.get_many` would give them (None for a miss). Raises RedisError when the cache is down."""
    names = [cache.make_key(key_name), cache.make_key(window_name)]
    if void_name is not None:
        names.append(cache.make_key(void_name))
    # The client never decodes responses, so values are the bytes Django's cache wrote.
    raws = cast(list[bytes | None], _hot_client().mget(names))
    raw_key, raw_window = raws[0], raws[1]
    key = None if raw_key is None else _exam_key_loads(names[0], raw_key)
    window = None if raw_window is None else _loads(raw_window)
    void_before = None if len(raws) < 3 or raws[2] is None else _loads(cast(bytes, raws[2]))
    return key, window, void_before
