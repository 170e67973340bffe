"""Request ids, and the API's error shape for errors raised outside DRF views (404, 405, 500)."""

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch
from django.utils.functional import SimpleLazyObject, empty

from core.common import metrics
from core.common.errors import error_body, server_error_detail

_HTML_PREFIXES = ("/admin/", "/api/docs/")
_CODES = {
    400: ("bad_request", "The request is not valid."),
    403: ("forbidden", "You are not allowed to do this."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed here."),
    413: ("payload_too_large", "The request body is too large."),
    500: ("server_error", "An unexpected error happened; it has been recorded."),
}


# Nginx's $request_id is 32 hex digits; a caller's own id is kept when it is a plain token of up to 64.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestIdMiddleware:
    """Takes Nginx's X-Request-ID (or makes one), logs with it, and echoes it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request.META.get("HTTP_X_REQUEST_ID", "")
        if not _REQUEST_ID.fullmatch(request_id):  # absent, or not an id a log line can safely carry
            request_id = uuid.uuid4().hex
        request.META["HTTP_X_REQUEST_ID"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.clear_contextvars()
        response["X-Request-ID"] = request_id
        return response


def request_user_id(request: HttpRequest) -> int | None:
    """The id of the user the request was authenticated as, without loading anyone: DRF sets a concrete
    user on the Django request; the lean answer road sets `observed_user_id`; a session user is read only
    when something already read it."""
    seen = getattr(request, "observed_user_id", None)
    if seen is not None:
        return int(seen)
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = user._wrapped  # type: ignore[attr-defined]
        if user is empty:
            return None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        return int(user.id)
    except (TypeError, ValueError):
        return None


def request_route(match: ResolverMatch | None) -> str:
    """The URL pattern that answered ("/api/exams/<int:exam_id>/answers"), never the raw path."""
    if match is None or not match.route:
        return "unmatched"
    return "/" + match.route.lstrip("^").rstrip("$")


class RequestLogMiddleware:
    """One JSON line per request (route, status, duration, user id, exam id; the request id is bound by
    RequestIdMiddleware), and the HTTP metrics (`exams_http_requests_total`, `..._duration_seconds`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.metrics = settings.METRICS_ENABLED
        self.log = structlog.get_logger("exams.request")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        duration = time.perf_counter() - started
        match = request.resolver_match
        route = request_route(match)
        status = response.status_code
        if self.metrics:
            metrics.HTTP_REQUESTS.labels(route, request.method or "", str(status)).inc()
            metrics.HTTP_DURATION.labels(route).observe(duration)
        fields: dict[str, Any] = {
            "method": request.method,
            "route": route,
            "status": status,
            "duration_ms": round(duration * 1000, 2),
            "user_id": request_user_id(request),
            "exam_id": match.kwargs.get("exam_id") if match is not None else None,
        }
        if status >= 500:
            self.log.error("request", **fields)
        else:
            self.log.info("request", **fields)
        return response


class JsonErrorMiddleware:
    """Turns Django's HTML error pages into the API's JSON error shape, outside the admin."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or request.path.startswith(_HTML_PREFIXES):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        code, detail = _CODES.get(response.status_code, ("error", "The request failed."))
        if response.status_code == 500:
            detail = server_error_detail(request)
        converted = HttpResponse(
            json.dumps(error_body(code, detail)), status=response.status_code, content_type="application/json"
        )
        for header in ("Allow", "Retry-After", "X-Request-ID"):
            if header in response:
                converted[header] = response[header]
        # Django logs each 4xx/5xx once, unless the response it sees is a new one: this one was logged already.
        converted._has_been_logged = getattr(response, "_has_been_logged", False)  # type: ignore[attr-defined]
        return converted
