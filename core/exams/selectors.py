"""Reads of exams, scoped to who is asking (docs/product.md rule 7)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from core.accounts.models import Role, User
from core.answers.store import SaveEvent, answer_store
from core.audit.models import AuditRecord
from core.audit.services import audit_records
from core.exams.errors import AttemptNotFound, ExamNotFound
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


# --- for the exam's owner (and admins) -------------------------------------------------------


def exam_for_staff(*, user: User, exam_id: int, lock: bool = False) -> Exam:
    """An exam the user manages (their own; any for an admin); ExamNotFound otherwise. With `lock`, the row is
    locked for the caller's transaction (SELECT ... FOR UPDATE), for services that change the exam."""
    exams = Exam.objects.select_for_update() if lock else Exam.objects.all()
    exams = exams.filter(pk=exam_id)
    if user.role != Role.ADMIN:
        exams = exams.filter(owner_id=user.id)
    exam = exams.first()
    if exam is None:
        raise ExamNotFound()
    return exam


def attempt_list(*, user: User, exam_id: int) -> QuerySet[Attempt]:
    """Every attempt of an exam the user manages, by student number."""
    exam = exam_for_staff(user=user, exam_id=exam_id)
    return Attempt.objects.filter(exam_id=exam.id).select_related("student").order_by("student__student_number", "id")


def attempt_of_student(*, user: User, exam_id: int, student_number: str) -> Attempt:
    """One student's attempt at an exam the user manages; ExamNotFound or AttemptNotFound (404) otherwise."""
    exam = exam_for_staff(user=user, exam_id=exam_id)
    attempt = (
        Attempt.objects.filter(exam_id=exam.id, student__student_number=student_number)
        .select_related("student")
        .first()
    )
    if attempt is None:
        raise AttemptNotFound()
    return attempt


def attempt_history(*, user: User, exam_id: int, student_number: str) -> list[SaveEvent]:
    """Every acknowledged save of the student, in the order the server accepted them (the answer store's history)."""
    attempt = attempt_of_student(user=user, exam_id=exam_id, student_number=student_number)
    return answer_store().history(exam_id=attempt.exam_id, student_id=attempt.student_id)


def attempt_progress(*, exam_id: int, student_ids: list[int]) -> dict[int, tuple[int, datetime | None]]:
    """Student id -> (questions answered, last saved_at), read concurrently from the answer store."""
    found = answer_store().for_exam(exam_id=exam_id, student_ids=student_ids)
    return {
        student_id: (len(answers), max((a.saved_at for a in answers), default=None))
        for student_id, answers in found.items()
    }


# Students whose last save is at most this old count as active on the exam's dashboard.
ACTIVE_WINDOW = timedelta(minutes=1)
# The dashboard reads the last save of at most this many running attempts from the answer store (one page view).
ACTIVE_READ_MAX = 5000


def attempt_counts(*, exam: Exam, now: datetime) -> dict[str, int | None]:
    """For the exam's dashboard: attempts `started`, `finished` (finished, or past deadline + grace), `running`
    (can still save), and `active` (running, with a save in the last minute, read from the answer store; None when
    more than ACTIVE_READ_MAX are running, to keep a page view cheap)."""
    from core.answers.store import answer_store

    attempts = Attempt.objects.filter(exam=exam)
    can_save = Q(finished_at__isnull=True, deadline__gt=now - timedelta(seconds=exam.grace_seconds))
    started = attempts.count()
    running_ids = list(attempts.filter(can_save).values_list("student_id", flat=True)[: ACTIVE_READ_MAX + 1])
    active: int | None = None
    if len(running_ids) <= ACTIVE_READ_MAX:
        saved = answer_store().for_exam(exam_id=exam.pk, student_ids=running_ids) if running_ids else {}
        recent = now - ACTIVE_WINDOW
        active = sum(1 for answers in saved.values() if answers and max(a.saved_at for a in answers) >= recent)
    running = attempts.filter(can_save).count()
    return {"started": started, "running": running, "finished": started - running, "active": active}
