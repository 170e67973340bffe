"""Deadlines of attempts that are already running: accommodations, changes of the exam's times, reopens, and
the rule that results are released only once nobody can save (docs/exams.md, "Deadlines").

The rule itself is `Attempt.deadline_for`; everything here applies it. PostgreSQL keeps each attempt's
deadline; the hot path reads it from the cached attempt window, which every change here drops (one student)
or makes stale (the exam's `timing_version`, for a change of closes_at or duration_minutes), so a save sees
the new deadline as soon as the change commits, with no extra query on a warm save.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet

from core.accounts.models import Role, User
from core.audit.services import audit_record
from core.common.errors import Conflict
from core.exams.caching import attempt_window_forget
from core.exams.errors import (
    AccommodationNotFound,
    AttemptNotFound,
    ExamInvalid,
    ExamNotClosed,
    ResultsReleased,
    StudentNotInExam,
)
from core.exams.models import Accommodation, Attempt, Exam
from core.exams.selectors import exam_for_staff

# "Nobody can say when saving ends": a published exam without closes_at.
FOREVER = datetime.max.replace(tzinfo=UTC)


# --- the rule, applied -----------------------------------------------------------------------


def attempt_deadline(*, exam: Exam, attempt: Attempt, accommodation: Accommodation | None) -> datetime:
    """The deadline that `Attempt.deadline_for` gives this attempt now."""
    return Attempt.deadline_for(
        exam=exam,
        started_at=attempt.started_at,
        extra_minutes=accommodation.extra_minutes if accommodation else 0,
        closes_at_for_them=accommodation.closes_at if accommodation else None,
        reopened_until=attempt.reopened_until,
    )


def deadline_moved(*, old: datetime, new: datetime, now: datetime) -> datetime:
    """A change never ends a running attempt before the moment of the change, nor moves a deadline that has
    passed further into the past: the result is never earlier than min(old, now)."""
    return max(new, min(old, now))


def attempt_deadlines_refresh(*, exam: Exam, now: datetime, student_id: int | None = None) -> int:
    """Recompute the stored deadline of every unfinished attempt of the exam (or of one student) from the
    current exam and accommodations. Returns how many moved. Call it inside the change's transaction."""
    attempts = Attempt.objects.filter(exam_id=exam.id, finished_at__isnull=True)
    accommodations = Accommodation.objects.filter(exam_id=exam.id)
    if student_id is not None:
        attempts = attempts.filter(student_id=student_id)
        accommodations = accommodations.filter(student_id=student_id)
    by_student = {a.student_id: a for a in accommodations}
    moved = []
    for attempt in attempts.select_for_update():
        new = attempt_deadline(exam=exam, attempt=attempt, accommodation=by_student.get(attempt.student_id))
        new = deadline_moved(old=attempt.deadline, new=new, now=now)
        if new != attempt.deadline:
            attempt.deadline = new
            moved.append(attempt)
    Attempt.objects.bulk_update(moved, ["deadline"], batch_size=500)
    return len(moved)


def exam_timing_changed(*, exam: Exam, now: datetime) -> None:
    """closes_at or duration_minutes changed: move every running attempt's deadline, and the exam's
    timing_version, which makes every cached attempt window of the exam stale (caching.py).

    The exam row is locked first: an attempt being created waits for that lock (its foreign key takes a key
    share on the row), and attempt_start applies the rule again once its row is in, so no attempt slips
    between the old and the new times."""
    list(Exam.objects.select_for_update().filter(pk=exam.pk).values_list("pk"))
    Exam.objects.filter(pk=exam.pk).update(timing_version=F("timing_version") + 1)
    attempt_deadlines_refresh(exam=exam, now=now)


def closes_at_for(*, exam: Exam, accommodation: Accommodation | None) -> datetime | None:
    """When the exam closes for a student: their own closes_at, or the exam's + their extra minutes."""
    if accommodation is None:
        return exam.closes_at
    if accommodation.closes_at is not None:
        return accommodation.closes_at
    return exam.closes_at + timedelta(minutes=accommodation.extra_minutes) if exam.closes_at else None


def exam_saves_until(*, exam: Exam) -> datetime | None:
    """The last moment at which any attempt of the exam can still save (grace included): a student who has
    not started yet (until closes_at + the largest extension), a running attempt, or a reopened one.
    FOREVER for a published exam without closes_at; None when nobody can save any more."""
    ends: list[datetime] = []
    if exam.status == Exam.Status.PUBLISHED:
        if exam.closes_at is None:
            return FOREVER
        ends.append(exam.closes_at)
        for accommodation in Accommodation.objects.filter(exam_id=exam.id):
            closes = closes_at_for(exam=exam, accommodation=accommodation)
            if closes is not None:
                ends.append(closes)
    # A running attempt can outlast closes_at (a change never ends one early; a reopen); on a closed or graded
    # exam only reopened attempts may still save.
    running = Attempt.objects.filter(exam_id=exam.id, finished_at__isnull=True)
    if exam.status != Exam.Status.PUBLISHED:
        running = running.filter(reopened_until__isnull=False)
    latest = running.order_by("-deadline").values_list("deadline", flat=True).first()
    if latest is not None:
        ends.append(latest)
    return max(ends) + timedelta(seconds=exam.grace_seconds) if ends else None


def exam_can_still_save(*, exam: Exam, now: datetime) -> bool:
    until = exam_saves_until(exam=exam)
    return until is not None and now <= until


