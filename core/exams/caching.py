"""What the answer-saving hot path needs, kept in the cache so that a save makes no PostgreSQL query.

Two entries per save, fetched in one round trip (three on the lean road, which also fetches the student's
"sessions void before" entry: core/accounts/revocation.py):
- the exam's key (question ids -> choice ids and the single-answer flag, status, grace, level), dropped
  whenever the exam, a question or a choice changes (services and the receivers in `receivers.py`, so admin
  edits count too);
- the attempt's window (started_at, deadline, finished_at, the ids of the questions it was given) of one
  (exam, student), written at start and finish, and dropped when an accommodation or a reopen moves that
  attempt's deadline. It carries the exam's `timing_version` it was read under: a change of closes_at or
  duration_minutes moves that version (and the attempts' deadlines, in PostgreSQL), so a window read under
  another version than the exam key's is stale and read again - every running attempt sees the new deadline
  at its next save.
A miss falls back to PostgreSQL and refills. A cache that is down is treated as a miss, never as an error.

With the lean road on (EXAMS_LEAN_PUT), the read goes through the hot path's own Redis reader
(core/exams/hot_path.py); otherwise through Django's `cache.get_many`. Writes and deletes always go through
`cache`, so invalidation is the same either way.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from redis.exceptions import RedisError

from core.accounts.revocation import SessionEnded, session_check_without_cache, session_is_void, void_before_name
from core.exams import hot_path
from core.exams.models import Attempt, Choice, Exam

logger = logging.getLogger(__name__)

# Bump when the cached shapes change, so that old entries are never read as new ones.
SCHEMA = 4
EXAM_KEY_TTL_SECONDS = 60 * 60
# Longer than any sensible exam; after it, one query refills the entry.
ATTEMPT_TTL_SECONDS = 12 * 60 * 60


@dataclass(frozen=True, slots=True)
class ExamKey:
    exam_id: int
    status: str
    kind: str
    level_id: int | None
    grace_seconds: int
    timing: int  # the exam's timing_version
    # question id -> (its choice ids, True when exactly one choice is correct)
    questions: dict[int, tuple[frozenset[int], bool]]


@dataclass(frozen=True, slots=True)
class AttemptWindow:
    started_at: datetime
    deadline: datetime
    finished_at: datetime | None
    timing: int  # the exam's timing_version when the attempt's deadline was read
    reopened: bool  # reopened after an incident: it may save even once the exam is closed
    # The questions this attempt was given (Attempt.question_order); None: every question of the exam.
    question_ids: frozenset[int] | None = None

    def was_given(self, question_id: int) -> bool:
        return self.question_ids is None or question_id in self.question_ids


def exam_key_name(exam_id: int) -> str:
    return f"exams:v{SCHEMA}:key:{exam_id}"


def attempt_window_name(exam_id: int, student_id: int) -> str:
    return f"exams:v{SCHEMA}:attempt:{exam_id}:{student_id}"


def exam_key_build(*, exam_id: int) -> ExamKey | None:
    """Read an exam's key from PostgreSQL (two queries); None when there is no such exam."""
    exam = (
        Exam.objects.filter(pk=exam_id)
        .values("id", "status", "kind", "level_id", "grace_seconds", "timing_version")
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
        status=exam["status"],
        kind=exam["kind"],
        level_id=exam["level_id"],
        grace_seconds=exam["grace_seconds"],
        timing=exam["timing_version"],
        questions={qid: (frozenset(ids), correct.get(qid, 0) == 1) for qid, ids in choices.items()},
    )


def _window_of(attempt: Attempt) -> AttemptWindow:
    # Only a draw leaves questions out; without one an attempt has them all (none can be added once it
    # exists), and None keeps the cached entry as small as before (unpickled on every save).
    order = attempt.question_order
    given = frozenset(order) if order is not None and attempt.exam.questions_per_attempt is not None else None
    return AttemptWindow(
        started_at=attempt.started_at,
        deadline=attempt.deadline,
        finished_at=attempt.finished_at,
        timing=attempt.exam.timing_version,
        reopened=attempt.reopened_until is not None,
        question_ids=given,
    )


def attempt_with_timing(*, exam_id: int, student_id: int) -> Attempt | None:
    """The attempt with its exam (whose timing_version the window carries) read in the same statement, so
    that the deadline and the version it belongs to come from one snapshot."""
    return Attempt.objects.select_related("exam").filter(exam_id=exam_id, student_id=student_id).first()


def attempt_window_remember(*, attempt: Attempt) -> AttemptWindow:
    """Cache the window of an attempt (its exam read with it: `attempt_with_timing`)."""
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


def _entries_read(key_name: str, window_name: str, void_name: str | None) -> tuple[Any, Any, Any]:
    """The entries (None for a miss) in one round trip: through the hot path's own Redis reader when the lean
    road is on (core/exams/hot_path.py), else through Django's cache API."""
    if settings.EXAMS_LEAN_PUT:
        return hot_path.entries_read(key_name, window_name, void_name)
    names = [key_name, window_name] if void_name is None else [key_name, window_name, void_name]
    found = cache.get_many(names)
    return found.get(key_name), found.get(window_name), None if void_name is None else found.get(void_name)


def hot_context_get(
    *, exam_id: int, student_id: int, session_started: float | None = None
) -> tuple[ExamKey | None, AttemptWindow | None]:
    """The exam's key and the student's attempt window: one cache round trip when both are cached,
    PostgreSQL for whichever is missing (a missing attempt is not cached: it is the uncommon path).
    With `session_started`, the same round trip fetches the student's "sessions void before" entry and
    SessionEnded is raised when the token's session is void (core/accounts/revocation.py)."""
    key_name, window_name = exam_key_name(exam_id), attempt_window_name(exam_id, student_id)
    void_name = void_before_name(student_id) if session_started is not None else None
    try:
        key, window, void_before = _entries_read(key_name, window_name, void_name)
    except RedisError:
        logger.warning("cache down: reading exam %s from the database", exam_id)
        key = window = None
        if session_started is not None:
            session_check_without_cache(user_id=student_id)
    else:
        if session_started is not None and session_is_void(started=session_started, void_before_ms=void_before):
            raise SessionEnded(SessionEnded.detail)
    if key is None:
        key = exam_key_build(exam_id=exam_id)
        if key is None:
            return None, None
        with contextlib.suppress(RedisError):
            cache.set(key_name, key, EXAM_KEY_TTL_SECONDS)
    if window is None or window.timing != key.timing:
        # A stale window (closes_at or the duration changed since it was read) is a miss: read the attempt again.
        attempt = attempt_with_timing(exam_id=exam_id, student_id=student_id)
        window = None
        if attempt is not None:
            window = attempt_window_remember(attempt=attempt)
    return key, window
