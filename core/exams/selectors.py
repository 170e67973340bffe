"""Reads of exams, scoped to who is asking (PRODUCT.md rule 7)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from core.accounts.models import Role, User
from core.audit.models import AuditRecord
from core.audit.services import audit_records
from core.exams.errors import ExamNotFound
from core.exams.models import Attempt, Choice, Exam, Question


def _student_visible(*, student: User) -> Q:
    # Students see every exam of their level that has left draft: published ones to take, closed and
    # graded ones to find their results.
    if student.level_id is None:
        return Q(pk__in=[])
    return Q(level_id=student.level_id) & ~Q(status=Exam.Status.DRAFT)


def exam_queryset_for(*, user: User) -> QuerySet[Exam]:
    """The exams this person may see: a student's level, a doctor's own exams, or all of them for an admin."""
    exams = Exam.objects.select_related("subject", "level", "owner")
    if user.role == Role.ADMIN:
        return exams
    if user.role == Role.DOCTOR:
        return exams.filter(owner_id=user.id)
    if user.role == Role.STUDENT:
        exams = exams.filter(_student_visible(student=user)).prefetch_related(
            Prefetch("attempts", queryset=Attempt.objects.filter(student_id=user.id), to_attr="my_attempts")
        )
        # A degree exists (grading.Degree, reached by its related name) and the results are released.
        has_degree = Exists(Exam.objects.filter(pk=OuterRef("pk"), degrees__student_id=user.id))
        # With review "none" a student sees nothing beyond the exam being graded: no result.
        released = Q(results_released=True) & ~Q(review=Exam.Review.NONE)
        return exams.annotate(result_available=has_degree & released)
    return exams.none()


def exam_list(*, user: User) -> QuerySet[Exam]:
    return exam_queryset_for(user=user)


def exam_get(*, user: User, exam_id: int, with_questions: bool = True) -> Exam:
    """One exam this person may see, with its questions and choices; ExamNotFound otherwise."""
    exams = exam_queryset_for(user=user)
    if with_questions:
        exams = exams.prefetch_related(
            Prefetch("questions", queryset=Question.objects.prefetch_related(Prefetch("choices", Choice.objects.all())))
        )
    exam = exams.filter(pk=exam_id).first()
    if exam is None:
        raise ExamNotFound()
    return exam


def exam_visible_to_student(*, student_id: int, exam_id: int) -> bool:
    student = User.objects.filter(pk=student_id, role=Role.STUDENT, is_active=True).first()
    if student is None:
        return False
    return Exam.objects.filter(_student_visible(student=student), pk=exam_id).exists()


def attempt_of(*, exam: Exam) -> Attempt | None:
    """The attempt prefetched for a student by `exam_queryset_for`."""
    attempts = getattr(exam, "my_attempts", None)
    return attempts[0] if attempts else None


def audit_records_for(*, user: User, exam_id: int | None = None) -> QuerySet[AuditRecord]:
    """GET /api/audit: newest first; an admin reads every record, a doctor those of their own exams. Asking
    for one exam the caller may not see is ExamNotFound. (Here, not in core.audit: the audit app sits below
    the apps that know who owns an exam.)"""
    if exam_id is not None and not exam_queryset_for(user=user).filter(pk=exam_id).exists():
        raise ExamNotFound()
    if user.role == Role.ADMIN:
        return audit_records(exam_id=exam_id)
    owned = Exam.objects.filter(owner_id=user.id).values("id") if user.role == Role.DOCTOR else Exam.objects.none()
    return audit_records(exam_ids=owned, exam_id=exam_id)
