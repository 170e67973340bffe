"""Reads for grading: the current answer key, exams as their staff see them, degrees, results, stats."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from django.db.models import Count, F, FloatField, IntegerField, QuerySet
from django.db.models.functions import Cast, Floor, Least

from core.common.errors import NotFound
from core.common.fields import MARKS_PLACES, marks_number
from core.common.permissions import ADMIN
from core.exams.models import Attempt, Choice, Exam, Question
from core.grading.models import Degree
from core.grading.statistics import percentage_summary

HISTOGRAM_BINS = 10
# Kelley's 27%: the upper and lower groups for the discrimination index.
DISCRIMINATION_GROUP = 0.27
# Students per answer-store read for the per-question figures (as grading's batches).
STATS_READ_BATCH = 500


def marks_round(value: Fraction | int) -> Decimal:
    """An exact mark as the degree stores it: four decimal places, rounded half up (docs/decisions)."""
    exact = Fraction(value)
    return (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(MARKS_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class AnswerKey:
    """The CURRENT key of an exam, read from PostgreSQL (never from a cache: a regrade after a
    correction must see the correction)."""

    points: dict[int, int]  # question id -> points
    correct: dict[int, frozenset[int]]  # question id -> the ids of its correct choices
    # question id -> Question.Scoring value; a question missing here is all or nothing.
    scoring: dict[int, str] = field(default_factory=dict)

    @property
    def marks_available(self) -> int:
        return sum(self.points.values())

    def marks_available_for(self, given: list[int] | None) -> int:
        """The points of the questions an attempt was given (None: every question of the exam)."""
        if given is None:
            return self.marks_available
        return sum(self.points.get(question_id, 0) for question_id in given)

    def is_correct(self, question_id: int, choice_ids: tuple[int, ...] | list[int]) -> bool:
        """The chosen set equals the correct set: the full points, whatever the question's scoring."""
        correct = self.correct.get(question_id)
        return bool(correct) and frozenset(choice_ids) == correct

    def question_marks(self, question_id: int, choice_ids: tuple[int, ...] | list[int]) -> Fraction:
        """The exact marks of one answer by the question's scoring (docs/api.md): all or nothing, or partial:
        points x max(0, right picks - wrong picks) / number of correct choices."""
        points, correct = self.points.get(question_id, 0), self.correct.get(question_id)
        if not correct or not points:
            return Fraction(0)
        if self.scoring.get(question_id) != Question.Scoring.PARTIAL:
            return Fraction(points) if frozenset(choice_ids) == correct else Fraction(0)
        chosen = frozenset(choice_ids)
        right, wrong = len(chosen & correct), len(chosen - correct)
        return Fraction(points * max(0, right - wrong), len(correct))

    def marks(self, answers: list[Any], given: list[int] | None = None) -> Decimal:
        """The marks of a student's answers, counting only the questions they were given (None: all),
        summed exactly and rounded once."""
        allowed = None if given is None else frozenset(given)
        total = sum(
            (
                self.question_marks(a.question_id, a.choice_ids)
                for a in answers
                if allowed is None or a.question_id in allowed
            ),
            Fraction(0),
        )
        return marks_round(total)


def answer_key_get(*, exam_id: int) -> AnswerKey:
    rows = Question.objects.filter(exam_id=exam_id).values_list("id", "points", "scoring")
    points = {question_id: question_points for question_id, question_points, _ in rows}
    scoring = {question_id: question_scoring for question_id, _, question_scoring in rows}
    correct: dict[int, set[int]] = {question_id: set() for question_id in points}
    choices = Choice.objects.filter(question__exam_id=exam_id, is_correct=True).values_list("question_id", "id")
    for question_id, choice_id in choices:
        correct[question_id].add(choice_id)
    return AnswerKey(points=points, correct={q: frozenset(c) for q, c in correct.items()}, scoring=scoring)


