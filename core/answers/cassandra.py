"""The Cassandra backend: one partition per (exam, student), a row per question.

Saves are prepared, idempotent upserts written ``USING TIMESTAMP`` = saved_at in microseconds. One save is
ONE unlogged batch: the answers' upserts and the save's history row (table ``answer_saves``, the same
partition key), which Cassandra applies as one mutation per replica, atomically, and acknowledges at the
configured consistency before save() returns. See docs/decisions/0001-answer-store.md and
0011-save-history.md.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

import cassandra_orm
from cassandra_orm import Column, Connection, Table
from core.answers.store import (
    AnswerStoreUnavailable,
    SaveEvent,
    SaveOrigin,
    StoredAnswer,
    history_enabled,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AnswerRow(Table):
    __table__ = "answers"
    exam_id = Column("bigint", partition_key=True)
    student_id = Column("bigint", partition_key=True)
    question_id = Column("bigint", clustering="ASC")
    choice_ids = Column("frozen<set<bigint>>")
    saved_at = Column("timestamp")


class SaveRow(Table):
    """The save history: one row per save, in the answers' partition (same key columns and types), ordered by
    the server's time of the save; ``save_id`` tells apart two saves of the same microsecond."""

    __table__ = "answer_saves"
    exam_id = Column("bigint", partition_key=True)
    student_id = Column("bigint", partition_key=True)
    saved_us = Column("bigint", clustering="ASC")
    save_id = Column("uuid", clustering="ASC")
    # [[question id, [choice ids]], ...] in the order of the save, as JSON: a quarter of the driver's CPU for a
    # typed list of tuples (docs/decisions/0011-save-history.md).
    items = Column("text")
    client_ip = Column("text")
    user_agent = Column("text")


TABLES: tuple[type[Table], ...] = (AnswerRow, SaveRow)


