"""Login throttling, shared by the API login and the admin login, counting failures only (docs/security.md).

The policy is OWASP's (Authentication Cheat Sheet, "Account lockout", and "Slow Down Online Guessing Attacks
with Device Cookies"):
- a client address whose wrong passwords reached LOGIN_RATE_PER_CLIENT (any emails) waits until its window ends;
- an email whose wrong passwords reached LOGIN_RATE_PER_EMAIL (from any addresses) is locked, for untrusted
  clients only, until its window ends;
- a *trusted device* - a client holding the signed device cookie that a successful login of that same email
  gave it - is judged by its own failures alone (LOGIN_RATE_PER_EMAIL per device), so the owner still gets in
  with the right password while someone else guesses their password;
- successes are never counted (a classroom behind one address logs in freely), and a success clears the email's
  failures.
Refused attempts are 429 with Retry-After before any password is checked, so a locked attacker learns nothing.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

from core.common.clients import client_address
from core.common.throttles import FailureLimit, failure_record, failures_clear, failures_wait

DEVICE_COOKIE = "exams_device"
_DEVICE_SALT = "core.accounts.device-cookie"


class LoginThrottled(Exception):
    def __init__(self, wait: int) -> None:
        self.wait = wait
        super().__init__(f"Too many failed logins; try again in {wait} s.")


def _rates() -> dict[str, str]:
    rates: dict[str, str] = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    return rates


def _client_limit() -> FailureLimit:
    return FailureLimit.parse("login_client", _rates()["login_ip"])


def _email_limit() -> FailureLimit:
    return FailureLimit.parse("login_email", _rates()["login_email"])


def _device_limit() -> FailureLimit:
    return FailureLimit.parse("login_device", _rates()["login_email"])


def normalized_email(value: Any) -> str:
    return str(value or "").strip().lower()[:254]


def _trusted_device(request: HttpRequest, email: str) -> str | None:
    """The device id of a valid device cookie issued to this email, else None."""
    raw = request.COOKIES.get(DEVICE_COOKIE)
    if not raw or not email:
        return None
    try:
        data = signing.loads(raw, salt=_DEVICE_SALT, max_age=settings.LOGIN_DEVICE_COOKIE_DAYS * 86400)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("e") != email or not isinstance(data.get("d"), str):
        return None
    return data["d"]


def login_guard(*, request: HttpRequest, email: str) -> None:
    """Raise LoginThrottled before a password is checked, when this attempt must wait."""
    device = _trusted_device(request, email)
    if device is not None:
        wait = failures_wait(limit=_device_limit(), ident=device)
    else:
        wait = failures_wait(limit=_client_limit(), ident=client_address(request))
        if wait is None and email:
            wait = failures_wait(limit=_email_limit(), ident=email)
    if wait is not None:
        raise LoginThrottled(wait)


def login_failed(*, request: HttpRequest, email: str) -> None:
    """Count a wrong email or password."""
    device = _trusted_device(request, email)
    if device is not None:
        failure_record(limit=_device_limit(), ident=device)
        return
    failure_record(limit=_client_limit(), ident=client_address(request))
    if email:
        failure_record(limit=_email_limit(), ident=email)


def login_succeeded(*, request: HttpRequest, email: str) -> str:
    """Clear the email's failures and return a device cookie value for this client and email."""
    if email:
        failures_clear(limit=_email_limit(), ident=email)
    device = _trusted_device(request, email) or secrets.token_urlsafe(16)
    return signing.dumps({"e": email, "d": device}, salt=_DEVICE_SALT)


def device_cookie_set(response: HttpResponse, value: str) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=settings.LOGIN_DEVICE_COOKIE_DAYS * 86400,
        httponly=True,
        samesite="Strict",
        secure=settings.SESSION_COOKIE_SECURE,
    )


class DeviceCookieMiddleware:
    """Sets the device cookie that the admin's login form asked for (a form cannot set cookies itself)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = self.get_response(request)
        value = getattr(request, "device_cookie", None)
        if value:
            device_cookie_set(response, value)
        return response
