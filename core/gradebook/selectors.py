"""Every read of the gradebook. A doctor sees only their own subjects and exams; an admin sees all."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from core.accounts.models import Role, Subject, User
from core.common.errors import NotFound
from core.exams.models import Exam
from core.gradebook.models import SubjectGrade
from core.grading.models import Degree
from core.grading.statistics import Summary, percentage_summary, summary


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


def test_aggregate(*, user: User, test_id: str) -> Summary:
    """The percentage summary of a Markr test (an exam by code). One SQL statement when the test has
    degrees; a second, only when it has none, to tell an empty test (count 0) from an unknown one (404)."""
    degrees = Degree.objects.filter(exam__code=test_id)
    if user.role != Role.ADMIN:
        degrees = degrees.filter(exam__owner=user) if user.role == Role.DOCTOR else degrees.none()
    figures = percentage_summary(degrees)
    if figures.count == 0 and not exams_visible_to(user=user).filter(code=test_id).exists():
        raise NotFound(f"No test with id {test_id!r}.")
    return figures
