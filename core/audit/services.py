"""Writing the audit record. Every service that changes marks, times or releases calls `audit_record`."""

from __future__ import annotations

from typing import Any, Protocol

from django.db.models import QuerySet
from django.utils import timezone

from core.audit.models import AuditRecord


class _Actor(Protocol):
    pk: Any

    def get_username(self) -> str: ...


class _Exam(Protocol):
    pk: Any
    code: str


def audit_record(*, actor: _Actor | None, action: str, exam: _Exam | None, detail: dict[str, Any]) -> AuditRecord:
    """Append one record. `actor` is None for the system (a periodic task); `detail` must be JSON-serialisable.

    Call it inside the transaction of the change it records, so that the change and its record commit together.
    """
    return AuditRecord.objects.create(
        at=timezone.now(),
        actor_id=actor.pk if actor is not None else None,
        actor=(actor.get_username() or "") if actor is not None else "system",
        action=action,
        exam_id=exam.pk if exam is not None else None,
        exam=exam.code if exam is not None else "",
        detail=detail,
    )


def audit_records(
    *, exam_ids: QuerySet[Any] | list[int] | None = None, exam_id: int | None = None
) -> QuerySet[AuditRecord]:
    """Records newest first, limited to the given exams (None: all, for admins) and to one exam if asked."""
    records = AuditRecord.objects.all()
    if exam_ids is not None:
        records = records.filter(exam_id__in=exam_ids)
    if exam_id is not None:
        records = records.filter(exam_id=exam_id)
    return records
