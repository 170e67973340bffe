"""What the answer-saving hot path needs, kept in the cache so that a save makes no PostgreSQL query.

Two entries per save, fetched with one `get_many`:
- the exam's key (question ids -> choice ids and the single-answer flag, status, grace, level), versioned by
  the exam's `updated_at`, dropped whenever the exam, a question or a choice changes (services and the
  receivers in `receivers.py`, so admin edits count too);
- the attempt's window (started_at, deadline, finished_at) of one (exam, student), written at start and finish.
A miss falls back to PostgreSQL and refills. A cache that is down is treated as a miss, never as an error.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from redis.exceptions import RedisError

from core.exams.models import Attempt, Choice, Exam

logger = logging.getLogger(__name__)

# Bump when the cached shapes change, so that old entries are never read as new ones.
SCHEMA = 1
EXAM_KEY_TTL_SECONDS = 60 * 60
# Longer than any sensible exam; after it, one query refills the entry.
ATTEMPT_TTL_SECONDS = 12 * 60 * 60


@dataclass(frozen=True, slots=True)
class ExamKey:
    exam_id: int
    version: str  # the exam's updated_at when the key was read
    status: str
    kind: str
    level_id: int | None
    grace_seconds: int
    # question id -> (its choice ids, True when exactly one choice is correct)
    questions: dict[int, tuple[frozenset[int], bool]]


@dataclass(frozen=True, slots=True)
class AttemptWindow:
    started_at: datetime
    deadline: datetime
    finished_at: datetime | None


def exam_key_name(exam_id: int) -> str:
    return f"exams:v{SCHEMA}:key:{exam_id}"


def attempt_window_name(exam_id: int, student_id: int) -> str:
    return f"exams:v{SCHEMA}:attempt:{exam_id}:{student_id}"


def exam_key_build(*, exam_id: int) -> ExamKey | None:
    """Read an exam's key from PostgreSQL (two queries); None when there is no such exam."""
    exam = (
        Exam.objects.filter(pk=exam_id)
        .values("id", "updated_at", "status", "kind", "level_id", "grace_seconds")
        .first()
    )
    if exam is None:
        return None
    choices: dict[int, set[int]] = {}
    correct: dict[int, int] = {}
    for question_id, choice_id, is_correct in Choice.objects.filter(question__exam_id=exam_id).values_list(
        "question_id", "id", "is_correct"
    ):
        choices.setdefault(question_id, set()).add(choice_id)
        correct[question_id] = correct.get(question_id, 0) + int(is_correct)
    # A question without choices cannot be answered, so it has no entry: answering it is a 422.
    return ExamKey(
        exam_id=exam["id"],
        version=exam["updated_at"].isoformat(),
        status=exam["status"],
        kind=exam["kind"],
        level_id=exam["level_id"],
        grace_seconds=exam["grace_seconds"],
        questions={qid: (frozenset(ids), correct.get(qid, 0) == 1) for qid, ids in choices.items()},
    )


def _window_of(attempt: Attempt) -> AttemptWindow:
    return AttemptWindow(started_at=attempt.started_at, deadline=attempt.deadline, finished_at=attempt.finished_at)


def attempt_window_remember(*, attempt: Attempt) -> AttemptWindow:
    window = _window_of(attempt)
    try:
        cache.set(attempt_window_name(attempt.exam_id, attempt.student_id), window, ATTEMPT_TTL_SECONDS)
    except RedisError:
        logger.warning("cache down: attempt window of exam %s not cached", attempt.exam_id)
    return window


def attempt_window_forget(*, exam_id: int, student_id: int) -> None:
    _delete_now_and_on_commit(attempt_window_name(exam_id, student_id))


def exam_key_invalidate(*, exam_id: int) -> None:
    """Drop the cached key now, and again when the transaction commits: a reader that refilled the
    entry from the old rows between the two would otherwise keep a stale key until it expires."""
    _delete_now_and_on_commit(exam_key_name(exam_id))


def _delete_now_and_on_commit(name: str) -> None:
    def delete() -> None:
        try:
            cache.delete(name)
        except RedisError:
            logger.error("cache down: could not drop %s", name)

    delete()
    transaction.on_commit(delete)


def hot_context_get(*, exam_id: int, student_id: int) -> tuple[ExamKey | None, AttemptWindow | None]:
    """The exam's key and the student's attempt window: one cache round trip when both are cached,
    PostgreSQL for whichever is missing (a missing attempt is not cached: it is the uncommon path)."""
    key_name, window_name = exam_key_name(exam_id), attempt_window_name(exam_id, student_id)
    try:
        found = cache.get_many([key_name, window_name])
    except RedisError:
        logger.warning("cache down: reading exam %s from the database", exam_id)
        found = {}
    key = found.get(key_name)
    window = found.get(window_name)
    if key is None:
        key = exam_key_build(exam_id=exam_id)
        if key is None:
            return None, None
        with contextlib.suppress(RedisError):
            cache.set(key_name, key, EXAM_KEY_TTL_SECONDS)
    if window is None:
        attempt = Attempt.objects.filter(exam_id=exam_id, student_id=student_id).first()
        if attempt is not None:
            window = attempt_window_remember(attempt=attempt)
    return key, window
