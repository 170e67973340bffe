"""Jobs: background work with progress. Every kind of background work (grading, imports) goes
through these four steps: create (queued), claim (running), advance (progress), finish (done|failed).

Redelivery after a lost worker. Tasks are acks_late with reject_on_worker_lost, so a worker killed
with -9 has its message delivered again while the job still says `running`. The rule: a running
job holds a lease that every claim and every advance renews (`heartbeat_at`). A claim succeeds on a
queued job, or on a running job whose heartbeat is older than JOB_LEASE; a fresh lease means some
worker is still at it, and `job_begin` raises JobBusy so that the task retries after the lease. A
re-claimed job starts over from row one (processed = 0, errors = []), which is safe because every job
kind recomputes its writes (grading upserts, imports upsert) instead of incrementing them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, JSONField, Q, Value
from django.db.models.expressions import CombinedExpression
from django.utils import timezone

from core.common import metrics
from core.jobs.models import Job

# Work must call job_advance at least this often. Grading advances every batch of 500 students
# (about 0.3 s each on the bench machine) and imports every batch of rows, so a minute is far more
# than any live worker needs, and short enough that a crashed job resumes soon after its redelivery.
JOB_LEASE = timedelta(seconds=60)


class JobBusy(Exception):
    """Another worker holds a fresh lease on this job. Retry after JOB_LEASE."""


def job_create(*, kind: str, created_by: Any, params: dict[str, Any] | None = None, total: int = 0) -> Job:
    """A queued job. `created_by` is the person who waits for it (None for system work)."""
    job = Job.objects.create(kind=kind, created_by=created_by, params=params or {}, total=total)
    metrics.JOBS.labels(kind, Job.Status.QUEUED).inc()
    return job


def job_claim(*, job_id: int, now: datetime | None = None) -> Job | None:
    """Claim a job for this worker with ONE conditional UPDATE; None when another worker has it
    (or it is finished, or missing). See the module docstring for when a running job may be re-claimed."""
    now = now or timezone.now()
    claimable = Q(status=Job.Status.QUEUED) | Q(status=Job.Status.RUNNING, heartbeat_at__lt=now - JOB_LEASE)
    updated = Job.objects.filter(claimable, id=job_id).update(
        status=Job.Status.RUNNING, started_at=now, heartbeat_at=now, processed=0, errors=[], finished_at=None
    )
    if updated != 1:
        return None
    job = Job.objects.get(id=job_id)
    metrics.JOBS.labels(job.kind, Job.Status.RUNNING).inc()
    return job


def job_begin(*, job_id: int, now: datetime | None = None) -> Job | None:
    """What a task calls first: the claimed Job, or None when there is nothing left to do (the job
    is done, failed or gone). Raises JobBusy when a live worker holds it."""
    job = job_claim(job_id=job_id, now=now)
    if job is not None:
        return job
    if Job.objects.filter(id=job_id, status=Job.Status.RUNNING).exists():
        raise JobBusy(f"Job {job_id} is running elsewhere.")
    return None


def job_advance(
    *, job_id: int, processed: int, errors: list[dict[str, Any]] | None = None, total: int | None = None
) -> None:
    """Record progress and renew the lease. `processed` is absolute (how many rows are done so far),
    so work that is recomputed never counts twice; `errors` ({row, message}) are appended."""
    changes: dict[str, Any] = {"processed": processed, "heartbeat_at": timezone.now()}
    if errors:
        changes["errors"] = CombinedExpression(F("errors"), "||", Value(errors, output_field=JSONField()))
    if total is not None:
        changes["total"] = total
    before = _kind_and_processed(job_id)
    if Job.objects.filter(id=job_id, status=Job.Status.RUNNING).update(**changes) == 1 and before is not None:
        _rows_count(kind=before[0], before=before[1], after=processed)


def _kind_and_processed(job_id: int) -> tuple[str, int] | None:
    return Job.objects.filter(id=job_id).values_list("kind", "processed").first()


def _rows_count(*, kind: str, before: int, after: int) -> None:
    """`exams_job_rows_processed_total`: progress is absolute, the counter takes its increase."""
    if after > before:
        metrics.JOB_ROWS.labels(kind).inc(after - before)


def job_finish(
    *,
    job_id: int,
    status: str,
    processed: int | None = None,
    errors: list[dict[str, Any]] | None = None,
    total: int | None = None,
) -> None:
    """End a running job as done or failed; optional final progress, and errors to append."""
    if status not in (Job.Status.DONE, Job.Status.FAILED):
        raise ValueError(f"A job finishes as done or failed, not {status!r}.")
    now = timezone.now()
    changes: dict[str, Any] = {"status": status, "finished_at": now, "heartbeat_at": now}
    if processed is not None:
        changes["processed"] = processed
    if total is not None:
        changes["total"] = total
    if errors:
        changes["errors"] = CombinedExpression(F("errors"), "||", Value(errors, output_field=JSONField()))
    before = _kind_and_processed(job_id)
    if Job.objects.filter(id=job_id, status=Job.Status.RUNNING).update(**changes) == 1 and before is not None:
        metrics.JOBS.labels(before[0], status).inc()
        if processed is not None:
            _rows_count(kind=before[0], before=before[1], after=processed)


def job_release(*, job_id: int) -> None:
    """Give a running job back to the queue (its worker hit a passing failure and will retry)."""
    Job.objects.filter(id=job_id, status=Job.Status.RUNNING).update(status=Job.Status.QUEUED, heartbeat_at=None)
