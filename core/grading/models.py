from django.conf import settings
from django.db import models
from django.db.models import F, FloatField
from django.db.models.functions import Cast


class Degree(models.Model):
    """One per (student, exam). Recomputed, never incremented (docs/product.md rule 3)."""

    class Source(models.TextChoices):
        ONLINE = "online", "Online"
        MARKR = "markr", "Markr"
        UPLOAD = "upload", "Upload"
        MANUAL = "manual", "Manual"

    # No index of their own: (student, exam)'s unique constraint leads with the student, and the exam's index
    # is in Meta.indexes, carrying the percentage.
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="degrees", db_index=False
    )
    exam = models.ForeignKey("exams.Exam", on_delete=models.CASCADE, related_name="degrees", db_index=False)
    # Partial credit makes fractions (points x k / n); four places, rounded half up (docs/decisions).
    marks_obtained = models.DecimalField(max_digits=14, decimal_places=4)
    marks_available = models.PositiveIntegerField()
    # Kept by PostgreSQL itself, so that SQL merges (the Markr max rule) can never leave it stale.
    percentage = models.GeneratedField(
        expression=Cast(F("marks_obtained"), FloatField()) * 100.0 / Cast(F("marks_available"), FloatField()),
        output_field=FloatField(),
        db_persist=True,
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    graded_at = models.DateTimeField()
    # A doctor's override (source `manual`): grading and imports leave such a degree as it is. The text
    # columns have database defaults, so the SQL upserts of imports need not name them.
    override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    override_reason = models.TextField(blank=True, default="", db_default="")
    override_at = models.DateTimeField(null=True, blank=True)
    # What the degree was before the override, put back when the override is removed.
    previous_marks_obtained = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    previous_source = models.CharField(max_length=10, choices=Source.choices, blank=True, default="", db_default="")

    class Meta:
        ordering = ["exam_id", "student_id"]
        indexes = [
            # An exam's degrees, with the percentage in the index itself: the aggregate and the statistics
            # (core/grading/statistics.py) read it by an index-only scan, about twice as fast as from the table
            # (docs/benchmarks.md, the aggregate's fixed cost).
            models.Index(fields=["exam"], include=["percentage"], name="grading_degree_exam_percentage"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["student", "exam"], name="grading_degree_one_per_student_exam"),
            models.CheckConstraint(condition=models.Q(marks_available__gt=0), name="grading_degree_available_positive"),
            models.CheckConstraint(
                condition=models.Q(marks_obtained__gte=0), name="grading_degree_obtained_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(marks_obtained__lte=F("marks_available")),
                name="grading_degree_obtained_le_available",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student_id}@{self.exam_id}: {self.marks_obtained}/{self.marks_available}"

    @property
    def is_overridden(self) -> bool:
        return self.override_at is not None