def micros(moment: datetime) -> int:
    """A write time in microseconds since the epoch (the unit of USING TIMESTAMP)."""
    if moment.tzinfo is None:
        raise ValueError("saved_at must be timezone-aware")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class CassandraAnswerStore:
    def __init__(self, connection: Connection, *, read_concurrency: int = 100, write_concurrency: int = 100) -> None:
        self.connection = connection
        self.read_concurrency = read_concurrency
        self.write_concurrency = write_concurrency
        keyspace = connection.keyspace
        self._insert = AnswerRow.insert_cql(
            keyspace, columns=("exam_id", "student_id", "question_id", "choice_ids", "saved_at"), using_timestamp=True
        )
        self._select = AnswerRow.select_cql(keyspace, columns=("question_id", "choice_ids", "saved_at"))
        self._insert_save = SaveRow.insert_cql(keyspace)
        self._select_saves = SaveRow.select_cql(keyspace, columns=("saved_us", "items", "client_ip", "user_agent"))
        self.keep_history = history_enabled()

    @classmethod
    def from_settings(cls, **overrides: Any) -> CassandraAnswerStore:
        return cls(connection_from_settings(**overrides))

    # --- the interface -------------------------------------------------------------------
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
        write_time = micros(saved_at)
        latest = {int(q): frozenset(int(c) for c in choices) for q, choices in answers}  # a repeated question: last
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (self._insert, (exam_id, student_id, q, choices, saved_at, write_time)) for q, choices in latest.items()
        ]
        if self.keep_history:
            origin = (origin or SaveOrigin()).cut()
            # The same save_id on every retry of the batch: a retry rewrites the same row, never adds one.
            items = json.dumps([[q, sorted(choices)] for q, choices in latest.items()], separators=(",", ":"))
            row = (exam_id, student_id, write_time, uuid.uuid4(), items, origin.client_ip, origin.user_agent)
            statements.append((self._insert_save, row))
        try:
            if len(statements) == 1:
                self.connection.execute(statements[0][0], statements[0][1], idempotent=True)
            else:
                # One partition key throughout, so one mutation per replica: atomic, and no batchlog.
                self.connection.execute_batch(statements, idempotent=True)
        except cassandra_orm.Unavailable as exc:
            raise AnswerStoreUnavailable() from exc

    def history(self, *, exam_id: int, student_id: int) -> list[SaveEvent]:
        try:
            rows = self.connection.execute(self._select_saves, (exam_id, student_id), idempotent=True)
        except cassandra_orm.Unavailable as exc:
            raise AnswerStoreUnavailable() from exc
        events = []
        for row in rows:
            saved_at = _from_micros(row["saved_us"])
            for question_id, choice_ids in json.loads(row["items"] or "[]"):
                events.append(
                    SaveEvent(
                        question_id=question_id,
                        choice_ids=tuple(sorted(choice_ids or ())),
                        saved_at=saved_at,
                        client_ip=row["client_ip"] or "",
                        user_agent=row["user_agent"] or "",
                    )
                )
        return events

    def for_student(self, *, exam_id: int, student_id: int) -> list[StoredAnswer]:
        try:
            rows = self.connection.execute(self._select, (exam_id, student_id), idempotent=True)
        except cassandra_orm.Unavailable as exc:
            raise AnswerStoreUnavailable() from exc
        return [_stored(row) for row in rows]

    def for_exam(self, *, exam_id: int, student_ids: list[int]) -> dict[int, list[StoredAnswer]]:
        ids = list(dict.fromkeys(int(s) for s in student_ids))
        if not ids:
            return {}
        try:
            results = self.connection.execute_concurrent(
                self._select, [(exam_id, s) for s in ids], idempotent=True, concurrency=self.read_concurrency
            )
        except cassandra_orm.Unavailable as exc:
            raise AnswerStoreUnavailable() from exc
        return {student_id: [_stored(row) for row in rows] for student_id, rows in zip(ids, results, strict=True)}

    def ping(self) -> bool:
        return self.connection.ping()

    def close(self) -> None:
        self.connection.close()

    def forget_connections(self) -> None:
        self.connection.forget()

    # --- schema --------------------------------------------------------------------------
    def sync_schema(self, *, replication_factor: int = 1, datacenters: dict[str, int] | None = None) -> list[str]:
        """Create the keyspace and the tables if missing (idempotent); returns the statements run."""
        try:
            session = self.connection.session()
        except cassandra_orm.Unavailable as exc:
            raise AnswerStoreUnavailable() from exc
        return cassandra_orm.sync(
            session, self.connection.keyspace, TABLES, replication_factor, datacenters=datacenters
        )

    def drop_keyspace(self) -> None:
        self.connection.session().execute(f"DROP KEYSPACE IF EXISTS {self.connection.keyspace}", timeout=60)


def _from_micros(write_time: int) -> datetime:
    """Back from microseconds to a UTC datetime, to the millisecond (as answers come back)."""
    return _EPOCH + timedelta(microseconds=write_time // 1000 * 1000)


def connection_from_settings(**overrides: Any) -> Connection:
    conf = settings.CASSANDRA
    kwargs: dict[str, Any] = {
        "hosts": conf["HOSTS"],
        "port": conf["PORT"],
        "keyspace": conf["KEYSPACE"],
        "consistency": conf["CONSISTENCY"],
        "connect_timeout": conf["CONNECT_TIMEOUT"],
        "request_timeout": conf["REQUEST_TIMEOUT"],
        "deadline": conf.get("DEADLINE", 4.5),
        "speculative_delay": conf.get("SPECULATIVE_DELAY", 0.3),
        "protocol_version": conf.get("PROTOCOL_VERSION", 4),
        "local_dc": conf.get("LOCAL_DC") or None,
    }
    kwargs.update(overrides)
    return Connection(**kwargs)


def schema_options() -> dict[str, Any]:
    """sync_schema() arguments from settings: NetworkTopologyStrategy in LOCAL_DC when it is set."""
    conf = settings.CASSANDRA
    rf = int(conf["REPLICATION_FACTOR"])
    local_dc = conf.get("LOCAL_DC") or None
    return {"replication_factor": rf, "datacenters": {local_dc: rf} if local_dc else None}


def _stored(row: dict[str, Any]) -> StoredAnswer:
    saved_at = row["saved_at"]
    return StoredAnswer(
        question_id=row["question_id"],
        choice_ids=tuple(sorted(row["choice_ids"] or ())),
        saved_at=saved_at.replace(tzinfo=UTC) if saved_at.tzinfo is None else saved_at,
    )
