from typing import Any

from celery import shared_task

from core.common.errors import StoreUnavailable
from core.jobs.services import JOB_LEASE, JobBusy


@shared_task(
    acks_late=True,
    autoretry_for=(StoreUnavailable, JobBusy),
    retry_backoff=True,
    retry_backoff_max=int(JOB_LEASE.total_seconds()),
    max_retries=12,
    bind=True,
)
def exam_grade_task(self: Any, job_id: int) -> None:
    """Grade every attempt of the job's exam. Runs again safely: a finished job is left alone, and a
    job still held by a live worker is retried after its lease (see core.jobs.services). On a worker it
    splits the exam into chunks that every worker grades; called directly (or eagerly) it grades them here."""
    from core.grading.services import exam_grade

    exam_grade(job_id=job_id, fan_out=not (self.request.called_directly or self.request.is_eager))


@shared_task(acks_late=True, autoretry_for=(StoreUnavailable,), retry_backoff=True, max_retries=8)
def attempt_grade_task(exam_id: int, student_id: int) -> None:
    """Grade one finished attempt; recomputed from the current key, so running it twice changes nothing."""
    from core.grading.services import student_grade

    student_grade(exam_id=exam_id, student_id=student_id)


@shared_task(acks_late=True, autoretry_for=(StoreUnavailable,), retry_backoff=True, max_retries=12)
def exam_grade_chunk_task(chunk_id: int) -> None:
    """Grade one chunk of an exam's students; several workers run the chunks of one exam at once. Runs again
    safely: a chunk that is done, or held by a live worker, is left alone."""
    from core.grading.services import exam_grade_chunk

    exam_grade_chunk(chunk_id=chunk_id)


@shared_task
def grading_rescue_task() -> None:
    """Beat, every CHUNK_SWEEP: send again the chunks (and unsplit jobs) whose worker died, within their lease."""
    from core.grading.services import grading_rescue

    grading_rescue()
