"""Every read of the gradebook. A doctor sees only their own subjects and exams; an admin sees all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, F, Func, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from core.accounts.models import Role, Subject, User
from core.common.errors import NotFound
from core.common.statements import Statement
from core.exams.models import Exam
from core.gradebook.models import MarkrScan, SubjectGrade
from core.grading.models import Degree
from core.grading.statistics import Summary, percentage_summary, summary, summary_from_row


def subjects_visible_to(*, user: User) -> QuerySet[Subject]:
    subjects = Subject.objects.all()
    if user.role == Role.ADMIN:
        return subjects
    if user.role == Role.DOCTOR:
        return subjects.filter(doctors=user)
    return subjects.none()


def subject_visible_get(*, user: User, name: str) -> Subject:
    subject = subjects_visible_to(user=user).filter(name=name).first()
    if subject is None:
        raise NotFound(f"No subject named {name!r}.")
    return subject


@dataclass(frozen=True)
class SubjectGradeSummary:
    subject: str
    student_count: int
    average_grade: float | None
    median_grade: float | None


def subject_grade_summary(*, user: User, subject_name: str) -> SubjectGradeSummary:
    """Count, mean and true median (linear interpolation) of a subject's grades, in one query."""
    subject = subject_visible_get(user=user, name=subject_name)
    figures = summary(SubjectGrade.objects.filter(subject=subject), "grade")
    return SubjectGradeSummary(
        subject=subject.name, student_count=figures.count, average_grade=figures.mean, median_grade=figures.p50
    )


@dataclass(frozen=True)
class StudentGrades:
    student_id: str
    grades: dict[str, int]
    average_grade: float | None


def student_grades(*, user: User, student_number: str) -> StudentGrades:
    """A student's grade per subject and their mean. A doctor sees the grades of their own subjects only.
    The caller checks that a student reads only their own number."""
    student = User.objects.filter(student_number=student_number, role=Role.STUDENT).first()
    if student is None:
        raise NotFound(f"No student with number {student_number!r}.")
    rows = SubjectGrade.objects.filter(student=student)
    if user.role != Role.STUDENT:
        rows = rows.filter(subject__in=subjects_visible_to(user=user))
    grades = dict(rows.order_by("subject__name").values_list("subject__name", "grade"))
    average = sum(grades.values()) / len(grades) if grades else None
    return StudentGrades(student_id=student_number, grades=grades, average_grade=average)


def exams_visible_to(*, user: User) -> QuerySet[Exam]:
    exams = Exam.objects.all()
    if user.role == Role.ADMIN:
        return exams
    if user.role == Role.DOCTOR:
        return exams.filter(owner=user)
    return exams.none()


# The Markr API's aggregate is called in tight loops: its statement is compiled once per process
# (core/common/statements.py), one for an admin (every exam) and one for a doctor (their own).
_aggregate_of_test = Statement(
    lambda code: percentage_summary(Degree.objects.filter(exam__code=code)), code="probe: no such test"
)
_aggregate_of_owners_test = Statement(
    lambda code, owner: percentage_summary(Degree.objects.filter(exam__code=code, exam__owner_id=owner)),
    code="probe: no such test",
    owner=-1,
)


def test_aggregate(*, user: User, test_id: str) -> Summary:
    """The percentage summary of a Markr test (an exam by code). One SQL statement when the test has
    degrees; a second, only when it has none, to tell an empty test (count 0) from an unknown one (404)."""
    if user.role == Role.ADMIN:
        figures = summary_from_row(_aggregate_of_test.fetchone(code=test_id))
    elif user.role == Role.DOCTOR:
        figures = summary_from_row(_aggregate_of_owners_test.fetchone(code=test_id, owner=user.pk))
    else:
        figures = percentage_summary(Degree.objects.none())
    if figures.count == 0 and not exams_visible_to(user=user).filter(code=test_id).exists():
        raise NotFound(f"No test with id {test_id!r}.")
    return figures


def _degrees_visible_to(*, user: User) -> QuerySet[Degree]:
    """The degrees a caller may read through the Markr API: an admin's all, a doctor's (or their API key's)
    those of their own exams, nobody else's any (as the aggregate)."""
    degrees = Degree.objects.all()
    if user.role == Role.ADMIN:
        return degrees
    return degrees.filter(exam__owner=user) if user.role == Role.DOCTOR else degrees.none()


def markr_results(*, user: User, test_id: str | None = None) -> QuerySet[Degree, Any]:
    """GET /results: the stored results the caller may see (of one test when `test_id` is given), by test id
    and student number. The names and scan time are the Markr document's (MarkrScan); a result that came
    another way (online grading, a degrees file) has no scan time, and its names are the student's full
    name split at the first space."""
    degrees = _degrees_visible_to(user=user)
    if test_id is not None:
        degrees = degrees.filter(exam__code=test_id)
    scan = MarkrScan.objects.filter(student_id=OuterRef("student_id"), exam_id=OuterRef("exam_id"))
    full_name = F("student__full_name")
    first_word = Func(full_name, Value(" "), Value(1), function="split_part", output_field=CharField())
    the_rest = Func(full_name, Value(r"^\S*\s*"), Value(""), function="regexp_replace", output_field=CharField())
    return degrees.order_by("exam__code", "student__student_number", "student_id").values(
        "marks_available",
        "marks_obtained",
        test_id=F("exam__code"),
        student_number=F("student__student_number"),
        first_name=Coalesce(Subquery(scan.values("first_name")[:1]), first_word),
        last_name=Coalesce(Subquery(scan.values("last_name")[:1]), the_rest),
        scanned_on=Subquery(scan.values("scanned_on")[:1]),
    )
