"""One error shape for every error: {"error": code, "detail": sentence, "fields"?: {...}}."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.signals import got_request_exception
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A rule of the product was broken. Services raise subclasses; the API maps them to HTTP."""

    status: int = 400
    code: str = "bad_request"
    detail: str = "The request cannot be processed."

    def __init__(self, detail: str | None = None, *, fields: dict[str, list[str]] | None = None) -> None:
        self.detail = detail or self.detail
        self.fields = fields
        super().__init__(self.detail)


class NotFound(DomainError):
    status, code, detail = 404, "not_found", "Not found."


class Conflict(DomainError):
    status, code, detail = 409, "conflict", "The request conflicts with the current state."


class Invalid(DomainError):
    status, code, detail = 422, "validation_error", "The content is well formed but not valid."


class PayloadTooLarge(DomainError):
    status, code, detail = 413, "payload_too_large", "The request body is too large."


class StoreUnavailable(DomainError):
    status, code, detail = 503, "store_unavailable", "A data store is unavailable; try again shortly."


# DRF's default codes, renamed where docs/api.md names them differently.
_CODE_NAMES = {
    "permission_denied": "forbidden",
    "invalid": "validation_error",
    "parse_error": "malformed_body",
    "error": "bad_request",
}


def error_body(code: str, detail: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "detail": detail}
    if fields is not None:
        body["fields"] = fields
    return body


def _flatten_fields(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {str(k): _as_messages(v) for k, v in detail.items()}
    return {"non_field_errors": _as_messages(detail)}


def _as_messages(value: Any) -> Any:
    if isinstance(value, list):
        if all(not isinstance(v, (list, dict)) for v in value):
            return [str(v) for v in value]
        return [_as_messages(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _as_messages(v) for k, v in value.items()}
    return [str(value)]


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER. Anything not handled here is a 500, recorded by the signal below."""
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.detail, exc.fields), status=exc.status)
    if isinstance(exc, (OperationalError, InterfaceError)):  # PostgreSQL is down, frozen or out of connections
        logger.warning("database unavailable: %r", exc)
        return Response(error_body("database_unavailable", "The database is unavailable; try again shortly."), 503)
    if isinstance(exc, DataError):  # a value PostgreSQL cannot hold: a NUL byte, an id out of range
        return Response(error_body("invalid_value", "A value in the request cannot be stored or searched for."), 400)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("payload_too_large", "The request body is too large."), status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("validation_error", "The request has invalid fields.", _flatten_fields(exc.detail))
        return response
    raw: Any = exc.detail
    code = getattr(raw, "code", None) or exc.default_code
    if isinstance(raw, dict):  # simplejwt's token errors: {"detail", "code", "messages"}
        code = str(raw.get("code", code))
        raw = raw.get("detail", exc.default_detail)
    elif isinstance(raw, list):
        raw = " ".join(str(d) for d in raw)
    response.data = error_body(_CODE_NAMES.get(str(code), str(code)), str(raw))
    return response


def json_error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse(error_body(code, detail), status=status)


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(404, "not_found", "Not found.")


def server_error_detail(request: HttpRequest | None) -> str:
    """The 500's sentence names the request id it was recorded under (also in the X-Request-ID header)."""
    request_id = request.META.get("HTTP_X_REQUEST_ID") if request is not None else None
    if request_id:
        return f"An unexpected error happened; it has been recorded under request id {request_id}."
    return "An unexpected error happened; it has been recorded."


def handler500(request: HttpRequest) -> JsonResponse:
    return json_error(500, "server_error", server_error_detail(request))


def _record_error(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    from core.common.models import ErrorLog

    exc_text = traceback.format_exc()
    exc = sys.exc_info()[1]
    try:
        ErrorLog.objects.create(
            method=(request.method or "")[:10] if request else "",
            path=(request.get_full_path() if request else "")[:2000],
            request_id=(request.META.get("HTTP_X_REQUEST_ID", "") if request else "")[:64],
            exception=repr(exc)[:500],
            traceback=exc_text,
        )
    except Exception:  # the database itself may be what failed
        logger.exception("could not record a server error")


def connect_error_log() -> None:
    got_request_exception.connect(_record_error, dispatch_uid="common.record_error")
