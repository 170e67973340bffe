from celery import shared_task

from core.common.errors import StoreUnavailable
from core.jobs.services import JOB_LEASE, JobBusy


@shared_task(
    acks_late=True,
    autoretry_for=(JobBusy, StoreUnavailable),
    retry_backoff=int(JOB_LEASE.total_seconds()),
    retry_backoff_max=600,
    max_retries=10,
)
def import_run_task(job_id: int) -> None:
    """Read a stored grade file in batches into the gradebook; safe to run twice (see import_run)."""
    from core.imports.services import import_run

    import_run(job_id=job_id)
