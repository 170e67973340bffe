"""Request ids, and the API's error shape for errors raised outside DRF views (404, 405, 500)."""

import json
import uuid
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse

from core.common.errors import error_body

_HTML_PREFIXES = ("/admin/", "/api/docs/")
_CODES = {
    400: ("bad_request", "The request is not valid."),
    403: ("forbidden", "You are not allowed to do this."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed here."),
    413: ("payload_too_large", "The request body is too large."),
    500: ("server_error", "An unexpected error happened; it has been recorded."),
}


class RequestIdMiddleware:
    """Takes Nginx's X-Request-ID (or makes one), logs with it, and echoes it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request.META.get("HTTP_X_REQUEST_ID") or uuid.uuid4().hex
        request.META["HTTP_X_REQUEST_ID"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.clear_contextvars()
        response["X-Request-ID"] = request_id
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
        converted = HttpResponse(
            json.dumps(error_body(code, detail)), status=response.status_code, content_type="application/json"
        )
        for header in ("Allow", "Retry-After", "X-Request-ID"):
            if header in response:
                converted[header] = response[header]
        return converted
