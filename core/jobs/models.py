from django.conf import settings
from django.db import models


class Job(models.Model):
    """Background work a person waits for: grading an exam, or importing a file."""

    class Kind(models.TextChoices):
        GRADE_EXAM = "grade_exam", "Grade an exam"
        GRADE_STUDENT = "grade_student", "Grade one student"
        IMPORT_SUBJECT_GRADES = "subject_grades", "Import subject grades"
        IMPORT_DEGREES = "degrees", "Import degrees"
        IMPORT_MARKR = "markr", "Import Markr XML"
        IMPORT_STUDENTS = "students", "Import students"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    # What the job works on: {"exam_id": 1}, {"file": "imports/..."}; set by the service that queues it.
    params = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set when claimed and on every advance. A running job whose heartbeat is older than the lease
    # lost its worker (kill -9, OOM) and may be claimed again: see services.job_claim.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"


class JobChunk(models.Model):
    """A part of a job that one task does, e.g. the students of one grading chunk, so that several workers work
    on one job at once. The job's `processed` is the sum of its chunks' (core.jobs.services.job_chunk_advance).

    A running chunk holds a lease (`heartbeat_at`, renewed by every advance) like a job; a chunk whose worker died
    is sent again once its lease is over (core.jobs.services.job_chunks_stale), long before the broker would
    redeliver its message. For a queued chunk `heartbeat_at` is when it was last sent to the queue."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    params = models.JSONField(default=dict, blank=True)  # what this chunk works on: {"student_ids": [...]}
    size = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    claims = models.PositiveIntegerField(default=0)  # how many times a worker took it (> 1: it was redone)

    class Meta:
        ordering = ["job_id", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="jobs_chunk_job_index_unique")]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="jobs_chunk_status_heartbeat")]

    def __str__(self) -> str:
        return f"chunk {self.index} of job #{self.job_id} ({self.status})"
