import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.test import TestCase, override_settings
from rest_framework.test import APIClient

from core.common import health
from core.common.models import ErrorLog


class ServiceEndpointTests(TestCase):
    def test_the_root_welcomes_and_points_to_the_docs(self) -> None:
        response = self.client.get("/")
        self.assertEqual(response.json(), {"message": "Welcome to the exams platform API.", "docs": "/api/docs/"})

    def test_health_is_up_when_every_store_answers(self) -> None:
        response = self.client.get("/health")
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertEqual(body["status"], "UP")
        self.assertEqual(body["checks"]["database"], "UP")
        self.assertEqual(body["checks"]["cache"], "UP")
        self.assertIn("answers", body["checks"])

    def test_health_is_503_naming_the_store_that_is_down(self) -> None:
        health.register("answers_probe_for_test", lambda: False)
        try:
            response = self.client.get("/health")
        finally:
            health._checks.pop("answers_probe_for_test")
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json()["status"], "DOWN")
        self.assertEqual(response.json()["checks"]["answers_probe_for_test"], "DOWN")

    def test_the_schema_and_the_docs_are_served(self) -> None:
        self.assertEqual(self.client.get("/api/schema/").status_code, 200)
        self.assertEqual(self.client.get("/api/docs/").status_code, 200)


@override_settings(ROOT_URLCONF="core.common.tests.urls_for_tests")
class ErrorShapeTests(TestCase):
    def test_an_unknown_path_is_a_json_404(self) -> None:
        response = self.client.get("/no/such/thing")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response.json(), {"error": "not_found", "detail": "Not found."})

    def test_a_wrong_method_outside_drf_is_a_json_405(self) -> None:
        response = self.client.post("/plain")
        self.assertEqual(response.status_code, 405)
        self.assertEqual(response.json()["error"], "method_not_allowed")
        self.assertEqual(response["Allow"], "GET")

    def test_a_wrong_method_on_an_api_is_a_json_405(self) -> None:
        response = APIClient().delete("/health")
        self.assertEqual(response.status_code, 405)
        self.assertEqual(response.json()["error"], "method_not_allowed")

    def test_a_crash_is_a_json_500_and_is_recorded(self) -> None:
        client = self.client_class(raise_request_exception=False)
        response = client.get("/explode?x=1", HTTP_X_REQUEST_ID="req-123")
        self.assertEqual(response.status_code, 500)
        self.assertEqual(response.json()["error"], "server_error")
        logged = ErrorLog.objects.get()
        self.assertEqual((logged.method, logged.path, logged.request_id), ("GET", "/explode?x=1", "req-123"))
        self.assertIn("boom for the error log", logged.exception)
        self.assertIn("RuntimeError", logged.traceback)

    def test_every_response_carries_a_request_id(self) -> None:
        self.assertTrue(self.client.get("/")["X-Request-ID"])
        self.assertEqual(self.client.get("/", HTTP_X_REQUEST_ID="abc")["X-Request-ID"], "abc")


class ProductionSettingsTests(TestCase):
    def run_check(self, **env: str) -> subprocess.CompletedProcess:
        environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "JWT_SIGNING_KEY"}}
        environment |= {"DJANGO_SETTINGS_MODULE": "core.settings.production", **env}
        return subprocess.run(
            [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
            cwd=Path(settings.BASE_DIR),
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def test_production_refuses_to_start_without_a_real_secret(self) -> None:
        result = self.run_check()
        self.assertNotEqual(result.returncode, 0)
        # base.py refuses first (no key and DEBUG off); core/common/tests/test_secrets.py tests each refusal
        self.assertIn("ImproperlyConfigured: SECRET_KEY is unset or a development value", result.stderr)

    def test_check_deploy_is_clean_with_real_secrets(self) -> None:
        result = self.run_check(
            SECRET_KEY="q8Zr-3vLp_W1nYt6Kc0sJ2mXa9Ue4Hb7Gd5Fi-" * 2,
            JWT_SIGNING_KEY="u3Nw8Rq1Ze6Ty0Lo5Pa2" * 2,
            S3_ACCESS_KEY="K7QW2M9XR4TZ8LPA3VNB",
            S3_SECRET_KEY="Zt5-pQ8wLx2Nc7Rb4Ye1Uk9Hs6Jd3Fg0Ma",
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("no issues", result.stdout)


class StoreDownTests(TestCase):
    def test_a_database_that_does_not_answer_is_a_503_not_a_500(self) -> None:
        from django.db import OperationalError

        from core.common.errors import api_exception_handler

        response = api_exception_handler(OperationalError("connection timeout expired"), {})
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.data["error"], "database_unavailable")
        self.assertFalse(ErrorLog.objects.exists())
