from celery import shared_task

from core.common.errors import StoreUnavailable
from core.jobs.services import JOB_LEASE, JobBusy

_RETRIES = {
    "acks_late": True,
    "autoretry_for": (JobBusy, StoreUnavailable),
    "retry_backoff": int(JOB_LEASE.total_seconds()),
    "retry_backoff_max": 600,
    "max_retries": 10,
}


@shared_task(**_RETRIES)
def import_run_task(job_id: int) -> None:
    """Read a stored grade file in batches into the gradebook; safe to run twice (see import_run)."""
    from core.imports.services import import_run

    import_run(job_id=job_id)


@shared_task(name="core.gradebook.imports.tasks.import_run_task", **_RETRIES)
def import_run_task_former_name(job_id: int) -> None:
    """The same task under the name it had while the imports lived in core/gradebook/imports/: a job queued
    by that release and still in Redis at a deploy runs, instead of being dropped as an unregistered task
    and left queued for ever."""
    import_run_task(job_id)
