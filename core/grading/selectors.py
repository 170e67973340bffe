"""Reads for grading: the current answer key, exams as their staff see them, degrees, results, stats."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, FloatField, IntegerField, QuerySet
from django.db.models.functions import Cast, Floor, Least

from core.common.errors import NotFound
from core.common.permissions import ADMIN
from core.exams.models import Choice, Exam, Question
from core.grading.models import Degree
from core.grading.statistics import percentage_summary

HISTOGRAM_BINS = 10
# Kelley's 27%: the upper and lower groups for the discrimination index.
DISCRIMINATION_GROUP = 0.27
# Students per answer-store read for the per-question figures (as grading's batches).
STATS_READ_BATCH = 500


@dataclass(frozen=True)
class AnswerKey:
    """The CURRENT key of an exam, read from PostgreSQL (never from a cache: a regrade after a
    correction must see the correction)."""

    points: dict[int, int]  # question id -> points
    correct: dict[int, frozenset[int]]  # question id -> the ids of its correct choices

    @property
    def marks_available(self) -> int:
        return sum(self.points.values())

    def is_correct(self, question_id: int, choice_ids: tuple[int, ...] | list[int]) -> bool:
        """A question scores only when the chosen set equals the correct set (PRODUCT.md rule 3)."""
        correct = self.correct.get(question_id)
        return bool(correct) and frozenset(choice_ids) == correct

    def marks(self, answers: list[Any]) -> int:
        return sum(self.points[a.question_id] for a in answers if self.is_correct(a.question_id, a.choice_ids))


def answer_key_get(*, exam_id: int) -> AnswerKey:
    points = dict(Question.objects.filter(exam_id=exam_id).values_list("id", "points"))
    correct: dict[int, set[int]] = {question_id: set() for question_id in points}
    rows = Choice.objects.filter(question__exam_id=exam_id, is_correct=True).values_list("question_id", "id")
    for question_id, choice_id in rows:
        correct[question_id].add(choice_id)
    return AnswerKey(points=points, correct={q: frozenset(c) for q, c in correct.items()})


def _is_admin(user: Any) -> bool:
    return getattr(user, "role", None) == ADMIN or getattr(user, "is_superuser", False)


def exam_for_staff(*, user: Any, exam_id: int) -> Exam:
    """The exam when `user` owns it or is an admin. Another doctor's exam is NotFound, not forbidden."""
    exams = Exam.objects.all() if _is_admin(user) else Exam.objects.filter(owner=user)
    exam = exams.filter(id=exam_id).first()
    if exam is None:
        raise NotFound("No such exam.")
    return exam


def degree_rows(*, exam_id: int) -> QuerySet[Degree, Any]:
    """The rows of the degrees list and its CSV/XLSX, by student number."""
    return (
        Degree.objects.filter(exam_id=exam_id)
        .order_by("student__student_number", "student_id")
        .values(
            "marks_obtained",
            "marks_available",
            "percentage",
            "source",
            "graded_at",
            student_number=F("student__student_number"),
            full_name=F("student__full_name"),
        )
    )


def result_for_student(*, student_id: int, exam_id: int) -> Degree:
    """A student's own degree, only once it exists and the exam's results are released."""
    degree = Degree.objects.filter(student_id=student_id, exam_id=exam_id, exam__results_released=True).first()
    if degree is None:
        raise NotFound("No result is available for this exam.")
    return degree


def histogram(*, exam_id: int) -> list[int]:
    """Counts over 0-10, 10-20, ..., 90-100; each bin holds its lower edge, and 100 goes in the last."""
    bins = [0] * HISTOGRAM_BINS
    rows = (
        Degree.objects.filter(exam_id=exam_id)
        .annotate(bin=Least(Cast(Floor(F("percentage") / 10.0), IntegerField()), HISTOGRAM_BINS - 1))
        .values("bin")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        bins[max(0, int(row["bin"]))] += row["n"]
    return bins


def group_size(count: int) -> int:
    """How many students the top (and the bottom) 27% holds: rounded half up, at least 1."""
    return 0 if count == 0 else max(1, math.floor(count * DISCRIMINATION_GROUP + 0.5))


def question_stats(*, key: AnswerKey, answers: dict[int, list[Any]], ranked: list[int]) -> list[dict]:
    """Per question: `answered` (students who chose anything), `correct_rate` (correct / graded students,
    so an unanswered question counts as wrong) and `discrimination` (the correct rate in the top 27% by
    percentage minus that in the bottom 27%). `ranked` is the graded students, lowest percentage first."""
    count = len(ranked)
    k = group_size(count)
    bottom, top = set(ranked[:k]), set(ranked[count - k :])
    tallies = {question_id: [0, 0, 0, 0] for question_id in key.points}  # answered, correct, top, bottom
    for student_id in ranked:
        for answer in answers.get(student_id, ()):
            tally = tallies.get(answer.question_id)
            if tally is None or not answer.choice_ids:
                continue
            tally[0] += 1
            if key.is_correct(answer.question_id, answer.choice_ids):
                tally[1] += 1
                tally[2] += student_id in top
                tally[3] += student_id in bottom
    return [
        {
            "id": question_id,
            "answered": answered,
            "correct_rate": correct / count if count else None,
            "discrimination": (correct_top - correct_bottom) / k if k else None,
        }
        for question_id, (
            answered,
            correct,
            correct_top,
            correct_bottom,
        ) in tallies.items()  # in the exam's question order
    ]


def stats_summary(*, exam_id: int) -> dict[str, Any]:
    return percentage_summary(Degree.objects.filter(exam_id=exam_id)).as_dict()


def ranked_students(*, exam_id: int) -> list[int]:
    """The graded students, lowest percentage first (ties by student id, so groups are stable)."""
    return list(
        Degree.objects.filter(exam_id=exam_id)
        .order_by(Cast("percentage", FloatField()).asc(), "student_id")
        .values_list("student_id", flat=True)
    )


def exam_stats(*, exam: Exam) -> dict[str, Any]:
    """count, mean, stddev, min, max, p25, p50, p75 (ONE statement: core.grading.statistics), histogram,
    and per-question figures from the graded students' answers (read from the answer store)."""
    from core.answers.store import answer_store

    stats = stats_summary(exam_id=exam.id)
    stats["histogram"] = histogram(exam_id=exam.id)
    questions: list[dict] = []
    if exam.kind == Exam.Kind.ONLINE:
        key = answer_key_get(exam_id=exam.id)
        ranked = ranked_students(exam_id=exam.id)
        answers: dict[int, list[Any]] = {}
        for start in range(0, len(ranked), STATS_READ_BATCH):
            answers.update(
                answer_store().for_exam(exam_id=exam.id, student_ids=ranked[start : start + STATS_READ_BATCH])
            )
        questions = question_stats(key=key, answers=answers, ranked=ranked)
    stats["questions"] = questions
    return stats
