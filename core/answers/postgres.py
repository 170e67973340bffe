"""The PostgreSQL backend, for small installs and `make run`: one row per (exam, student, question)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

from core.answers.store import AnswerStoreUnavailable, StoredAnswer

_DOWN = (OperationalError, InterfaceError)


class PostgresAnswerStore:
    def __init__(self, *, using: str = DEFAULT_DB_ALIAS, connection: Any = None) -> None:
        self.using = using
        self._connection = connection  # a DatabaseWrapper of its own (tests); default: connections[using]

    @property
    def connection(self) -> Any:
        return self._connection if self._connection is not None else connections[self.using]

    def save(self, *, exam_id: int, student_id: int, answers: list[tuple[int, list[int]]], saved_at: datetime) -> None:
        if not answers:
            return
        if saved_at.tzinfo is None:
            raise ValueError("saved_at must be timezone-aware")
        saved_at = _to_millis(saved_at)  # the same precision as Cassandra's timestamp
        latest = {int(q): sorted({int(c) for c in choices}) for q, choices in answers}
        rows = ", ".join(["(%s, %s, %s, %s::bigint[], %s)"] * len(latest))
        params: list[Any] = []
        for question_id, choices in latest.items():
            params += [exam_id, student_id, question_id, choices, saved_at]
        # One statement; an older saved_at never replaces a newer one (last write by server time wins).
        sql = (
            "INSERT INTO answers_answer (exam_id, student_id, question_id, choice_ids, saved_at) VALUES "  # noqa: S608
            + rows  # only "%s" placeholders
            + " ON CONFLICT (exam_id, student_id, question_id) DO UPDATE"
            " SET choice_ids = EXCLUDED.choice_ids, saved_at = EXCLUDED.saved_at"
            " WHERE answers_answer.saved_at <= EXCLUDED.saved_at"
        )
        self._run(sql, params, fetch=False)

    def for_student(self, *, exam_id: int, student_id: int) -> list[StoredAnswer]:
        return self.for_exam(exam_id=exam_id, student_ids=[student_id]).get(int(student_id), [])

    def for_exam(self, *, exam_id: int, student_ids: list[int]) -> dict[int, list[StoredAnswer]]:
        ids = list(dict.fromkeys(int(s) for s in student_ids))
        if not ids:
            return {}
        sql = (
            "SELECT student_id, question_id, choice_ids, saved_at FROM answers_answer"
            " WHERE exam_id = %s AND student_id = ANY(%s::bigint[]) ORDER BY student_id, question_id"
        )
        found: dict[int, list[StoredAnswer]] = {s: [] for s in ids}
        for student_id, question_id, choice_ids, saved_at in self._run(sql, [exam_id, ids], fetch=True):
            found[student_id].append(
                StoredAnswer(question_id=question_id, choice_ids=tuple(choice_ids), saved_at=saved_at.astimezone(UTC))
            )
        return found

    def ping(self) -> bool:
        try:
            return self._run("SELECT 1", [], fetch=True) == [(1,)]
        except AnswerStoreUnavailable:
            return False

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def forget_connections(self) -> None:
        """Django's connections are per thread and closed by Django itself; nothing is held here."""

    def _run(self, sql: str, params: list[Any], *, fetch: bool) -> list[tuple[Any, ...]]:
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if fetch else []
        except _DOWN as exc:  # cannot connect, connection lost, server shutting down
            raise AnswerStoreUnavailable() from exc


def _to_millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
