"""Every write of the gradebook: course grades, and Markr imports into degrees."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core.accounts.models import Role, User
from core.accounts.services import (
    StudentFields,
    student_ensure,
    students_ensure,
    subject_for_writer,
)
from core.common.errors import Conflict, NotFound
from core.exams.models import Exam
from core.exams.services import paper_exams_ensure
from core.gradebook.markr import MarkrResult, markr_merge, markr_parse
from core.gradebook.models import MarkrScan, SubjectGrade
from core.grading.models import Degree
from core.grading.services import degrees_merge

# Exams that a Markr import creates belong to this subject (Exam.subject is required; Markr has none).
MARKR_SUBJECT = "Markr"


@transaction.atomic
def subject_grade_submit(*, user: User, student_number: str, subject_name: str, grade: int) -> SubjectGrade:
    """Upsert a student's grade in a subject; the last write wins (one INSERT ... ON CONFLICT DO UPDATE)."""
    subject = subject_for_writer(user=user, name=subject_name)  # accounts' one rule: 404 for another's subject
    student = student_ensure(student_number=student_number)
    table = SubjectGrade._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(  # table names come from model _meta, values are parameters
            f"""
            INSERT INTO {table} (student_id, subject_id, grade, updated_at)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (student_id, subject_id)
            DO UPDATE SET grade = EXCLUDED.grade, updated_at = EXCLUDED.updated_at
            RETURNING id, updated_at
            """,  # noqa: S608
            [student.id, subject.id, grade, timezone.now()],
        )
        grade_id, updated_at = cursor.fetchone()
    return SubjectGrade(id=grade_id, student=student, subject=subject, grade=grade, updated_at=updated_at)


@dataclass(frozen=True)
class MarkrImported:
    imported: int  # records in the document, before duplicates are merged
    tests: list[str]  # distinct test ids, sorted


def exams_for_import(*, user: User, test_ids: list[str], first_index: dict[str, int]) -> dict[str, int]:
    """The id of each test's exam, creating a `paper` exam for an unknown test. Call inside the import's
    transaction. 409 for an exam that is not `paper`; 404 for a doctor's import into another's exam."""
    existing = paper_exams_ensure(
        titles={code: f"Markr test {code}" for code in test_ids},
        subject_name=MARKR_SUBJECT,
        owner=user if user.role == Role.DOCTOR else None,
    )
    for code in sorted(test_ids, key=lambda c: first_index[c]):
        exam = existing[code]
        if user.role == Role.DOCTOR and exam.owner_id != user.id:
            raise NotFound(f"Result {first_index[code]}: test {code} is not one of your exams.")
        if exam.kind != Exam.Kind.PAPER:
            raise Conflict(
                f"Result {first_index[code]}: test {code} is an {exam.kind} exam; only paper exams take imports."
            )
    return {code: exam.id for code, exam in existing.items()}


def markr_scans_save(*, results: Iterable[tuple[MarkrResult, int]]) -> None:
    """Keep what each (student, test) result said beyond its marks, for GET /results: the names (the last
    non-empty ones) and the latest scanned-on. `results` are (result, exam id) pairs whose students exist.
    One statement; call it inside the import's transaction."""
    scans: dict[tuple[str, int], list[Any]] = {}
    for result, exam_id in results:
        scan = scans.setdefault((result.student_number, exam_id), ["", "", None])
        if result.first_name or result.last_name:
            scan[0], scan[1] = result.first_name, result.last_name
        if result.scanned_on is not None and (scan[2] is None or result.scanned_on > scan[2]):
            scan[2] = result.scanned_on
    if not scans:
        return
    table, user = MarkrScan._meta.db_table, User._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(  # table names come from model _meta, values are parameters
            f"""
            INSERT INTO {table} AS s (student_id, exam_id, first_name, last_name, scanned_on)
            SELECT u.id, r.exam_id, r.first_name, r.last_name, r.scanned_on
            FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::text[], %s::timestamptz[])
                 AS r(student_number, exam_id, first_name, last_name, scanned_on)
            JOIN {user} u ON u.student_number = r.student_number
            ON CONFLICT (student_id, exam_id) DO UPDATE SET
                first_name = CASE WHEN EXCLUDED.first_name || EXCLUDED.last_name = '' THEN s.first_name
                                  ELSE EXCLUDED.first_name END,
                last_name = CASE WHEN EXCLUDED.first_name || EXCLUDED.last_name = '' THEN s.last_name
                                 ELSE EXCLUDED.last_name END,
                scanned_on = GREATEST(s.scanned_on, EXCLUDED.scanned_on)
            """,  # noqa: S608
            [
                [number for number, _ in scans],
                [exam_id for _, exam_id in scans],
                [scan[0] for scan in scans.values()],
                [scan[1] for scan in scans.values()],
                [scan[2] for scan in scans.values()],
            ],
        )


def markr_import(*, user: User, body: bytes) -> MarkrImported:
    """POST /import: all or nothing. Parses and checks the whole document first (400/422), then in ONE
    transaction creates unknown tests (paper exams) and students and merges the degrees."""
    document = markr_parse(body, stop_at_first_error=True)
    merged, names, first_index = markr_merge(document.results)
    test_ids = sorted(first_index)
    with transaction.atomic():
        exam_ids = exams_for_import(user=user, test_ids=test_ids, first_index=first_index)
        ids = students_ensure(rows=[StudentFields(number, name) for number, name in names.items()])
        degrees_merge(
            marks={(ids[m.student_number], exam_ids[m.test_id]): (m.marks_obtained, m.marks_available) for m in merged},
            source=Degree.Source.MARKR,
        )
        markr_scans_save(results=((result, exam_ids[result.test_id]) for result in document.results))
    return MarkrImported(imported=len(document.results), tests=test_ids)
