"""The PostgreSQL backend, for small installs and `make run`: one row per (exam, student, question), and one
history row per save (answers_save), both written by one statement."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

from core.answers.store import AnswerStoreUnavailable, SaveEvent, SaveOrigin, StoredAnswer, history_enabled

_DOWN = (OperationalError, InterfaceError)


class PostgresAnswerStore:
    def __init__(self, *, using: str = DEFAULT_DB_ALIAS, connection: Any = None) -> None:
        self.using = using
        self._connection = connection  # a DatabaseWrapper of its own (tests); default: connections[using]
        self.keep_history = history_enabled()

    @property
    def connection(self) -> Any:
        return self._connection if self._connection is not None else connections[self.using]

    def save(
        self,
        *,
        exam_id: int,
        student_id: int,
        answers: list[tuple[int, list[int]]],
        saved_at: datetime,
        origin: SaveOrigin | None = None,
    ) -> None:
        if not answers:
            return
        if saved_at.tzinfo is None:
            raise ValueError("saved_at must be timezone-aware")
        exact = saved_at  # the history orders by the full time; answers keep Cassandra's precision
        saved_at = _to_millis(saved_at)  # the same precision as Cassandra's timestamp
        latest = {int(q): sorted({int(c) for c in choices}) for q, choices in answers}
        rows = ", ".join(["(%s, %s, %s, %s::bigint[], %s)"] * len(latest))
        params: list[Any] = []
        history = ""
        if self.keep_history:
            origin = (origin or SaveOrigin()).cut()
            # A data-modifying CTE runs with the statement: the save's history row and its answers commit together.
            history = (
                "WITH history AS (INSERT INTO answers_save"
                " (exam_id, student_id, saved_at, items, client_ip, user_agent)"
                " VALUES (%s, %s, %s, %s::jsonb, %s, %s)) "
            )
            items = json.dumps(list(latest.items()))
            params += [exam_id, student_id, exact, items, origin.client_ip, origin.user_agent]
        for question_id, choices in latest.items():
            params += [exam_id, student_id, question_id, choices, saved_at]
        # One statement; an older saved_at never replaces a newer one (last write by server time wins).
        sql = (
            history  # noqa: S608 - only constant text and "%s" placeholders
            + "INSERT INTO answers_answer (exam_id, student_id, question_id, choice_ids, saved_at) VALUES "
            + rows  # only "%s" placeholders
            + " ON CONFLICT (exam_id, student_id, question_id) DO UPDATE"
            " SET choice_ids = EXCLUDED.choice_ids, saved_at = EXCLUDED.saved_at"
            " WHERE answers_answer.saved_at <= EXCLUDED.saved_at"
        )
        self._run(sql, params, fetch=False)

    def history(self, *, exam_id: int, student_id: int) -> list[SaveEvent]:
        sql = (
            "SELECT saved_at, items, client_ip, user_agent FROM answers_save"
            " WHERE exam_id = %s AND student_id = %s ORDER BY saved_at, id"
        )
        events = []
        for saved_at, items, client_ip, user_agent in self._run(sql, [exam_id, student_id], fetch=True):
            at = _to_millis(saved_at.astimezone(UTC))
            if isinstance(items, str):  # psycopg hands jsonb back decoded; a plain cursor may not
                items = json.loads(items)
            for question_id, choice_ids in items:
                events.append(
                    SaveEvent(
                        question_id=int(question_id),
                        choice_ids=tuple(sorted(int(c) for c in choice_ids)),
                        saved_at=at,
                        client_ip=client_ip,
                        user_agent=user_agent,
                    )
                )
        return events

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
