"""The answer store: one interface, a Cassandra backend and a PostgreSQL backend (chosen by
settings.ANSWER_STORE). Answers never live in the exam tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.common.errors import StoreUnavailable


class AnswerStoreUnavailable(StoreUnavailable):
    code = "answer_store_unavailable"
    detail = "The answer store is unavailable, and the answers were not saved; try again shortly."


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    question_id: int
    choice_ids: tuple[int, ...]
    saved_at: datetime


class AnswerStore(Protocol):
    def save(
        self, *, exam_id: int, student_id: int, answers: list[tuple[int, list[int]]], saved_at: datetime
    ) -> None:
        """Upsert every (question, choices) pair; returns only once the store acknowledged all of them
        at the configured consistency. Raises AnswerStoreUnavailable otherwise."""

    def for_student(self, *, exam_id: int, student_id: int) -> list[StoredAnswer]:
        """One student's answers to one exam, ordered by question id."""

    def for_exam(self, *, exam_id: int, student_ids: list[int]) -> dict[int, list[StoredAnswer]]:
        """Every answer of those students to one exam, read concurrently."""

    def ping(self) -> bool:
        """True when the store answers, promptly (a health check)."""


def answer_store() -> AnswerStore:
    raise NotImplementedError  # filled in by the answer-store work


def reset_after_fork() -> None:
    """Forget connections made before a fork; the next use makes new ones."""
