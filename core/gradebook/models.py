from django.conf import settings
from django.db import models


class SubjectGrade(models.Model):
    """A student's overall grade in a subject, 0 to 100. One per (student, subject); last write wins."""

    # No index of its own: the unique (student, subject) index starts with the student and serves every
    # lookup by student, so a second index would only slow each write (B6).
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subject_grades", db_index=False
    )
    subject = models.ForeignKey("accounts.Subject", on_delete=models.CASCADE, related_name="grades")
    grade = models.PositiveSmallIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["subject_id", "student_id"]
        constraints = [
            models.UniqueConstraint(fields=["student", "subject"], name="gradebook_one_grade_per_student_subject"),
            models.CheckConstraint(condition=models.Q(grade__lte=100), name="gradebook_grade_at_most_100"),
        ]

    def __str__(self) -> str:
        return f"{self.student_id} {self.subject_id}: {self.grade}"


class MarkrScan(models.Model):
    """What a Markr document said about one (student, test) beyond the marks, for GET /results: the names as
    scanned and the latest scan time. The marks themselves are the degree's (grading.Degree)."""

    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="markr_scans")
    exam = models.ForeignKey("exams.Exam", on_delete=models.CASCADE, related_name="markr_scans")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    scanned_on = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["exam_id", "student_id"]
        constraints = [models.UniqueConstraint(fields=["student", "exam"], name="gradebook_one_scan_per_result")]

    def __str__(self) -> str:
        return f"{self.student_id}@{self.exam_id} scanned {self.scanned_on}"