def exam_release_check(*, exam: Exam, now: datetime) -> None:
    """docs/product.md rule 9: 409 exam_not_closed while results are (to be) released and an attempt can save."""
    if exam.results_released and exam_can_still_save(exam=exam, now=now):
        until = exam_saves_until(exam=exam)
        when = "" if until is None or until == FOREVER else f" (until {until.isoformat()})"
        raise ExamNotClosed(f"An attempt of this exam can still save{when}; release the results after that.")


# --- accommodations --------------------------------------------------------------------------


def _student_in_level(*, exam: Exam, student_number: str) -> User:
    level_id = exam.level_id
    student = None
    if level_id is not None:
        student = User.objects.filter(role=Role.STUDENT, student_number=student_number, level_id=level_id).first()
    if student is None:
        raise StudentNotInExam(f"No student {student_number!r} in this exam's level.")
    return student


def _released_guard(*, exam: Exam) -> None:
    if exam.results_released:
        raise ResultsReleased()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _accommodation_detail(accommodation: Accommodation | None) -> dict[str, Any] | None:
    if accommodation is None:
        return None
    return {"extra_minutes": accommodation.extra_minutes, "closes_at": _iso(accommodation.closes_at)}


@transaction.atomic
def accommodation_set(
    *, user: User, exam_id: int, student_number: str, extra_minutes: int, closes_at: datetime | None, now: datetime
) -> Accommodation:
    """Give one student of the exam's level extra time (and optionally a later closing time). It applies to an
    attempt already running at once. 404 for an exam the user may not manage or a student not in its level;
    422 for a closes_at before the exam's; 409 results_released once results are out."""
    exam = exam_for_staff(user=user, exam_id=exam_id, lock=True)
    student = _student_in_level(exam=exam, student_number=student_number)
    if closes_at is not None and exam.closes_at is not None and closes_at < exam.closes_at:
        raise ExamInvalid(
            "An accommodation gives time; it cannot close the exam earlier for a student.",
            fields={"closes_at": [f"Must not be before the exam's closes_at ({exam.closes_at.isoformat()})."]},
        )
    _released_guard(exam=exam)
    accommodation = Accommodation.objects.filter(exam_id=exam.id, student_id=student.id).first()
    previous = _accommodation_detail(accommodation)
    if accommodation is None:
        accommodation = Accommodation(exam=exam, student=student)
    accommodation.extra_minutes, accommodation.closes_at = extra_minutes, closes_at
    try:
        with transaction.atomic():
            accommodation.save()
    except IntegrityError as exc:  # set twice at once; the exam row lock makes this all but impossible
        raise Conflict("This accommodation was being changed at the same time; send it again.") from exc
    attempt_deadlines_refresh(exam=exam, now=now, student_id=student.id)
    attempt_window_forget(exam_id=exam.id, student_id=student.id)
    audit_record(
        actor=user,
        action="accommodation.set",
        exam=exam,
        detail={
            "student_number": student_number,
            "extra_minutes": extra_minutes,
            "closes_at": _iso(closes_at),
            "previous": previous,
        },
    )
    accommodation.student = student
    return accommodation


@transaction.atomic
def accommodation_remove(*, user: User, exam_id: int, student_number: str, now: datetime) -> None:
    """Take a student's accommodation away. A running attempt keeps at least until the moment of the change."""
    exam = exam_for_staff(user=user, exam_id=exam_id, lock=True)
    student = _student_in_level(exam=exam, student_number=student_number)
    accommodation = Accommodation.objects.filter(exam_id=exam.id, student_id=student.id).first()
    if accommodation is None:
        raise AccommodationNotFound()
    previous = _accommodation_detail(accommodation)
    accommodation.delete()
    attempt_deadlines_refresh(exam=exam, now=now, student_id=student.id)
    attempt_window_forget(exam_id=exam.id, student_id=student.id)
    audit_record(
        actor=user,
        action="accommodation.removed",
        exam=exam,
        detail={"student_number": student_number, "previous": previous},
    )


def accommodation_list(*, user: User, exam_id: int) -> QuerySet[Accommodation]:
    exam = exam_for_staff(user=user, exam_id=exam_id)
    return Accommodation.objects.filter(exam_id=exam.id).select_related("student").order_by("student__student_number")


# --- reopen ----------------------------------------------------------------------------------


@transaction.atomic
def attempt_reopen(
    *, user: User, exam_id: int, student_number: str, extra_minutes: int, reason: str, now: datetime
) -> Attempt:
    """After an incident (a power cut in the hall): a finished or expired attempt can save again until
    now + extra_minutes, even if the exam has closed since. Recorded with who, when and why."""
    exam = exam_for_staff(user=user, exam_id=exam_id, lock=True)
    student = _student_in_level(exam=exam, student_number=student_number)
    attempt = Attempt.objects.select_for_update().filter(exam_id=exam.id, student_id=student.id).first()
    if attempt is None:
        raise AttemptNotFound()
    _released_guard(exam=exam)
    previous = {"deadline": _iso(attempt.deadline), "finished_at": _iso(attempt.finished_at)}
    attempt.reopened_until = now + timedelta(minutes=extra_minutes)
    attempt.finished_at = None
    accommodation = Accommodation.objects.filter(exam_id=exam.id, student_id=student.id).first()
    attempt.deadline = attempt_deadline(exam=exam, attempt=attempt, accommodation=accommodation)
    attempt.save(update_fields=["reopened_until", "finished_at", "deadline"])
    attempt_window_forget(exam_id=exam.id, student_id=student.id)
    audit_record(
        actor=user,
        action="attempt.reopened",
        exam=exam,
        detail={
            "student_number": student_number,
            "extra_minutes": extra_minutes,
            "reason": reason,
            "reopened_until": _iso(attempt.reopened_until),
            "previous": previous,
        },
    )
    attempt.student = student
    return attempt