def attempts_given(*, exam_id: int, student_ids: list[int]) -> dict[int, list[int] | None]:
    """Each attempt's questions (Attempt.question_order), by student: None for an attempt given them all."""
    rows = Attempt.objects.filter(exam_id=exam_id, student_id__in=student_ids).values_list(
        "student_id", "question_order"
    )
    return dict(rows)


def _is_admin(user: Any) -> bool:
    return getattr(user, "role", None) == ADMIN or getattr(user, "is_superuser", False)


def exam_for_staff(*, user: Any, exam_id: int) -> Exam:
    """The exam when `user` owns it or is an admin. Another doctor's exam is NotFound, not forbidden."""
    exams = Exam.objects.all() if _is_admin(user) else Exam.objects.filter(owner=user)
    exam = exams.filter(id=exam_id).first()
    if exam is None:
        raise NotFound("No such exam.")
    return exam


def degree_get(*, exam_id: int, student_number: str) -> Degree:
    """One degree of the exam, by student number; NotFound when that student has none."""
    degree = (
        Degree.objects.filter(exam_id=exam_id, student__student_number=student_number)
        .select_related("student", "override_by")
        .first()
    )
    if degree is None:
        raise NotFound(f"Student {student_number!r} has no degree in this exam (grade the exam first).")
    return degree


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
            "override_reason",
            "override_at",
            "previous_marks_obtained",
            student_number=F("student__student_number"),
            full_name=F("student__full_name"),
            override_by_email=F("override_by__email"),
        )
    )


def result_for_student(*, student_id: int, exam_id: int) -> Degree:
    """A student's own degree, only once it exists, the exam's results are released, and its `review`
    lets students see their score ("score" or "answers")."""
    degree = (
        Degree.objects.filter(student_id=student_id, exam_id=exam_id, exam__results_released=True)
        .exclude(exam__review=Exam.Review.NONE)
        .first()
    )
    if degree is None:
        raise NotFound("No result is available for this exam.")
    return degree


def review_for_student(*, student_id: int, exam_id: int) -> list[dict[str, Any]]:
    """What the student answered and what was correct, question by question (attempt_marks), only once their
    result is released and the exam's `review` is "answers". NotFound otherwise."""
    released = Degree.objects.filter(
        student_id=student_id, exam_id=exam_id, exam__results_released=True, exam__review=Exam.Review.ANSWERS
    )
    attempt = Attempt.objects.filter(student_id=student_id, exam_id=exam_id).first()
    if attempt is None or not released.exists():
        raise NotFound("No review is available for this exam.")
    return attempt_marks(attempt=attempt)


def attempt_marks(*, attempt: Attempt) -> list[dict[str, Any]]:
    """Each question the attempt was given, in its order: the chosen and the correct choices (in the attempt's
    choice order) and the marks by the current key. No visibility rule: callers decide who may see it (the
    student's review after release, a doctor's appeal page)."""
    from core.answers.store import answer_store

    exam_id, student_id = attempt.exam_id, attempt.student_id
    questions = {q.id: q for q in Question.objects.filter(exam_id=exam_id).prefetch_related("choices")}
    key = answer_key_get(exam_id=exam_id)
    saved = answer_store().for_exam(exam_id=exam_id, student_ids=[student_id]).get(student_id, [])
    chosen = {answer.question_id: list(answer.choice_ids) for answer in saved}
    review = []
    for question_id in attempt.questions_given(list(questions)):
        question = questions[question_id]
        order = attempt.choices_in_order(question_id, [choice.id for choice in question.choices.all()])
        correct = key.correct.get(question_id, frozenset())
        your_choices = chosen.get(question_id, [])
        review.append(
            {
                "id": question_id,
                "text": question.text,
                "points": question.points,
                "your_choices": your_choices,
                "correct_choices": [choice_id for choice_id in order if choice_id in correct],
                "marks_obtained": marks_number(marks_round(key.question_marks(question_id, your_choices))),
            }
        )
    return review


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


