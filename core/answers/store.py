"""The answer store: one interface, a Cassandra backend and a PostgreSQL backend (chosen by
settings.ANSWER_STORE). Answers never live in the exam tables.

Contract, for both backends (core/answers/tests/test_contract.py):
- one answer per (exam, student, question); a save replaces it only when its ``saved_at`` is not older than
  the stored one, so the last write by server time wins whatever order racing requests arrive in;
- ``choice_ids`` come back sorted and without duplicates; ``saved_at`` comes back in UTC, to the millisecond;
- ``save`` returns only once the store acknowledged every answer; a store that is down raises
  AnswerStoreUnavailable (HTTP 503) and the caller must treat the answers as not taken;
- every save also appends one entry to the save history (``history``), in the same write: the answers and
  their history entry are accepted together or not at all. The history keeps every save, also those that a
  later one replaced, in server-time order (then the order of the items in the save), ``saved_at`` to the
  millisecond like the answers, with the client's address and user agent (``SaveOrigin``, cut to
  CLIENT_IP_MAX and USER_AGENT_MAX characters). See docs/decisions/0011-save-history.md.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from core.common.errors import StoreUnavailable


class AnswerStoreUnavailable(StoreUnavailable):
    code = "answer_store_unavailable"
    detail = "The answer store is unavailable; try again shortly."


# What a refused save says (a read that fails says only the class's detail).
NOT_SAVED = "The answer store is unavailable, and the answers were not saved; try again shortly."


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    question_id: int
    choice_ids: tuple[int, ...]
    saved_at: datetime


CLIENT_IP_MAX = 64
USER_AGENT_MAX = 512


@dataclass(frozen=True, slots=True)
class SaveOrigin:
    """Where a save came from, as the history records it."""

    client_ip: str = ""
    user_agent: str = ""

    def cut(self) -> SaveOrigin:
        return SaveOrigin(client_ip=self.client_ip[:CLIENT_IP_MAX], user_agent=self.user_agent[:USER_AGENT_MAX])


@dataclass(frozen=True, slots=True)
class SaveEvent:
    """One question of one acknowledged save."""

    question_id: int
    choice_ids: tuple[int, ...]
    saved_at: datetime
    client_ip: str
    user_agent: str


def history_enabled() -> bool:
    """settings.ANSWER_HISTORY: on unless switched off to measure what the history costs (never in service)."""
    return bool(getattr(settings, "ANSWER_HISTORY", True))


class AnswerStore(Protocol):
    def save(
        self,
        *,
        exam_id: int,
        student_id: int,
        answers: list[tuple[int, list[int]]],
        saved_at: datetime,
        origin: SaveOrigin | None = None,
    ) -> None:
        """Upsert every (question, choices) pair and append the save to the history, in one write; returns
        only once the store acknowledged all of it at the configured consistency. Raises
        AnswerStoreUnavailable otherwise."""

    def history(self, *, exam_id: int, student_id: int) -> list[SaveEvent]:
        """Every save of one student to one exam, oldest first by server time, one event per question."""

    def for_student(self, *, exam_id: int, student_id: int) -> list[StoredAnswer]:
        """One student's answers to one exam, ordered by question id."""

    def for_exam(self, *, exam_id: int, student_ids: list[int]) -> dict[int, list[StoredAnswer]]:
        """Every answer of those students to one exam, read concurrently. Every student id given is a key
        (with an empty list when the student saved nothing)."""

    def ping(self) -> bool:
        """True when the store answers, promptly (a health check); never raises."""

    def close(self) -> None:
        """Release connections held in this process (tests, shutdown)."""

    def forget_connections(self) -> None:
        """Drop connections inherited through a fork without touching them."""


_lock = threading.Lock()
_store: AnswerStore | None = None


def build_answer_store(kind: str | None = None, **overrides: Any) -> AnswerStore:
    """A new backend from settings (ANSWER_STORE, CASSANDRA), with ``overrides`` for its constructor."""
    kind = kind or settings.ANSWER_STORE
    if kind == "cassandra":
        from core.answers.cassandra import CassandraAnswerStore

        return CassandraAnswerStore.from_settings(**overrides)
    if kind == "postgres":
        from core.answers.postgres import PostgresAnswerStore

        return PostgresAnswerStore(**overrides)
    raise ValueError(f"ANSWER_STORE must be 'cassandra' or 'postgres', not {kind!r}")


def answer_store() -> AnswerStore:
    """The configured backend, one per process (made on first use)."""
    store = _store
    if store is None:
        with _lock:
            store = _store
            if store is None:
                store = build_answer_store()
                _set_store(store)
    return store


def _set_store(store: AnswerStore | None) -> None:
    global _store
    _store = store


def reset_answer_store() -> None:
    """Close and forget the singleton; the next answer_store() reads the settings again."""
    with _lock:
        store = _store
        _set_store(None)
    if store is not None:
        store.close()


def reset_after_fork() -> None:
    """Forget connections made before a fork; the next use makes new ones."""
    store = _store
    if store is not None:
        store.forget_connections()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **_: object) -> None:
    if setting in ("ANSWER_STORE", "CASSANDRA", "ANSWER_HISTORY"):
        reset_answer_store()
