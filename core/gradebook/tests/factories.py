"""Builders for Markr documents and expected statistics, computed independently of PostgreSQL."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from core.accounts.services import subject_get_or_create
from core.accounts.tests.factories import make_doctor
from core.exams.models import Exam
from core.grading.models import Degree

MARKR = "text/xml+markr"


@dataclass(frozen=True)
class Row:
    student_number: str
    test_id: str
    obtained: int
    available: int
    first_name: str = "Ada"
    last_name: str = "Lovelace"
    answers: int = 2


def result_xml(row: Row) -> str:
    answers = "".join(
        f'<answer question="{q}" marks-available="1" marks-awarded="{int(q < row.obtained)}">A</answer>'
        for q in range(row.answers)
    )
    return (
        '<mcq-test-result scanned-on="2017-12-04T12:12:10+11:00">'
        f"<first-name>{escape(row.first_name)}</first-name><last-name>{escape(row.last_name)}</last-name>"
        f"<student-number>{escape(row.student_number)}</student-number><test-id>{escape(row.test_id)}</test-id>"
        f"{answers}"
        f'<summary-marks available="{row.available}" obtained="{row.obtained}" />'
        "</mcq-test-result>"
    )


def document(rows: Iterable[Row | str]) -> bytes:
    """A Markr document; a str item is put in as raw XML (for malformed results)."""
    body = "".join(item if isinstance(item, str) else result_xml(item) for item in rows)
    return f'<?xml version="1.0" encoding="UTF-8" ?>\n<mcq-test-results>{body}</mcq-test-results>'.encode()


def generated_rows(*, test_id: str, students: int, seed: int, repeats: int = 0) -> list[Row]:
    """A seeded class: each student once, plus `repeats` re-scans that are lower on one count or the other."""
    rng = random.Random(seed)
    rows = [
        Row(f"{n:06d}", test_id, obtained=rng.randint(4, 20), available=20, first_name=f"F{n}", last_name=f"L{n}")
        for n in range(students)
    ]
    for _ in range(repeats):
        original = rng.choice(rows[:students])
        rows.append(Row(original.student_number, test_id, rng.randint(0, original.obtained), original.available))
    rng.shuffle(rows)
    return rows


def interpolated_percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default; PostgreSQL's percentile_cont)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def expected_summary(percentages: list[float]) -> dict[str, float]:
    return {
        "count": len(percentages),
        "mean": statistics.fmean(percentages),
        "stddev": statistics.pstdev(percentages),
        "min": min(percentages),
        "max": max(percentages),
        "p25": interpolated_percentile(percentages, 0.25),
        "p50": interpolated_percentile(percentages, 0.5),
        "p75": interpolated_percentile(percentages, 0.75),
    }


def merged_percentages(rows: Iterable[Row]) -> list[float]:
    best: dict[tuple[str, str], tuple[int, int]] = {}
    for row in rows:
        obtained, available = best.get((row.student_number, row.test_id), (0, 0))
        best[(row.student_number, row.test_id)] = (max(obtained, row.obtained), max(available, row.available))
    return [100 * obtained / available for obtained, available in best.values()]


def make_exam(*, code: str, kind: str = Exam.Kind.PAPER, owner=None, subject: str = "Math") -> Exam:
    return Exam.objects.create(
        code=code,
        title=f"Exam {code}",
        subject=subject_get_or_create(name=subject),
        owner=owner if owner is not None else make_doctor(),
        kind=kind,
    )


def degree_of(student_number: str, test_id: str) -> Degree:
    return Degree.objects.get(student__student_number=student_number, exam__code=test_id)
