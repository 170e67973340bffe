"""Reads about hand-ins. Each hand-in returned here carries `last_upload` (its newest Upload, or None)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from core.handins.models import HandIn, Upload


def _with_last_upload(handins: QuerySet[HandIn]) -> list[HandIn]:
    rows: list[HandIn] = list(
        handins.select_related("student").prefetch_related(
            Prefetch("uploads", queryset=Upload.objects.order_by("-created_at", "-pk"), to_attr="uploads_newest_first")
        )
    )
    for handin in rows:
        handin.last_upload = handin.uploads_newest_first[0] if handin.uploads_newest_first else None  # type: ignore[attr-defined]
    return rows


def handins_of_exam(*, exam_id: int) -> list[HandIn]:
    return _with_last_upload(HandIn.objects.filter(exam_id=exam_id).order_by("student__student_number", "pk"))


def handin_with_last_upload(*, handin_id: int) -> HandIn:
    return _with_last_upload(HandIn.objects.filter(pk=handin_id))[0]
