"""Small builders for grading tests: people, an online exam with a key, attempts and saved answers."""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from core.accounts.models import User
from core.accounts.services import doctor_create, student_create, subject_get_or_create
from core.accounts.tokens import SingleUseRefreshToken
from core.answers.store import answer_store
from core.celery import app as celery_app
from core.exams.models import Attempt, Choice, Exam, Question

_sequence = itertools.count(1)


def make_student(*, level: str = "Year 1", number: str | None = None, full_name: str | None = None) -> User:
    n = next(_sequence)
    return student_create(
        student_number=number or f"g{n:05d}",
        full_name=full_name or f"Student {n}",
        level=level,
        email=f"grading-student{n}@example.test",
        password="pass-word-1",
    )


def make_doctor() -> User:
    n = next(_sequence)
    return doctor_create(email=f"grading-doctor{n}@example.test", full_name=f"Doctor {n}", password="pass-word-1")


def make_admin() -> User:
    n = next(_sequence)
    return User.objects.create_superuser(f"grading-admin{n}@example.test", "pass-word-1")


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {SingleUseRefreshToken.for_user(user).access_token}")
    return client


def make_exam(
    *,
    owner: User,
    questions: list[tuple[int, int, set[int]]] = ((1, 3, {0}),),  # type: ignore[assignment]
    kind: str = Exam.Kind.ONLINE,
    status: str = Exam.Status.PUBLISHED,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    duration_minutes: int = 60,
    grace_seconds: int = 30,
) -> Exam:
    """`questions`: (points, number of choices, indexes of the correct choices) for each question."""
    n = next(_sequence)
    now = timezone.now()
    exam = Exam.objects.create(
        code=f"G-{n}",
        title=f"Exam {n}",
        subject=subject_get_or_create(name="Grading Math"),
        owner=owner,
        kind=kind,
        status=status,
        opens_at=opens_at or now - timedelta(hours=2),
        closes_at=closes_at or now + timedelta(hours=2),
        duration_minutes=duration_minutes,
        grace_seconds=grace_seconds,
    )
    for position, (points, choices, correct) in enumerate(questions):
        question = Question.objects.create(exam=exam, text=f"Q{position}", points=points, position=position)
        for index in range(choices):
            Choice.objects.create(question=question, text=f"c{index}", is_correct=index in correct, position=index)
    return exam


def key_of(exam: Exam) -> list[tuple[int, list[int]]]:
    """(question id, [choice ids in order]) for each question, to address choices by index."""
    return [(q.id, [c.id for c in q.choices.order_by("position", "id")]) for q in exam.questions.order_by("position")]


def start(exam: Exam, student: User, *, started_at: datetime | None = None) -> Attempt:
    started_at = started_at or timezone.now() - timedelta(minutes=5)
    return Attempt.objects.create(
        exam=exam,
        student=student,
        started_at=started_at,
        deadline=Attempt.deadline_for(exam=exam, started_at=started_at),
    )


def answer(exam: Exam, student: User, picks: dict[int, set[int]], *, saved_at: datetime | None = None) -> None:
    """Save answers by question index -> choice indexes (the attempt must exist)."""
    key = key_of(exam)
    answers = [(key[q][0], [key[q][1][c] for c in sorted(chosen)]) for q, chosen in picks.items()]
    answer_store().save(exam_id=exam.id, student_id=student.id, answers=answers, saved_at=saved_at or timezone.now())


def degrees_of(exam: Exam) -> dict[int, tuple[int, int, str]]:
    return {d.student_id: (d.marks_obtained, d.marks_available, d.source) for d in exam.degrees.all()}


@contextmanager
def celery_eager() -> Any:
    """Tasks run in this process when enqueued (delay_on_commit still waits for the commit)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = before
