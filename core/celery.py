"""The Celery app. Reliability settings (acks_late, reject on worker lost, prefetch 1, visibility
timeout) live in settings under the CELERY_ namespace.

Observability (docs/observability.md): the request id of the request that queued a task travels in the
message's headers and is bound to the task's log lines; every task ends with one JSON line (task, state,
duration) and an `exams_celery_task_seconds` sample. The worker writes its metrics to the same multiprocess
folder as the web instances of the host, so `/metrics` shows them too.
"""

import inspect
import logging.config
import os
import time
from typing import Any

import structlog
from celery import Celery
from celery.signals import (
    before_task_publish,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.base")

app = Celery("core")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

REQUEST_ID_HEADER = "request_id"
_task_log = structlog.get_logger("exams.task")
_started: dict[str, tuple[float, dict[str, Any]]] = {}


@worker_process_init.connect
def _reset_connections_after_fork(**_: object) -> None:
    # Driver sessions and sockets must not be shared across a fork.
    from core.answers.store import reset_after_fork

    reset_after_fork()


@setup_logging.connect
def _logging_as_django_says(**_: object) -> None:
    """Celery keeps its hands off logging when this signal has a receiver: the worker logs through the
    settings' LOGGING (structlog's JSON formatter), like the web instances."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@worker_init.connect
def _metrics_dir_ready(**_: object) -> None:
    from core.common.metrics_dir import MULTIPROC_ENV, metrics_dir_prepare

    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        metrics_dir_prepare(folder)


@worker_process_shutdown.connect
def _metrics_process_dead(pid: int | None = None, **_: object) -> None:
    from core.common.metrics_dir import process_dead

    process_dead(pid or os.getpid())


@before_task_publish.connect
def _request_id_into_headers(headers: dict[str, Any] | None = None, **_: object) -> None:
    """The request (or task) that queues a task passes on its request id."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


def _named_arguments(task: Any, args: Any, kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """The task's arguments by name (most tasks are called with positional ones)."""
    try:
        return dict(inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {})).arguments)
    except (TypeError, ValueError, AttributeError):
        return dict(kwargs or {})


@task_prerun.connect
def _task_context(
    task_id: str = "", task: Any = None, args: Any = None, kwargs: dict[str, Any] | None = None, **_: object
) -> None:
    """Bind the task's context to its log lines. An eager task (run inside a request) keeps the request's
    context and gets it back afterwards."""
    saved = structlog.contextvars.get_contextvars()
    request_id = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    kwargs = _named_arguments(task, args, kwargs)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        request_id=request_id or saved.get("request_id"),
        task=getattr(task, "name", None),
        task_id=task_id,
        exam_id=kwargs.get("exam_id"),
        job_id=kwargs.get("job_id"),
    )
    _started[task_id] = (time.perf_counter(), saved)


@task_postrun.connect
def _task_done(task_id: str = "", task: Any = None, state: str | None = None, **_: object) -> None:
    from core.common.metrics import CELERY_TASK

    started, saved = _started.pop(task_id, (None, {}))
    duration = time.perf_counter() - started if started is not None else 0.0
    CELERY_TASK.labels(getattr(task, "name", "unknown"), state or "UNKNOWN").observe(duration)
    fields = {"state": state, "duration_ms": round(duration * 1000, 2)}
    if state == "FAILURE":
        _task_log.error("task", **fields)
    else:
        _task_log.info("task", **fields)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**saved)
