"""Metrics, logs and the request id, through real requests, the real Redis broker and a real Celery worker."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
from django.core.cache import cache
from django.test import TestCase, override_settings
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from core.accounts.tests.factories import make_student
from core.common.logging import stdlib_json_handler
from core.common.metrics import registry_for_scrape
from core.common.metrics_dir import MULTIPROC_ENV, metrics_dir_prepare
from core.common.models import ErrorLog
from core.exams.tests.factories import ids_of, make_doctor, make_exam, token_for

REPO = Path(__file__).resolve().parents[2]


def scrape(client: APIClient | None = None, **extra: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = (client or APIClient()).get("/metrics", **extra)
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@contextmanager
def captured(logger_name: str):
    """The JSON lines a logger writes, through the same formatter as the servers'."""
    stream = io.StringIO()
    handler = stdlib_json_handler(stream)
    logger = logging.getLogger(logger_name)
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # only here, not on the test run's console
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines() if line.strip())


class MetricsTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.exam = make_exam(owner=make_doctor(), level="Year 1")
        (cls.q1, _, cls.q1_correct), _ = ids_of(cls.exam)

    def setUp(self) -> None:
        cache.clear()
        self.student = make_student(level="Year 1")
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(self.student)}")

    def put(self, choices: list[int]):
        body = json.dumps({"answers": [{"question": self.q1, "choices": choices}]})
        return self.client.put(f"/api/exams/{self.exam.id}/answers", body, content_type="application/json")

    def test_counters_move_with_real_requests(self) -> None:
        route = "/api/exams/<int:exam_id>/answers"
        before = scrape()
        self.assertEqual(self.put(self.q1_correct).status_code, 409)  # not started: closed
        self.assertEqual(self.client.post(f"/api/exams/{self.exam.id}/attempt").status_code, 201)
        self.assertEqual(self.put(self.q1_correct).status_code, 200)
        self.assertEqual(self.put(self.q1_correct).status_code, 200)
        self.assertEqual(self.put([999_999]).status_code, 422)
        after = scrape()

        def moved(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        self.assertEqual(moved("exams_answer_saves_total", outcome="acknowledged"), 2)
        self.assertEqual(moved("exams_answer_saves_total", outcome="closed"), 1)
        self.assertEqual(moved("exams_answer_saves_total", outcome="invalid"), 1)
        self.assertEqual(moved("exams_http_requests_total", route=route, method="PUT", status="200"), 2)
        self.assertEqual(moved("exams_http_request_duration_seconds_count", route=route), 4)
        self.assertEqual(moved("exams_answer_store_write_seconds_count"), 2)
        # Routes are URL patterns: no raw path with an id ever becomes a label.
        self.assertFalse([key for key in after if f"/api/exams/{self.exam.id}/" in str(key)])

    def test_process_metrics_are_exposed(self) -> None:
        self.assertIn("process_resident_memory_bytes", {name for name, _ in scrape()})

    def test_metrics_refuse_clients_outside_the_allowed_addresses(self) -> None:
        outside = APIClient().get("/metrics", REMOTE_ADDR="203.0.113.9")
        self.assertEqual(outside.status_code, 403)
        self.assertEqual(outside.json()["error"], "forbidden")
        # Through the local Nginx: the client Nginx appended is judged, not the proxy.
        proxied = APIClient().get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9")
        self.assertEqual(proxied.status_code, 403)
        # A client reaching an instance directly cannot pass by writing X-Forwarded-For.
        forged = APIClient().get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="127.0.0.1")
        self.assertEqual(forged.status_code, 403)
        self.assertEqual(APIClient().get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code, 200)

    @override_settings(METRICS_ALLOWED_IPS=["127.0.0.1", "10.20.0.0/16"])
    def test_an_allowed_network_is_served(self) -> None:
        self.assertEqual(APIClient().get("/metrics", HTTP_X_FORWARDED_FOR="10.20.3.4").status_code, 200)
        self.assertEqual(APIClient().get("/metrics", HTTP_X_FORWARDED_FOR="10.21.3.4").status_code, 403)