def question_stats(
    *,
    key: AnswerKey,
    answers: dict[int, list[Any]],
    ranked: list[int],
    given: dict[int, list[int] | None] | None = None,
    choices: dict[int, list[int]] | None = None,
) -> list[dict]:
    """Per question, over the graded students (`ranked`, lowest percentage first) who were given it (`given`: their
    attempts' questions; None, or a student missing from it: every question):
    - `answered` (students who chose anything), `correct_rate` (correct / students given the question, so an
      unanswered question counts as wrong) and `discrimination` (the correct rate in the top 27% by percentage minus
      that in the bottom 27%, each among those given the question);
    - Moodle's item analysis (its quiz statistics report): `facility_index`, the mean marks on the question as a
      percentage of its points (by its scoring), and `discrimination_index`, 100 x the Pearson correlation between
      the marks on the question and the marks on the rest of the exam (null when either does not vary);
    - `choices`: how many students picked each choice (`choices` gives each question's choice ids, in order)."""
    given = given or {}
    count = len(ranked)
    k = group_size(count)
    bottom, top = set(ranked[:k]), set(ranked[count - k :])
    # answered, correct, correct in top, correct in bottom, given, given in top, given in bottom
    tallies = {question_id: [0, 0, 0, 0, 0, 0, 0] for question_id in key.points}
    picked: dict[int, dict[int, int]] = {q: dict.fromkeys((choices or {}).get(q, []), 0) for q in key.points}
    marks: dict[int, dict[int, float]] = {}  # student -> question given -> marks
    for student_id in ranked:
        order = given.get(student_id)
        questions = None if order is None else set(order)
        own = marks.setdefault(student_id, {})
        for question_id in key.points if questions is None else questions:
            tally = tallies.get(question_id)
            if tally is not None:
                own[question_id] = 0.0
                tally[4] += 1
                tally[5] += student_id in top
                tally[6] += student_id in bottom
        for answer in answers.get(student_id, ()):
            tally = tallies.get(answer.question_id)
            if (
                tally is None
                or not answer.choice_ids
                or (questions is not None and answer.question_id not in questions)
            ):
                continue
            tally[0] += 1
            counts = picked[answer.question_id]
            for choice_id in answer.choice_ids:
                counts[choice_id] = counts.get(choice_id, 0) + 1
            own[answer.question_id] = float(key.question_marks(answer.question_id, answer.choice_ids))
            if key.is_correct(answer.question_id, answer.choice_ids):
                tally[1] += 1
                tally[2] += student_id in top
                tally[3] += student_id in bottom
    totals = {student_id: sum(own.values()) for student_id, own in marks.items()}
    result = []
    for question_id, (answered, correct, correct_top, correct_bottom, n_given, n_top, n_bottom) in tallies.items():
        takers = [s for s in ranked if question_id in marks[s]]  # in the exam's question order, as tallies
        item = [marks[s][question_id] for s in takers]
        rest = [totals[s] - mark for s, mark in zip(takers, item, strict=True)]
        points = key.points[question_id]
        result.append(
            {
                "id": question_id,
                "answered": answered,
                "correct_rate": correct / n_given if n_given else None,
                "discrimination": correct_top / n_top - correct_bottom / n_bottom if n_top and n_bottom else None,
                "facility_index": 100 * sum(item) / (points * len(item)) if item and points else None,
                "discrimination_index": _correlation_percent(item, rest),
                "choices": [{"id": choice_id, "picked": n} for choice_id, n in picked[question_id].items()],
            }
        )
    return result


def _correlation_percent(xs: list[float], ys: list[float]) -> float | None:
    """100 x Pearson's r, or None for fewer than two students or marks that do not vary."""
    if len(xs) < 2 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    return 100 * statistics.correlation(xs, ys)


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
        given = attempts_given(exam_id=exam.id, student_ids=ranked)
        choices: dict[int, list[int]] = {}
        for question_id, choice_id in Choice.objects.filter(question__exam_id=exam.id).values_list("question_id", "id"):
            choices.setdefault(question_id, []).append(choice_id)
        questions = question_stats(key=key, answers=answers, ranked=ranked, given=given, choices=choices)
    stats["questions"] = questions
    return stats
