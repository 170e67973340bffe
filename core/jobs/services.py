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

from django.db.models import Exists, F, JSONField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.common import metrics
from core.jobs.models import Job, JobChunk

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


# --- chunks: one job done by several workers at once ----------------------------------------------------------
# A chunk's lease is a third of the job's: a chunk whose worker died is sent again within CHUNK_LEASE plus one
# sweep (CHUNK_SWEEP, a beat task), so it is redone well within the job's own lease, whatever the broker's
# visibility timeout (about 70 minutes) would do with the dead worker's message.
CHUNK_LEASE = JOB_LEASE / 3
CHUNK_SWEEP = timedelta(seconds=10)


def job_chunks_create(*, job_id: int, parts: list[dict[str, Any]], sizes: list[int]) -> list[int]:
    """Split a claimed job into chunks (the previous chunks of a job that starts over are dropped, so a task of
    theirs still in the queue finds nothing to do). Returns the chunk ids, in order, to send to the queue."""
    JobChunk.objects.filter(job_id=job_id).delete()
    now = timezone.now()
    chunks = JobChunk.objects.bulk_create(
        JobChunk(job_id=job_id, index=i, params=p, size=n, heartbeat_at=now)
        for i, (p, n) in enumerate(zip(parts, sizes, strict=True))
    )
    return [c.id for c in chunks]


def job_chunk_claim(*, chunk_id: int, now: datetime | None = None) -> JobChunk | None:
    """Take a chunk with ONE conditional UPDATE: a queued one, or a running one whose lease is over, of a job that
    is still running. None when it is done, held by a live worker, gone, or its job is over."""
    now = now or timezone.now()
    claimable = Q(status=JobChunk.Status.QUEUED) | Q(status=JobChunk.Status.RUNNING, heartbeat_at__lt=now - CHUNK_LEASE)
    updated = JobChunk.objects.filter(claimable, id=chunk_id, job__status=Job.Status.RUNNING).update(
        status=JobChunk.Status.RUNNING, heartbeat_at=now, processed=0, claims=F("claims") + 1
    )
    if updated != 1:
        return None
    return JobChunk.objects.select_related("job").get(id=chunk_id)


def _job_progress(*, job_id: int, now: datetime) -> None:
    """The job's processed = the sum of its chunks' (absolute, so a chunk redone never counts twice); renews the
    job's lease."""
    chunks_sum = (
        JobChunk.objects.filter(job_id=OuterRef("pk")).values("job_id").annotate(s=Sum("processed")).values("s")
    )
    Job.objects.filter(id=job_id, status=Job.Status.RUNNING).update(
        processed=Coalesce(Subquery(chunks_sum), Value(0)), heartbeat_at=now
    )


def job_chunk_advance(*, chunk_id: int, processed: int) -> None:
    """Record a chunk's progress (absolute) and renew its lease and its job's."""
    now = timezone.now()
    job_id = JobChunk.objects.filter(id=chunk_id).values_list("job_id", flat=True).first()
    if job_id is not None and JobChunk.objects.filter(id=chunk_id, status=JobChunk.Status.RUNNING).update(
        processed=processed, heartbeat_at=now
    ):
        _job_progress(job_id=job_id, now=now)


def job_chunk_finish(*, chunk_id: int, processed: int) -> bool:
    """Mark a chunk done; True when every chunk of its job is done (the caller then finishes the job)."""
    now = timezone.now()
    job_id = JobChunk.objects.filter(id=chunk_id).values_list("job_id", flat=True).first()
    if job_id is None:
        return False
    JobChunk.objects.filter(id=chunk_id, status=JobChunk.Status.RUNNING).update(
        status=JobChunk.Status.DONE, processed=processed, heartbeat_at=now
    )
    _job_progress(job_id=job_id, now=now)
    return not JobChunk.objects.filter(job_id=job_id).exclude(status=JobChunk.Status.DONE).exists()


def job_chunk_release(*, chunk_id: int) -> None:
    """Give a running chunk back to the queue (its worker hit a passing failure and its task will retry)."""
    JobChunk.objects.filter(id=chunk_id, status=JobChunk.Status.RUNNING).update(
        status=JobChunk.Status.QUEUED, heartbeat_at=timezone.now()
    )


def job_chunks_stale(*, kind: str, now: datetime | None = None) -> list[int]:
    """Chunks of running jobs of this kind that lost their worker: running with a lease that is over, or queued and
    sent more than a lease ago (a message a dead worker had prefetched). Each is marked as sent now (queued, with a
    fresh heartbeat), so the next sweep leaves it alone for a lease; returns their ids, to send to the queue."""
    now = now or timezone.now()
    stale = JobChunk.objects.filter(
        job__status=Job.Status.RUNNING,
        job__kind=kind,
        status__in=(JobChunk.Status.QUEUED, JobChunk.Status.RUNNING),
        heartbeat_at__lt=now - CHUNK_LEASE,
    )
    sent = []
    for chunk_id in stale.values_list("id", flat=True):
        # one conditional UPDATE each: a worker that renewed the lease in the meantime keeps its chunk
        if JobChunk.objects.filter(id=chunk_id, heartbeat_at__lt=now - CHUNK_LEASE).update(
            status=JobChunk.Status.QUEUED, heartbeat_at=now
        ):
            sent.append(chunk_id)
    return sent


def jobs_stale(*, kind: str, now: datetime | None = None) -> list[int]:
    """Running jobs of this kind whose lease is over and that have no chunk (their worker died before it split
    them): released to the queue, and their ids returned, to send their task again."""
    now = now or timezone.now()
    stale = Job.objects.filter(kind=kind, status=Job.Status.RUNNING, heartbeat_at__lt=now - JOB_LEASE).exclude(
        Exists(JobChunk.objects.filter(job_id=OuterRef("pk")))
    )
    released = []
    for job_id in stale.values_list("id", flat=True):
        if Job.objects.filter(id=job_id, status=Job.Status.RUNNING, heartbeat_at__lt=now - JOB_LEASE).update(
            status=Job.Status.QUEUED, heartbeat_at=None
        ):
            released.append(job_id)
    return released
