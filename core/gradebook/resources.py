"""CSV/XLSX import and export of course grades in the admin (django-import-export).

A row is keyed by (student_number, subject name); importing a row that exists replaces its grade (last write
wins), and an unknown student is created. A doctor imports only into the subjects they teach, or a new one, which
they then teach (core.accounts.services.subjects_for_writer, the rule of every road into a subject)."""

from __future__ import annotations

from typing import Any

from import_export import fields, resources, widgets

from core.accounts.models import Subject, User
from core.accounts.services import student_ensure, subject_for_writer, subject_get_or_create
from core.accounts.validators import STUDENT_NUMBER_MESSAGE, STUDENT_NUMBER_RE
from core.common.errors import DomainError
from core.gradebook.models import SubjectGrade


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():  # spreadsheets turn "2299" into 2299.0
        value = int(value)
    return "" if value is None else str(value).strip()


class StudentNumberWidget(widgets.ForeignKeyWidget):
    def __init__(self) -> None:
        super().__init__(User, field="student_number")

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> User:
        number = _cell_text(value)
        if not STUDENT_NUMBER_RE.fullmatch(number):
            raise ValueError(STUDENT_NUMBER_MESSAGE)
        return student_ensure(student_number=number)


class SubjectNameWidget(widgets.ForeignKeyWidget):
    def __init__(self) -> None:
        super().__init__(Subject, field="name")
        self.user: User | None = None

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Subject:
        name = _cell_text(value)
        if not name or len(name) > 100:
            raise ValueError("subject must be a name of 1 to 100 characters.")
        if self.user is None:  # a trusted caller in the process (a script), not a person
            return subject_get_or_create(name=name)
        try:  # accounts' one rule, as POST /grades/submit and background imports
            return subject_for_writer(user=self.user, name=name)
        except DomainError as refusal:
            raise ValueError(refusal.detail) from refusal


class SubjectGradeResource(resources.ModelResource):
    student_number = fields.Field(attribute="student", column_name="student_number", widget=StudentNumberWidget())
    subject = fields.Field(attribute="subject", column_name="subject", widget=SubjectNameWidget())
    grade = fields.Field(attribute="grade", column_name="grade", widget=widgets.IntegerWidget())

    class Meta:
        model = SubjectGrade
        fields = ("student_number", "subject", "grade")
        export_order = ("student_number", "subject", "grade")
        import_id_fields = ("student_number", "subject")
        clean_model_instances = True  # runs the model's checks, including grade <= 100
        skip_unchanged = True
        use_transactions = True

    def __init__(self, user: User | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fields["subject"].widget.user = user

    def export(self, queryset: Any = None, **kwargs: Any) -> Any:
        if queryset is None:
            queryset = SubjectGrade.objects.all()
        queryset = queryset.select_related("student", "subject").order_by("subject__name", "student__student_number")
        return super().export(queryset=queryset, **kwargs)
