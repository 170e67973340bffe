"""CSV/XLSX import and export of degrees in the admin (django-import-export).

A row is keyed by (exam code, student_number). Import goes only into `paper` exams (docs/product.md rule 4: an
online exam's degrees come only from grading), and a doctor only into their own exams. When a (student, exam)
repeats, in the file or against what is stored, the highest marks_obtained and the highest marks_available
are kept, each on its own (the Markr rule); a row for an overridden degree is skipped. An unknown student
number creates the student."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from import_export import fields, resources, widgets

from core.accounts.models import Role, User
from core.accounts.services import student_ensure
from core.accounts.validators import STUDENT_NUMBER_MESSAGE, STUDENT_NUMBER_RE
from core.exams.models import Exam
from core.grading.models import Degree


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():  # spreadsheets turn "2299" into 2299.0
        value = int(value)
    return "" if value is None else str(value).strip()


class PaperExamWidget(widgets.ForeignKeyWidget):
    def __init__(self) -> None:
        super().__init__(Exam, field="code")
        self.user: User | None = None

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Exam:
        code = _cell_text(value)
        exams = Exam.objects.all()
        if self.user is not None and not (self.user.is_superuser or self.user.role == Role.ADMIN):
            exams = exams.filter(owner=self.user)
        exam = exams.filter(code=code).first()
        if exam is None:
            raise ValueError(f"No exam {code!r} of yours.")
        if exam.kind != Exam.Kind.PAPER:
            raise ValueError(f"Exam {code!r} is {exam.kind}: degrees are imported only into paper exams.")
        return exam


class StudentNumberWidget(widgets.ForeignKeyWidget):
    def __init__(self) -> None:
        super().__init__(User, field="student_number")

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> User:
        number = _cell_text(value)
        if not STUDENT_NUMBER_RE.fullmatch(number):
            raise ValueError(STUDENT_NUMBER_MESSAGE)
        return student_ensure(student_number=number, full_name=_cell_text((row or {}).get("full_name")))


class DegreeResource(resources.ModelResource):
    exam = fields.Field(attribute="exam", column_name="exam", widget=PaperExamWidget())
    student_number = fields.Field(attribute="student", column_name="student_number", widget=StudentNumberWidget())
    full_name = fields.Field(attribute="student__full_name", column_name="full_name", readonly=True)
    # A decimal since partial credit (four places): an integer widget would cut 4.5 to 4 on import.
    marks_obtained = fields.Field(
        attribute="marks_obtained", column_name="marks_obtained", widget=widgets.DecimalWidget()
    )
    marks_available = fields.Field(
        attribute="marks_available", column_name="marks_available", widget=widgets.IntegerWidget()
    )
    percentage = fields.Field(attribute="percentage", column_name="percentage", readonly=True)
    source = fields.Field(attribute="source", column_name="source", readonly=True)
    graded_at = fields.Field(attribute="graded_at", column_name="graded_at", readonly=True)

    class Meta:
        model = Degree
        fields = (
            "exam",
            "student_number",
            "full_name",
            "marks_obtained",
            "marks_available",
            "percentage",
            "source",
            "graded_at",
        )
        export_order = fields
        import_id_fields = ("exam", "student_number")
        clean_model_instances = True
        use_transactions = True

    def __init__(self, user: User | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fields["exam"].widget.user = user

    def dehydrate_percentage(self, degree: Degree) -> float | None:
        # For people: two decimals (the API keeps the exact figure).
        return None if degree.percentage is None else round(float(degree.percentage), 2)

    def skip_row(self, instance: Degree, original: Any, row: Any, import_validation_errors: Any = None) -> bool:
        # An override stays until its doctor removes it (docs/product.md rule 3), as in grading.degrees_merge.
        if original is not None and original.pk is not None and original.override_at is not None:
            return True
        return bool(super().skip_row(instance, original, row, import_validation_errors))

    def import_instance(self, instance: Degree, row: Any, **kwargs: Any) -> None:
        super().import_instance(instance, row, **kwargs)
        stored = Degree.objects.filter(pk=instance.pk).values("marks_obtained", "marks_available").first()
        if stored:  # the Markr rule: the highest of each, on its own
            instance.marks_obtained = max(instance.marks_obtained, stored["marks_obtained"])
            instance.marks_available = max(instance.marks_available, stored["marks_available"])
        instance.source = Degree.Source.UPLOAD
        instance.graded_at = timezone.now()

    def export(self, queryset: Any = None, **kwargs: Any) -> Any:
        if queryset is None:
            queryset = Degree.objects.all()
        queryset = queryset.select_related("student", "exam").order_by("exam__code", "student__student_number")
        return super().export(queryset=queryset, **kwargs)