class MultiprocessTests(TestCase):
    """What gunicorn's workers and the Celery worker do: each process writes its own files, /metrics adds up."""

    def run_process(self, folder: str, code: str) -> subprocess.Popen:
        env = {**os.environ, MULTIPROC_ENV: folder, "PYTHONPATH": str(REPO)}
        return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO)  # noqa: S603 - our own code

    def test_the_scrape_adds_up_every_process_of_the_host_and_keeps_dead_ones_counts(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            code = "from core.common import metrics as m; m.ANSWER_SAVES.labels('acknowledged').inc({n})"
            for n in (3, 4):
                self.assertEqual(self.run_process(folder, code.format(n=n)).wait(timeout=60), 0)
            os.environ[MULTIPROC_ENV] = folder
            try:
                registry = registry_for_scrape()
            finally:
                del os.environ[MULTIPROC_ENV]
            assert registry is not None
            self.assertEqual(registry.get_sample_value("exams_answer_saves_total", {"outcome": "acknowledged"}), 7)

    def test_the_folder_is_emptied_when_a_stack_starts_and_kept_beside_live_processes(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            live = self.run_process(folder, "import time; time.sleep(30)")
            try:
                Path(folder, f"counter_{live.pid}.db").write_bytes(b"")
                Path(folder, "counter_999999999.db").write_bytes(b"")
                self.assertFalse(metrics_dir_prepare(folder))  # a web instance restarts beside a live one
                self.assertEqual(len(list(Path(folder).glob("*.db"))), 2)
            finally:
                live.kill()
                live.wait()
            self.assertTrue(metrics_dir_prepare(folder))  # nobody is left: a stack that starts
            self.assertEqual(list(Path(folder).iterdir()), [])


class RequestLogTests(TestCase):
    def setUp(self) -> None:
        cache.clear()

    def test_one_json_line_per_request_with_its_request_id_route_status_user_and_exam(self) -> None:
        exam = make_exam(owner=make_doctor(), level="Year 1")
        student = make_student(level="Year 1")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(student)}")
        with captured("exams.request") as lines:
            response = client.post(f"/api/exams/{exam.id}/attempt", HTTP_X_REQUEST_ID="0123abcd0123abcd")
        self.assertEqual(response["X-Request-ID"], "0123abcd0123abcd")
        self.assertEqual(len(lines), 1)
        line = lines[0]
        self.assertEqual(line["event"], "request")
        self.assertEqual(line["level"], "info")
        self.assertEqual(line["request_id"], "0123abcd0123abcd")
        self.assertEqual(line["route"], "/api/exams/<int:exam_id>/attempt")
        self.assertEqual((line["method"], line["status"]), ("POST", 201))
        self.assertEqual((line["user_id"], line["exam_id"]), (student.id, exam.id))
        self.assertIsInstance(line["duration_ms"], float)
        self.assertRegex(line["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$")

    def test_the_lean_answer_road_names_its_student_too(self) -> None:
        exam = make_exam(owner=make_doctor(), level="Year 1")
        (q1, _, correct), _ = ids_of(exam)
        student = make_student(level="Year 1")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(student)}")
        client.post(f"/api/exams/{exam.id}/attempt")
        body = json.dumps({"answers": [{"question": q1, "choices": correct}]})
        with captured("exams.request") as lines:
            client.put(f"/api/exams/{exam.id}/answers", body, content_type="application/json")
        self.assertEqual((lines[0]["status"], lines[0]["user_id"]), (200, student.id))

    def test_a_request_id_that_is_not_a_plain_token_is_replaced(self) -> None:
        response = APIClient().get("/", HTTP_X_REQUEST_ID='evil"\n{"level": "error"}')
        self.assertRegex(response["X-Request-ID"], r"^[0-9a-f]{32}$")

    def test_standard_library_lines_are_json_with_the_request_id(self) -> None:
        with captured("core.views.test") as lines:
            structlog.contextvars.bind_contextvars(request_id="rid-stdlib")
            try:
                logging.getLogger("core.views.test").warning("plain %s line", "stdlib")
            finally:
                structlog.contextvars.clear_contextvars()
        self.assertEqual(lines[0]["event"], "plain stdlib line")
        self.assertEqual((lines[0]["level"], lines[0]["request_id"]), ("warning", "rid-stdlib"))


@override_settings(ROOT_URLCONF="core.common.tests.urls_for_tests")
class ErrorRequestIdTests(TestCase):
    def test_a_500_names_its_request_id_in_the_response_the_error_log_and_the_log_line(self) -> None:
        client = self.client_class(raise_request_exception=False)
        with captured("django.request") as lines:
            response = client.get("/explode", HTTP_X_REQUEST_ID="rid-500-chain")
        self.assertEqual(response.status_code, 500)
        self.assertEqual(response["X-Request-ID"], "rid-500-chain")
        self.assertIn("rid-500-chain", response.json()["detail"])
        self.assertEqual(ErrorLog.objects.get().request_id, "rid-500-chain")
        self.assertEqual(len(lines), 1, lines)  # once, with its request id and traceback
        self.assertEqual(lines[0]["request_id"], "rid-500-chain")
        self.assertIn("RuntimeError", lines[0]["exception"])


class JsonNestingTests(TestCase):
    def test_deep_nesting_is_a_400_on_every_json_road_and_records_no_error(self) -> None:
        exam = make_exam(owner=make_doctor(), level="Year 1")
        token = token_for(make_student(level="Year 1"))
        deep = "[" * 5000 + "]" * 5000
        spaced = '{"answers": ' + "[ " * 40 + "]" * 40 + "}"
        client = APIClient()
        cases = [
            ("POST", "/api/auth/login", deep, None),
            ("PUT", f"/api/exams/{exam.id}/answers", '{"answers": ' + deep + "}", token),  # the lean road
            ("PUT", f"/api/exams/{exam.id}/answers", spaced, token),
            ("POST", "/api/exams", deep, token_for(make_doctor())),
        ]
        for method, path, body, bearer in cases:
            client.credentials(**({"HTTP_AUTHORIZATION": f"Bearer {bearer}"} if bearer else {}))
            response = client.generic(method, path, body, content_type="application/json")
            self.assertEqual(response.status_code, 400, (path, response.content))
            self.assertEqual(response.json()["error"], "malformed_body")
        self.assertFalse(ErrorLog.objects.exists())

    def test_nesting_up_to_the_limit_is_parsed(self) -> None:
        body = '{"email": "x@example.test", "password": "p", "extra": ' + "[" * 30 + "]" * 30 + "}"
        response = APIClient().post("/api/auth/login", body, content_type="application/json")
        self.assertEqual(response.status_code, 401)
