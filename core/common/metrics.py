"""Prometheus metrics: the one place where every metric of the platform is defined.

Under gunicorn and the Celery worker, `PROMETHEUS_MULTIPROC_DIR` is set (gunicorn.conf.py, core/celery.py, the
state folder's `metrics/`): every process writes its values to its own files in that folder, and `/metrics`
(core/common/apis.py) adds up the files of every process on the host - the web instances' workers and the
Celery worker's pool alike - so one scrape of any instance shows the whole host
(docs/decisions/0010-metrics-multiprocess.md). Without the variable (tests, `make run`'s dev server)
values live in the process and `/metrics` shows that process.

The folder's upkeep (emptied when a stack starts, dead workers marked) is in `metrics_dir.py`, which gunicorn's
master imports without importing prometheus-client's metrics.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from core.common.metrics_dir import MULTIPROC_ENV, alive, pids_in

# Buckets in seconds: the hot path answers in a few ms, imports and grading take seconds.
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_STORE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

HTTP_REQUESTS = Counter(
    "exams_http_requests", "HTTP requests answered, by URL pattern, method and status.", ["route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "exams_http_request_duration_seconds", "Time to answer an HTTP request, by URL pattern.", ["route"],
    buckets=_HTTP_BUCKETS,
)  # fmt: skip
ANSWER_SAVES = Counter(
    "exams_answer_saves",
    "PUTs of answers, by outcome: acknowledged (2xx), closed (409), invalid (400, 413, 415, 422), "
    "refused (anything else: 401, 403, 404, 429, 503).",
    ["outcome"],
)
ANSWER_STORE_WRITE = Histogram(
    "exams_answer_store_write_seconds", "Time for the answer store to accept one save (all its answers).",
    buckets=_STORE_BUCKETS,
)  # fmt: skip
JOBS = Counter("exams_jobs", "Jobs that reached a status (queued, running, done, failed), by kind.", ["kind", "status"])
JOB_ROWS = Counter("exams_job_rows_processed", "Rows (students, records, lines) processed by jobs, by kind.", ["kind"])
CELERY_TASK = Histogram(
    "exams_celery_task_seconds", "Time a Celery task ran, by task name and final state.", ["task", "state"],
    buckets=_TASK_BUCKETS,
)  # fmt: skip

SAVE_OUTCOMES = ("acknowledged", "refused", "closed", "invalid")


def answer_save_outcome(status: int) -> str:
    if 200 <= status < 300:
        return "acknowledged"
    if status == 409:
        return "closed"
    if status in (400, 413, 415, 422):
        return "invalid"
    return "refused"


def enabled() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "METRICS_ENABLED", True))


def store_write_observe(*, started: float) -> None:
    """One accepted write to the answer store, begun at `started` (time.perf_counter())."""
    if enabled():
        ANSWER_STORE_WRITE.observe(time.perf_counter() - started)


@contextlib.contextmanager
def timed(histogram: Histogram) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - started)


# --- the scrape ---------------------------------------------------------------------------------


class _HostProcessCollector(Collector):
    """Process metrics (CPU, memory, open files, start time) of every live process that writes to the
    multiprocess folder, labelled by pid: prometheus-client's own ProcessCollector, once per process."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        live = sorted(pid for pid in pids_in(self.folder) if alive(pid))
        for pid in live:
            for family in ProcessCollector(pid=functools.partial(str, pid), registry=None).collect():
                target = merged.get(family.name)
                if target is None:
                    target = merged[family.name] = Metric(family.name, family.documentation, family.type)
                for sample in family.samples:
                    target.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        live_family = GaugeMetricFamily("exams_live_processes", "Live processes writing metrics on this host.")
        live_family.add_metric([], len(live))
        yield live_family
        yield from merged.values()


def registry_for_scrape() -> CollectorRegistry | None:
    """The registry to expose: every process of the host in multiprocess mode, else None (the default
    registry of this process, with its process and platform collectors)."""
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        return None
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)
    registry.register(_HostProcessCollector(folder))
    return registry
