"""The security baseline over HTTP: response headers, HSTS in production, and an explicit CORS policy.

Not repeated here (tested where they live): `check --deploy` on production settings and the refusal to start
without real secrets (core/common/tests/test_service.py), JWT algorithm/audience/type/expiry and single-use
refresh tokens under concurrency (core/accounts/tests/test_token_security.py), login throttling against a
rotated X-Forwarded-For (core/accounts/tests/test_auth.py), upload sniffing (core/handins/tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.test import TestCase, override_settings
from rest_framework.test import APIClient

from core.accounts.services import student_create
from core.tests.helpers import access_token

LISTED = "https://exams.example.test"
UNLISTED = "https://evil.example.test"
STRONG_SECRETS = {
    "SECRET_KEY": "q8Zr-3vLp_W1nYt6Kc0sJ2mXa9Ue4Hb7Gd5Fi-" * 2,
    "JWT_SIGNING_KEY": "u3Nw8Rq1Ze6Ty0Lo5Pa2" * 2,
    "S3_ACCESS_KEY": "K7QW2M9XR4TZ8LPA3VNB",
    "S3_SECRET_KEY": "Zt5-pQ8wLx2Nc7Rb4Ye1Uk9Hs6Jd3Fg0Ma",
}


def production_setting(names: list[str], **env: str) -> list[str]:
    """The values of some production settings, read in a fresh interpreter with this environment."""
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "JWT_SIGNING_KEY"}}
    environment |= {"DJANGO_SETTINGS_MODULE": "core.settings.production", **env}
    code = "import django; django.setup(); from django.conf import settings as s; " + "; ".join(
        f"print(repr(s.{name}))" for name in names
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter, with a fixed script
        [sys.executable, "-c", code],
        cwd=Path(settings.BASE_DIR),
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode:
        raise AssertionError(result.stderr[-2000:])
    return result.stdout.split("\n")[: len(names)]


class ResponseHeaderTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.student = student_create(student_number="sh0001", full_name="Header Student", level="Year 1")

    def setUp(self) -> None:
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(self.student)}")

    def test_api_responses_say_nosniff(self) -> None:
        for path, status in (("/api/me", 200), ("/api/exams/999999", 404), ("/api/students", 403), ("/", 200)):
            with self.subTest(path=path):
                response = self.client.get(path)
                self.assertEqual(response.status_code, status)
                self.assertEqual(response.headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(APIClient().get("/api/me").headers["X-Content-Type-Options"], "nosniff")  # a 401 too

    def test_the_admin_cannot_be_framed(self) -> None:
        response = self.client.get("/admin/login/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers["X-Frame-Options"], "DENY")

    def test_api_responses_cannot_be_framed_either_and_keep_their_referrer(self) -> None:
        response = self.client.get("/api/me")
        self.assertEqual(response.headers["X-Frame-Options"], "DENY")
        self.assertEqual(response.headers["Referrer-Policy"], "same-origin")
        self.assertEqual(response.headers["Cross-Origin-Opener-Policy"], "same-origin")

    def test_no_hsts_over_plain_http(self) -> None:
        with override_settings(SECURE_HSTS_SECONDS=600):
            self.assertNotIn("Strict-Transport-Security", self.client.get("/api/me").headers)

    def test_hsts_over_https_follows_the_settings(self) -> None:
        with override_settings(SECURE_HSTS_SECONDS=600, SECURE_HSTS_INCLUDE_SUBDOMAINS=True, SECURE_HSTS_PRELOAD=False):
            response = self.client.get("/api/me", secure=True)
            self.assertEqual(response.headers["Strict-Transport-Security"], "max-age=600; includeSubDomains")

    @override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"), SECURE_HSTS_SECONDS=600)
    def test_hsts_behind_the_tls_proxy(self) -> None:
        """TLS ends at the proxy; production trusts its X-Forwarded-Proto (Nginx sets it, overwriting the client's)."""
        response = self.client.get("/api/me", HTTP_X_FORWARDED_PROTO="https")
        self.assertIn("max-age=600", response.headers["Strict-Transport-Security"])


class ProductionHstsTests(TestCase):
    def test_production_turns_hsts_on_for_a_year_by_default(self) -> None:
        seconds, subdomains, redirect = production_setting(
            ["SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_SSL_REDIRECT"], **STRONG_SECRETS
        )
        self.assertEqual((seconds, subdomains, redirect), ("31536000", "True", "True"))

    def test_production_hsts_is_configurable(self) -> None:
        values = production_setting(
            ["SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD"],
            SECURE_HSTS_SECONDS="3600",
            SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
            SECURE_HSTS_PRELOAD="false",
            **STRONG_SECRETS,
        )
        self.assertEqual(values, ["3600", "False", "False"])


class CorsTests(TestCase):
    def preflight(self, origin: str) -> object:
        return APIClient().options(
            "/api/auth/login",
            HTTP_ORIGIN=origin,
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
        )

    def test_by_default_no_origin_is_allowed(self) -> None:
        self.assertEqual(settings.CORS_ALLOWED_ORIGINS, [])
        self.assertFalse(getattr(settings, "CORS_ALLOW_ALL_ORIGINS", False))
        response = APIClient().get("/", HTTP_ORIGIN=LISTED)
        self.assertNotIn("Access-Control-Allow-Origin", response.headers)

    @override_settings(CORS_ALLOWED_ORIGINS=[LISTED])
    def test_a_listed_origin_is_allowed_without_credentials(self) -> None:
        response = APIClient().get("/", HTTP_ORIGIN=LISTED)
        self.assertEqual(response.headers["Access-Control-Allow-Origin"], LISTED)
        self.assertNotIn("Access-Control-Allow-Credentials", response.headers)
        preflight = self.preflight(LISTED)
        self.assertEqual(preflight.status_code, 200)
        self.assertEqual(preflight.headers["Access-Control-Allow-Origin"], LISTED)
        self.assertIn("authorization", preflight.headers["Access-Control-Allow-Headers"])
        self.assertIn("POST", preflight.headers["Access-Control-Allow-Methods"])

    @override_settings(CORS_ALLOWED_ORIGINS=[LISTED])
    def test_an_unlisted_origin_gets_no_cors_headers(self) -> None:
        for response in (APIClient().get("/", HTTP_ORIGIN=UNLISTED), self.preflight(UNLISTED)):
            with self.subTest(method=response.request["REQUEST_METHOD"]):
                self.assertNotIn("Access-Control-Allow-Origin", response.headers)
                self.assertNotIn("Access-Control-Allow-Methods", response.headers)
