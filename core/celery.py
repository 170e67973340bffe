"""The Celery app. Reliability settings (acks_late, reject on worker lost, prefetch 1, visibility
timeout) live in settings under the CELERY_ namespace."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.base")

app = Celery("core")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _reset_connections_after_fork(**_: object) -> None:
    # Driver sessions and sockets must not be shared across a fork.
    from core.answers.store import reset_after_fork

    reset_after_fork()
