from django.conf import settings
from django.db import models
from django.db.models import F, FloatField
from django.db.models.functions import Cast


class Degree(models.Model):
    """One per (student, exam). Recomputed, never incremented (PRODUCT.md rule 3)."""

    class Source(models.TextChoices):
        ONLINE = "online", "Online"
        MARKR = "markr", "Markr"
        UPLOAD = "upload", "Upload"
        MANUAL = "manual", "Manual"

    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="degrees")
    exam = models.ForeignKey("exams.Exam", on_delete=models.CASCADE, related_name="degrees")
    marks_obtained = models.PositiveIntegerField()
    marks_available = models.PositiveIntegerField()
    # Kept by PostgreSQL itself, so that SQL merges (the Markr max rule) can never leave it stale.
    percentage = models.GeneratedField(
        expression=Cast(F("marks_obtained"), FloatField()) * 100.0 / Cast(F("marks_available"), FloatField()),
        output_field=FloatField(),
        db_persist=True,
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    graded_at = models.DateTimeField()

    class Meta:
        ordering = ["exam_id", "student_id"]
        constraints = [
            models.UniqueConstraint(fields=["student", "exam"], name="grading_degree_one_per_student_exam"),
            models.CheckConstraint(condition=models.Q(marks_available__gt=0), name="grading_degree_available_positive"),
            models.CheckConstraint(
                condition=models.Q(marks_obtained__lte=F("marks_available")),
                name="grading_degree_obtained_le_available",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student_id}@{self.exam_id}: {self.marks_obtained}/{self.marks_available}"
