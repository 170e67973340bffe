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
