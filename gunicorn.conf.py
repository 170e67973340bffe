"""gunicorn settings; bind, pidfile and logs are given on the command line by scripts/services.sh."""

import os

workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
keepalive = 75  # longer than Nginx's upstream keepalive_timeout, so Nginx closes first
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
forwarded_allow_ips = "127.0.0.1"


def post_worker_init(worker):
    # The answer store's driver session must be created in each worker, after the fork; this hook runs
    # once the worker has loaded Django (post_fork runs before, when no model can be imported yet).
    from core.answers.store import reset_after_fork

    reset_after_fork()
