"""Every write and rule about exams, attempts and answers. The server owns time: callers pass `now`."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NotRequired, TypedDict

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.accounts.models import Subject, User
from core.accounts.services import level_get_or_create, subject_for_writer, subject_get_or_create
from core.answers.store import NOT_SAVED, AnswerStoreUnavailable, SaveOrigin, StoredAnswer, answer_store
from core.audit.services import audit_record
from core.common import metrics
from core.common.errors import Conflict
from core.exams import selectors
from core.exams.accommodations import attempt_deadlines_refresh, closes_at_for, exam_release_check
from core.exams.caching import (
    AttemptWindow,
    ExamKey,
    attempt_window_remember,
    attempt_with_timing,
    exam_key_invalidate,
    hot_context_get,
)
from core.exams.errors import (
    AnswersInvalid,
    AttemptClosed,
    AttemptNotStarted,
    DrawLocked,
    ExamCodeTaken,
    ExamInvalid,
    ExamNotFound,
    ExamNotOpen,
    QuestionsLocked,
    StatusNotForward,
)
from core.exams.models import Accommodation, Attempt, Choice, Exam, Question
from core.exams.save_rate import save_rate_record
from core.exams.signals import attempt_finished

MAX_ANSWERS_PER_SAVE = 200
MIN_CHOICES = 2


class ChoiceIn(TypedDict):
    text: str
    is_correct: bool
    id: NotRequired[int]


class QuestionIn(TypedDict):
    text: str
    choices: list[ChoiceIn]
    points: NotRequired[int]
    scoring: NotRequired[str]
    id: NotRequired[int]


# --- exams ----------------------------------------------------------------------------------


def _questions_check(questions: Sequence[QuestionIn]) -> None:
    """422 unless every question has two or more choices, one or more of them correct."""
    fields: dict[str, list[str]] = {}
    for index, question in enumerate(questions):
        choices = question["choices"]
        if len(choices) < MIN_CHOICES:
            fields[f"questions[{index}].choices"] = ["A question needs two or more choices."]
        elif not any(choice["is_correct"] for choice in choices):
            fields[f"questions[{index}].choices"] = ["A question needs at least one correct choice."]
    if fields:
        raise ExamInvalid("Some questions are not valid; nothing was saved.", fields=fields)


def _window_check(*, opens_at: datetime | None, closes_at: datetime | None) -> None:
    if opens_at and closes_at and closes_at <= opens_at:
        raise ExamInvalid("The exam must close after it opens.", fields={"closes_at": ["Must be after opens_at."]})


def _draw_check(*, questions_per_attempt: int | None, question_count: int, kind: str) -> None:
    """422 unless a draw of N questions per attempt is between 1 and the number of questions."""
    if questions_per_attempt is None:
        return
    if kind != Exam.Kind.ONLINE:
        raise ExamInvalid(
            "Only online exams draw questions.", fields={"questions_per_attempt": ["Only for kind online."]}
        )
    if not 1 <= questions_per_attempt <= question_count:
        raise ExamInvalid(
            f"questions_per_attempt must be between 1 and the number of questions ({question_count}).",
            fields={"questions_per_attempt": [f"Must be between 1 and {question_count}."]},
        )


def _subject_for(*, name: str, user: User) -> Subject:
    # The one rule (accounts): a doctor writes into the subjects they teach, or names a new one and teaches it.
    return subject_for_writer(user=user, name=name)


def _questions_create(*, exam: Exam, questions: Sequence[QuestionIn], first_position: int = 0) -> None:
    created = Question.objects.bulk_create(
        Question(
            exam=exam,
            text=q["text"],
            points=q.get("points", 1),
            scoring=q.get("scoring", Question.Scoring.ALL_OR_NOTHING),
            position=first_position + i,
        )
        for i, q in enumerate(questions)
    )
    Choice.objects.bulk_create(
        Choice(question=question, text=c["text"], is_correct=c["is_correct"], position=j)
        for question, q in zip(created, questions, strict=True)
        for j, c in enumerate(q["choices"])
    )


@transaction.atomic
def exam_create(
    *,
    user: User,
    code: str,
    title: str,
    subject: str,
    level: str,
    kind: str = Exam.Kind.ONLINE,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    duration_minutes: int = 60,
    grace_seconds: int = 30,
    questions: Sequence[QuestionIn] | None = None,
    shuffle_questions: bool = False,
    shuffle_choices: bool = False,
    questions_per_attempt: int | None = None,
    review: str = Exam.Review.SCORE,
) -> Exam:
    """Create a draft exam owned by `user`, with its questions. Raises ExamCodeTaken (409) and ExamInvalid (422)."""
    _window_check(opens_at=opens_at, closes_at=closes_at)
    questions = questions or []
    if questions and kind != Exam.Kind.ONLINE:
        raise ExamInvalid("Only online exams have questions.", fields={"questions": ["Only for kind online."]})
    _questions_check(questions)
    _draw_check(questions_per_attempt=questions_per_attempt, question_count=len(questions), kind=kind)
    if Exam.objects.filter(code=code).exists():
        raise ExamCodeTaken(f"An exam with the code {code!r} already exists.")
    try:
        with transaction.atomic():
            exam = Exam.objects.create(
                code=code,
                title=title,
                subject=_subject_for(name=subject, user=user),
                level=level_get_or_create(name=level),
                owner=user,
                kind=kind,
                opens_at=opens_at,
                closes_at=closes_at,
                duration_minutes=duration_minutes,
                grace_seconds=grace_seconds,
                status=Exam.Status.DRAFT,
                shuffle_questions=shuffle_questions,
                shuffle_choices=shuffle_choices,
                questions_per_attempt=questions_per_attempt,
                review=review,
            )
    except IntegrityError as exc:  # a concurrent create took the code
        raise ExamCodeTaken(f"An exam with the code {code!r} already exists.") from exc
    _questions_create(exam=exam, questions=questions)
    return exam


def paper_exams_ensure(*, titles: Mapping[str, str], subject_name: str, owner: User | None) -> dict[str, Exam]:
    """The exam of each code in `titles` (code -> title), creating a `paper` exam in status `graded` (its degrees
    come from imports; docs/product.md rule 4) for a code that has none, in the subject `subject_name`, owned by
    `owner`. One bulk insert for the missing codes; an exam that a concurrent writer created first is kept. Returns
    every code's exam, whatever its kind and owner, for the caller to check. Call inside the caller's transaction."""
    existing = {exam.code: exam for exam in Exam.objects.filter(code__in=list(titles))}
    missing = [code for code in titles if code not in existing]
    if missing:
        subject = subject_get_or_create(name=subject_name)
        Exam.objects.bulk_create(
            [
                Exam(
                    code=code,
                    title=titles[code],
                    subject=subject,
                    owner=owner,
                    kind=Exam.Kind.PAPER,
                    status=Exam.Status.GRADED,
                )
                for code in missing
            ],
            ignore_conflicts=True,  # a concurrent import may create the same code; the caller checks what it gets
        )
        existing = {exam.code: exam for exam in Exam.objects.filter(code__in=list(titles))}
    return existing


def _status_check(*, current: str, new: str) -> None:
    order = [str(s) for s in Exam.STATUS_ORDER]
    if order.index(new) < order.index(current):
        raise StatusNotForward(f"The status cannot go back from {current} to {new}.")


def _questions_replace(*, exam: Exam, questions: Sequence[QuestionIn], locked: bool) -> list[dict[str, Any]]:
    """Make the exam's questions exactly `questions`: items with an `id` correct that question (and choices
    with an `id` correct that choice), items without one are added, and the ones left out are removed.
    When `locked` (an attempt exists), adding or removing is a QuestionsLocked (409). Returns the key
    corrections of kept questions (which choices are correct, scoring or points changed), for the audit."""
    current = {q.id: q for q in exam.questions.prefetch_related("choices")}
    fields: dict[str, list[str]] = {}
    seen: set[int] = set()
    for i, q in enumerate(questions):
        qid = q.get("id")
        if qid is None:
            continue
        if qid not in current:
            fields[f"questions[{i}].id"] = [f"Question {qid} is not in this exam."]
        elif qid in seen:
            fields[f"questions[{i}].id"] = [f"Question {qid} appears twice."]
        else:
            seen.add(qid)
            own = {c.id for c in current[qid].choices.all()}
            seen_choices: set[int] = set()
            for j, c in enumerate(q["choices"]):
                cid = c.get("id")
                if cid is not None and (cid not in own or cid in seen_choices):
                    fields[f"questions[{i}].choices[{j}].id"] = [f"Choice {cid} is not a choice of question {qid}."]
                if cid is not None:
                    seen_choices.add(cid)
    if fields:
        raise ExamInvalid("Some question or choice ids do not belong here; nothing was saved.", fields=fields)
    if locked:
        added = any(q.get("id") is None for q in questions)
        removed = bool(set(current) - seen)
        for q in questions:
            if q.get("id") is None:
                continue
            incoming = {c.get("id") for c in q["choices"]}
            own = {c.id for c in current[q["id"]].choices.all()}
            added = added or None in incoming
            removed = removed or bool(own - incoming)
        if added or removed:
            raise QuestionsLocked()

    corrections: list[dict[str, Any]] = []
    kept_questions: list[Question] = []
    new_questions: list[tuple[int, QuestionIn]] = []
    kept_choices: list[Choice] = []
    new_choices: list[Choice] = []
    drop_choices: list[int] = []
    for position, q in enumerate(questions):
        if q.get("id") is None:
            new_questions.append((position, q))
            continue
        question = current[q["id"]]
        was = (question.points, question.scoring, {c.id for c in question.choices.all() if c.is_correct})
        question.text, question.points, question.position = q["text"], q.get("points", question.points), position
        question.scoring = q.get("scoring", question.scoring)
        kept_questions.append(question)
        own_choices = {c.id: c for c in question.choices.all()}
        keep_ids = set()
        for j, c in enumerate(q["choices"]):
            if c.get("id") is None:
                new_choices.append(Choice(question=question, text=c["text"], is_correct=c["is_correct"], position=j))
            else:
                choice = own_choices[c["id"]]
                choice.text, choice.is_correct, choice.position = c["text"], c["is_correct"], j
                kept_choices.append(choice)
                keep_ids.add(choice.id)
        drop_choices.extend(set(own_choices) - keep_ids)
        now_correct = {c["id"] for c in q["choices"] if c.get("id") is not None and c["is_correct"]}
        if was != (question.points, question.scoring, now_correct) or any(
            c.get("id") is None and c["is_correct"] for c in q["choices"]
        ):
            corrections.append(
                {
                    "question": question.id,
                    "before": {"points": was[0], "scoring": was[1], "correct_choices": sorted(was[2])},
                    "after": {"points": question.points, "scoring": question.scoring, "correct_choices": None},
                }
            )

    Question.objects.filter(pk__in=set(current) - seen).delete()
    Choice.objects.filter(pk__in=drop_choices).delete()
    Question.objects.bulk_update(kept_questions, ["text", "points", "scoring", "position"])
    Choice.objects.bulk_update(kept_choices, ["text", "is_correct", "position"])
    Choice.objects.bulk_create(new_choices)
    for position, q in new_questions:
        _questions_create(exam=exam, questions=[q], first_position=position)
    if corrections:  # the correct choices after, new choices included
        corrected = {c["question"]: c for c in corrections}
        rows = Choice.objects.filter(question_id__in=corrected, is_correct=True).values_list("question_id", "id")
        for correction in corrections:
            correction["after"]["correct_choices"] = sorted(cid for qid, cid in rows if qid == correction["question"])
    return corrections


_PLAIN_FIELDS = (
    "title",
    "opens_at",
    "closes_at",
    "duration_minutes",
    "grace_seconds",
    "results_released",
    "shuffle_questions",
    "shuffle_choices",
    "review",
)
# Recorded as their own audit actions (exam.status_changed, exam.results_released), not as exam.edited.
_AUDITED_APART = ("status", "results_released")
_EDIT_FIELDS = (
    "code",
    "title",
    "kind",
    "opens_at",
    "closes_at",
    "duration_minutes",
    "grace_seconds",
    "shuffle_questions",
    "shuffle_choices",
    "questions_per_attempt",
    "review",
)


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _exam_snapshot(exam: Exam) -> dict[str, Any]:
    snapshot = {name: _json_value(getattr(exam, name)) for name in (*_EDIT_FIELDS, *_AUDITED_APART)}
    snapshot["subject"] = exam.subject.name
    snapshot["level"] = exam.level.name if exam.level else None
    return snapshot


def _exam_audit(*, user: User, exam: Exam, before: dict[str, Any], questions_sent: bool) -> None:
    """exam.edited (the fields that changed, and whether questions were sent: each key correction has its own
    question.key_corrected record), exam.status_changed and exam.results_released."""
    after = _exam_snapshot(exam)
    fields = {
        name: {"from": before[name], "to": after[name]}
        for name in after
        if name not in _AUDITED_APART and before[name] != after[name]
    }
    detail: dict[str, Any] = {}
    if fields:
        detail["fields"] = fields
    if questions_sent:
        detail["questions"] = "replaced"
    if detail:
        audit_record(actor=user, action="exam.edited", exam=exam, detail=detail)
    if before["status"] != after["status"]:
        audit_record(
            actor=user,
            action="exam.status_changed",
            exam=exam,
            detail={"from": before["status"], "to": after["status"]},
        )
    if before["results_released"] != after["results_released"]:
        audit_record(
            actor=user,
            action="exam.results_released",
            exam=exam,
            detail={"from": before["results_released"], "to": after["results_released"]},
        )


@transaction.atomic
def exam_update(*, user: User, exam_id: int, changes: dict[str, Any], now: datetime | None = None) -> Exam:
    """Change any field of an exam the user owns (any exam, for an admin). `status` only moves forward;
    once an attempt exists, questions and choices may be corrected but not added or removed. A change of
    closes_at or duration_minutes moves the deadlines of running attempts (receivers.py); results are released
    only once no attempt can save (409 exam_not_closed). Every change is in the audit record."""
    exam = selectors.exam_for_staff(user=user, exam_id=exam_id, lock=True)
    before = _exam_snapshot(exam)
    has_attempts = exam.attempts.exists()
    corrections: list[dict[str, Any]] = []
    for name in _PLAIN_FIELDS:
        if name in changes:
            setattr(exam, name, changes[name])
    _window_check(opens_at=exam.opens_at, closes_at=exam.closes_at)
    if "code" in changes and changes["code"] != exam.code:
        if Exam.objects.filter(code=changes["code"]).exclude(pk=exam.pk).exists():
            raise ExamCodeTaken(f"An exam with the code {changes['code']!r} already exists.")
        exam.code = changes["code"]
    if "subject" in changes:
        exam.subject = _subject_for(name=changes["subject"], user=user)
    if "level" in changes:
        exam.level = level_get_or_create(name=changes["level"])
    if "kind" in changes and changes["kind"] != exam.kind:
        if has_attempts:
            raise Conflict("Students have started this exam, so its kind cannot change.")
        exam.kind = changes["kind"]
    if "questions" in changes:
        if changes["questions"] and exam.kind != Exam.Kind.ONLINE:
            raise ExamInvalid("Only online exams have questions.", fields={"questions": ["Only for kind online."]})
        _questions_check(changes["questions"])
        corrections = _questions_replace(exam=exam, questions=changes["questions"], locked=has_attempts)
    if "questions_per_attempt" in changes and changes["questions_per_attempt"] != exam.questions_per_attempt:
        if has_attempts:
            raise DrawLocked()
        exam.questions_per_attempt = changes["questions_per_attempt"]
    if "questions_per_attempt" in changes or "questions" in changes or "kind" in changes:
        _draw_check(
            questions_per_attempt=exam.questions_per_attempt, question_count=exam.questions.count(), kind=exam.kind
        )
    if "status" in changes and changes["status"] != exam.status:
        _status_check(current=exam.status, new=changes["status"])
        if changes["status"] == Exam.Status.PUBLISHED and exam.kind == Exam.Kind.ONLINE and not exam.questions.exists():
            raise ExamInvalid("An online exam needs questions before it is published.", fields={"questions": []})
        exam.status = changes["status"]
    try:
        with transaction.atomic():
            exam.save()  # bumps updated_at, the version of the cached key (and timing_version: receivers.py)
    except IntegrityError as exc:
        raise ExamCodeTaken() from exc
    if set(changes) & {"results_released", "closes_at", "duration_minutes", "grace_seconds"}:
        exam_release_check(exam=exam, now=now or timezone.now())
    _exam_audit(user=user, exam=exam, before=before, questions_sent="questions" in changes)
    exam_key_invalidate(exam_id=exam.id)
    for correction in corrections:  # rule 11: a key correction changes marks at the next grading
        audit_record(actor=user, action="question.key_corrected", exam=exam, detail=correction)
    return exam


# --- attempts -------------------------------------------------------------------------------

_draws = secrets.SystemRandom()


def _attempt_orders(*, exam: Exam) -> tuple[list[int], dict[str, list[int]]]:
    """The questions a new attempt is given, in its order, and each one's choices in its order (only when
    the exam shuffles choices): drawn and shuffled once, when the attempt starts, then stored with it."""
    question_ids = list(exam.questions.order_by("position", "id").values_list("id", flat=True))
    if exam.questions_per_attempt is not None and exam.questions_per_attempt < len(question_ids):
        drawn = set(_draws.sample(question_ids, exam.questions_per_attempt))
        question_ids = [question_id for question_id in question_ids if question_id in drawn]
    if exam.shuffle_questions:
        _draws.shuffle(question_ids)
    choice_order: dict[str, list[int]] = {}
    if exam.shuffle_choices:
        rows = Choice.objects.filter(question_id__in=question_ids).order_by("position", "id")
        for question_id, choice_id in rows.values_list("question_id", "id"):
            choice_order.setdefault(str(question_id), []).append(choice_id)
        for choice_ids in choice_order.values():
            _draws.shuffle(choice_ids)
    return question_ids, choice_order


def attempt_start(*, student: User, exam_id: int, now: datetime) -> tuple[Attempt, bool]:
    """Start the student's attempt, or return the one they started (idempotent). Returns (attempt, created).
    A student of another level gets ExamNotFound; an exam that is not open now, ExamNotOpen."""
    exam = Exam.objects.filter(pk=exam_id).first()
    if exam is None or not selectors.exam_visible_to_student(student_id=student.id, exam_id=exam_id):
        raise ExamNotFound()
    attempt = attempt_with_timing(exam_id=exam_id, student_id=student.id)
    if attempt is not None:
        attempt_window_remember(attempt=attempt)
        return attempt, False
    if exam.kind != Exam.Kind.ONLINE:
        raise ExamNotOpen("This exam is not taken online.")
    accommodation = Accommodation.objects.filter(exam_id=exam_id, student_id=student.id).first()
    if not _open_for(exam=exam, accommodation=accommodation, now=now):
        raise ExamNotOpen()
    deadline = Attempt.deadline_for(
        exam=exam,
        started_at=now,
        extra_minutes=accommodation.extra_minutes if accommodation else 0,
        closes_at_for_them=accommodation.closes_at if accommodation else None,
    )
    try:
        question_order, choice_order = _attempt_orders(exam=exam)
        with transaction.atomic():
            Attempt.objects.create(
                exam=exam,
                student=student,
                started_at=now,
                deadline=deadline,
                question_order=question_order,
                choice_order=choice_order,
            )
        created = True
    except IntegrityError:  # the same student started twice at once; the first one won
        created = False
    if created:
        # A change of the exam's times or of this student's accommodation that committed while the row went in
        # did not see it (the insert waited for the exam row's lock): apply the current rule once more.
        with transaction.atomic():
            current = Exam.objects.get(pk=exam_id)
            now_given = Accommodation.objects.filter(exam_id=exam_id, student_id=student.id).first()
            if (current.closes_at, current.duration_minutes) != (exam.closes_at, exam.duration_minutes) or (
                _terms(now_given) != _terms(accommodation)
            ):
                attempt_deadlines_refresh(exam=current, now=now, student_id=student.id)
    attempt = attempt_with_timing(exam_id=exam_id, student_id=student.id)
    assert attempt is not None  # created above, or by the concurrent start that won
    attempt_window_remember(attempt=attempt)
    return attempt, created


def _terms(accommodation: Accommodation | None) -> tuple[int, datetime | None] | None:
    return None if accommodation is None else (accommodation.extra_minutes, accommodation.closes_at)


def _open_for(*, exam: Exam, accommodation: Accommodation | None, now: datetime) -> bool:
    """The exam's window, where the student's accommodation may close it later for them."""
    if exam.is_open_at(now):
        return True
    closes = closes_at_for(exam=exam, accommodation=accommodation)
    if accommodation is None or exam.status != Exam.Status.PUBLISHED or closes is None:
        return False
    return not (exam.opens_at and now < exam.opens_at) and now < closes


def attempt_finish(*, student_id: int, exam_id: int, now: datetime) -> Attempt:
    """Finish the attempt (idempotent) and tell the grading app, once. An attempt finished after its
    deadline counts as finished at the deadline."""
    attempt = attempt_with_timing(exam_id=exam_id, student_id=student_id)
    if attempt is None:
        if not selectors.exam_visible_to_student(student_id=student_id, exam_id=exam_id):
            raise ExamNotFound()
        raise AttemptNotStarted("There is no attempt to finish: start the exam first.")
    if attempt.finished_at is None:
        finished_at = min(now, attempt.deadline)
        claimed = Attempt.objects.filter(pk=attempt.pk, finished_at__isnull=True).update(finished_at=finished_at)
        attempt.refresh_from_db(fields=["finished_at"])
        if claimed == 1:
            attempt_finished.send(sender=Attempt, exam_id=exam_id, student_id=student_id)
    attempt_window_remember(attempt=attempt)
    return attempt


# --- answers (the hot path) -----------------------------------------------------------------


def _answers_check(*, key: ExamKey, window: AttemptWindow, answers: Sequence[tuple[int, Sequence[int]]]) -> None:
    """422 unless every answer is to a question of this attempt, with choices of that question. The one
    check of both roads of PUT /answers (the lean one and DRF's), on cached data only."""
    if not 1 <= len(answers) <= MAX_ANSWERS_PER_SAVE:
        raise AnswersInvalid(
            f"Send 1 to {MAX_ANSWERS_PER_SAVE} answers at a time.",
            fields={"answers": [f"Send 1 to {MAX_ANSWERS_PER_SAVE} items; got {len(answers)}."]},
        )
    fields: dict[str, list[str]] = {}
    seen: set[int] = set()
    for index, (question_id, choice_ids) in enumerate(answers):
        entry = key.questions.get(question_id)
        if entry is None:
            fields[f"answers[{index}].question"] = [f"Question {question_id} is not in this exam."]
            continue
        if not window.was_given(question_id):
            fields[f"answers[{index}].question"] = [f"Question {question_id} is not one of this attempt's questions."]
            continue
        if question_id in seen:
            fields[f"answers[{index}].question"] = [f"Question {question_id} appears more than once."]
            continue
        seen.add(question_id)
        own_choices, single = entry
        problem = None
        if not choice_ids:
            problem = "Choose at least one choice."
        elif len(set(choice_ids)) != len(choice_ids):
            problem = "A choice appears more than once."
        elif not own_choices.issuperset(choice_ids):
            strangers = sorted(set(choice_ids) - own_choices)
            problem = f"Choices {strangers} are not choices of question {question_id}."
        elif single and len(choice_ids) > 1:
            problem = f"Question {question_id} takes exactly one choice."
        if problem:
            fields[f"answers[{index}].choices"] = [problem]
    if fields:
        raise AnswersInvalid(fields=fields)


def answers_save(
    *,
    student_id: int,
    exam_id: int,
    answers: Sequence[tuple[int, Sequence[int]]],
    now: datetime,
    origin: SaveOrigin | None = None,
    session_started: float | None = None,
) -> int:
    """Store a student's answers, all or none, with the save's entry in the history (`origin`: the client's
    address and user agent), and return how many were saved. Makes no PostgreSQL query when the exam's key
    and the attempt's window are cached. Raises ExamNotFound (404), AttemptNotStarted or AttemptClosed (409),
    AnswersInvalid (422), and AnswerStoreUnavailable (503) when the store refuses.
    With `session_started` (the token's, when the caller has not checked it), raises SessionEnded when the
    student's sessions were ended since, judged in the same cache round trip."""
    key, window = hot_context_get(exam_id=exam_id, student_id=student_id, session_started=session_started)
    if key is None:
        raise ExamNotFound()
    if window is None:
        if not selectors.exam_visible_to_student(student_id=student_id, exam_id=exam_id):
            raise ExamNotFound()
        raise AttemptNotStarted()
    if window.finished_at is not None:
        raise AttemptClosed("This attempt is finished; answers can no longer change.")
    if now > window.deadline + timedelta(seconds=key.grace_seconds):
        raise AttemptClosed("The deadline of this attempt has passed.")
    if key.status != Exam.Status.PUBLISHED and not window.reopened:
        raise AttemptClosed("This exam is closed.")
    _answers_check(key=key, window=window, answers=answers)
    started = time.perf_counter()
    try:
        answer_store().save(
            exam_id=exam_id,
            student_id=student_id,
            answers=[(question_id, list(choice_ids)) for question_id, choice_ids in answers],
            saved_at=now,
            origin=origin,
        )
    except AnswerStoreUnavailable as exc:
        raise AnswerStoreUnavailable(NOT_SAVED) from exc
    metrics.store_write_observe(started=started)  # accepted writes only; a refused one is a 503 by outcome
    save_rate_record(exam_id=exam_id)  # the dashboard's saves per minute: in memory, sent to Redis each second
    return len(answers)


def answers_get(*, student_id: int, exam_id: int) -> list[StoredAnswer]:
    """The student's own saved answers to resume from; none before the attempt starts."""
    key, window = hot_context_get(exam_id=exam_id, student_id=student_id)
    if key is None:
        raise ExamNotFound()
    if window is None:
        if not selectors.exam_visible_to_student(student_id=student_id, exam_id=exam_id):
            raise ExamNotFound()
        return []
    return answer_store().for_student(exam_id=exam_id, student_id=student_id)
