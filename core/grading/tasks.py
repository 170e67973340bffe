from celery import shared_task

from core.common.errors import StoreUnavailable
from core.jobs.services import JOB_LEASE, JobBusy


@shared_task(
    acks_late=True,
    autoretry_for=(StoreUnavailable, JobBusy),
    retry_backoff=True,
    retry_backoff_max=int(JOB_LEASE.total_seconds()),
    max_retries=12,
)
def exam_grade_task(job_id: int) -> None:
    """Grade every attempt of the job's exam. Runs again safely: a finished job is left alone, and a
    job still held by a live worker is retried after its lease (see core.jobs.services)."""
    from core.grading.services import exam_grade

    exam_grade(job_id=job_id)


@shared_task(acks_late=True, autoretry_for=(StoreUnavailable,), retry_backoff=True, max_retries=8)
def attempt_grade_task(exam_id: int, student_id: int) -> None:
    """Grade one finished attempt; recomputed from the current key, so running it twice changes nothing."""
    from core.grading.services import student_grade

    student_grade(exam_id=exam_id, student_id=student_id)
