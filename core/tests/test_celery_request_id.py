"""The request id of the request that queued a task reaches the task's log lines, through the real Redis broker
and a real (embedded) Celery worker. (A TransactionTestCase: the worker thread has its own database connection.)"""

from __future__ import annotations

import logging
import time

import structlog
from django.test import TransactionTestCase

from core.tests.test_observability import captured


class CeleryRequestIdTests(TransactionTestCase):
    """The request id of the request that queued a task reaches the task's log lines, through the real broker
    and a real (embedded) worker."""

    def test_a_task_logs_one_json_line_with_the_request_id_that_queued_it(self) -> None:
        from celery.contrib.testing.worker import start_worker

        from core.celery import app
        from core.handins.tasks import handins_expire_task

        with captured("exams.task") as lines, start_worker(app, pool="solo", perform_ping_check=False):
            structlog.contextvars.bind_contextvars(request_id="rid-into-celery")
            try:
                handins_expire_task.delay()
            finally:
                structlog.contextvars.clear_contextvars()
            deadline = time.monotonic() + 30
            handler = logging.getLogger("exams.task").handlers[-1]
            while time.monotonic() < deadline and "handins_expire_task" not in handler.stream.getvalue():  # type: ignore[attr-defined]
                time.sleep(0.1)
        done = [line for line in lines if line.get("task") == "core.handins.tasks.handins_expire_task"]
        self.assertEqual(len(done), 1, lines)
        self.assertEqual(done[0]["request_id"], "rid-into-celery")
        self.assertEqual((done[0]["event"], done[0]["state"]), ("task", "SUCCESS"))
        self.assertIsInstance(done[0]["duration_ms"], float)
