from django.conf import settings
from django.db import models


class HandIn(models.Model):
    """A student's registration to upload files for a `handin` exam, reached by its upload code."""

    MAX_UPLOADS = 5

    exam = models.ForeignKey("exams.Exam", on_delete=models.CASCADE, related_name="handins")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="handins")
    # 8 characters of [A-Z0-9], from `secrets`; the only thing a student needs to upload.
    upload_code = models.CharField(max_length=8, unique=True)
    uploads_used = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["exam_id", "id"]
        verbose_name = "hand-in"
        constraints = [
            models.UniqueConstraint(fields=["exam", "student"], name="handins_one_per_student_exam"),
            models.CheckConstraint(condition=models.Q(uploads_used__lte=5), name="handins_at_most_5_uploads"),
        ]

    def __str__(self) -> str:
        return f"hand-in {self.upload_code} ({self.student_id}@{self.exam_id})"

    @property
    def uploads_available(self) -> int:
        return self.MAX_UPLOADS - self.uploads_used


class Upload(models.Model):
    """One file handed in. The file lives in the default storage under a key the server made;
    once it is deleted (replaced by a newer upload, or past retention) its metadata stays."""

    class State(models.TextChoices):
        STORED = "stored", "Stored"
        REPLACED = "replaced", "Replaced by a newer upload"
        EXPIRED = "expired", "Expired (past retention)"

    hand_in = models.ForeignKey(HandIn, on_delete=models.CASCADE, related_name="uploads")
    storage_key = models.CharField(max_length=200, unique=True)
    md5 = models.CharField(max_length=32)
    size_bytes = models.PositiveIntegerField()
    # What the server found in the bytes (see core.handins.sniffing), never what the client declared.
    content_type = models.CharField(max_length=100)
    # 9 characters of [a-z0-9], from `secrets`; gives an examiner a download link.
    verification_code = models.CharField(max_length=9, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.STORED, db_index=True)
    # Set once the file is gone from storage; a replaced upload whose delete failed keeps it null
    # until the retention task sweeps it.
    file_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"upload {self.verification_code} ({self.size_bytes} bytes, {self.state})"


class StorageFailure(models.Model):
    """A time the file store did not answer while handling a hand-in (the upload got a 503)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    operation = models.CharField(max_length=20)
    hand_in = models.ForeignKey(HandIn, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.CharField(max_length=500)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.operation}: {self.error}"
