"""gunicorn settings; bind and control socket are given on the command line by scripts/services.sh.

No access log (gunicorn's default): the app's own request line is the one line per request (docs/observability.md).
"""

import os
from pathlib import Path

from gunicorn.glogging import Logger

workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
keepalive = 75  # longer than Nginx's upstream keepalive_timeout, so Nginx closes first
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
forwarded_allow_ips = "127.0.0.1"

# Metrics (docs/decisions/0010-metrics-multiprocess.md): every worker of every instance on this host, and
# the Celery worker, write to one folder under the state folder; /metrics adds them up. Set before any worker
# imports prometheus_client, which reads it at import.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    str(Path(os.environ.get("STATE_DIR", Path(__file__).resolve().parent / ".state")) / "metrics"),
)


class JsonLogger(Logger):
    """gunicorn's own lines (error log and access log) as JSON, through structlog's formatter."""

    def _set_handler(self, log, output, fmt, stream=None):
        super()._set_handler(log, output, fmt, stream)
        from core.common.logging import formatter

        for handler in log.handlers:
            handler.setFormatter(formatter())


logger_class = JsonLogger


def on_starting(server):
    # A stack that starts empties the folder; an instance restarted beside live ones keeps it.
    from core.common.metrics_dir import metrics_dir_prepare

    metrics_dir_prepare(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def child_exit(server, worker):
    # A dead worker's counters stay (totals never go backwards); its live gauges go.
    from core.common.metrics_dir import process_dead

    process_dead(worker.pid)


def post_worker_init(worker):
    # The answer store's driver session must be created in each worker, after the fork; this hook runs
    # once the worker has loaded Django (post_fork runs before, when no model can be imported yet).
    from core.answers.store import reset_after_fork

    reset_after_fork()
