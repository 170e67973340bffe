"""Small builders for exam tests."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from core.accounts.models import User
from core.accounts.services import doctor_create, student_create, subject_get_or_create
from core.accounts.tokens import SingleUseRefreshToken
from core.exams import services
from core.exams.models import Exam

_numbers = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_numbers):05d}"


def make_student(*, level: str = "Year 1") -> User:
    number = unique("S")
    return student_create(student_number=number, full_name=f"Student {number}", level=level, email=f"{number}@x.test")


def make_doctor() -> User:
    return doctor_create(email=f"{unique('doc')}@x.test", full_name="Doctor", password="a-long-password")


def make_admin() -> User:
    return User.objects.create_superuser(email=f"{unique('admin')}@x.test", password="a-long-password")


def token_for(user: User) -> str:
    return str(SingleUseRefreshToken.for_user(user).access_token)


def default_questions() -> list[dict[str, Any]]:
    """Question 1 takes one answer (b); question 2 takes several (a and c)."""
    return [
        {
            "text": "Single",
            "choices": [
                {"text": "a", "is_correct": False},
                {"text": "b", "is_correct": True},
                {"text": "c", "is_correct": False},
            ],
        },
        {
            "text": "Multi",
            "points": 2,
            "choices": [
                {"text": "a", "is_correct": True},
                {"text": "b", "is_correct": False},
                {"text": "c", "is_correct": True},
            ],
        },
    ]


def make_exam(
    *,
    owner: User,
    level: str = "Year 1",
    subject: str = "Math",
    status: str = Exam.Status.PUBLISHED,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    duration_minutes: int = 30,
    grace_seconds: int = 30,
    questions: list[dict[str, Any]] | None = None,
    kind: str = Exam.Kind.ONLINE,
) -> Exam:
    """An exam open from an hour ago to two hours from now, unless told otherwise. The owner teaches its subject
    (as an admin would assign it), since a doctor writes only into their own subjects or new ones."""
    now = timezone.now()
    if owner.role == "doctor":
        subject_get_or_create(name=subject).doctors.add(owner)
    exam = services.exam_create(
        user=owner,
        code=unique("EX"),
        title="An exam",
        subject=subject,
        level=level,
        kind=kind,
        opens_at=opens_at if opens_at is not None else now - timedelta(hours=1),
        closes_at=closes_at if closes_at is not None else now + timedelta(hours=2),
        duration_minutes=duration_minutes,
        grace_seconds=grace_seconds,
        questions=default_questions() if questions is None and kind == Exam.Kind.ONLINE else (questions or []),
    )
    if status != Exam.Status.DRAFT:
        exam.status = status
        exam.save()
    return exam


def ids_of(exam: Exam) -> list[tuple[int, list[int], list[int]]]:
    """(question id, choice ids, correct choice ids) in order."""
    return [
        (
            q.id,
            [c.id for c in q.choices.all()],
            [c.id for c in q.choices.all() if c.is_correct],
        )
        for q in exam.questions.prefetch_related("choices")
    ]
