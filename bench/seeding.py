"""The benchmarks' data: Django bootstrap, seeded students with tokens, an exam created through the API."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

try:
    from bench.client import (
        DEFAULT_BASE_URL,
        HttpConnection,
        HttpError,
        Target,
        auth_headers,
        expect,
        http_json,
        loopback_target,
        wait_http,
    )
    from bench.reporting import REPO
except ImportError:  # run as a script from bench/
    from client import (  # type: ignore[no-redef]
        DEFAULT_BASE_URL,
        HttpConnection,
        HttpError,
        Target,
        auth_headers,
        expect,
        http_json,
        loopback_target,
        wait_http,
    )
    from reporting import REPO  # type: ignore[no-redef]

# --- data setup ------------------------------------------------------------------------------------

_django_ready = False


def django_setup() -> None:
    """Bootstrap Django in this process (seeding and tokens go straight to the database)."""
    global _django_ready
    if _django_ready:
        return
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.base")
    import django

    django.setup()
    _django_ready = True


def ensure_doctor(*, email: str, password: str = "bench-doctor-password-123") -> Any:
    django_setup()
    from core.accounts.models import User
    from core.accounts.services import doctor_create

    user = User.objects.filter(email__iexact=email).first()
    return user or doctor_create(email=email, full_name="Benchmark Doctor", password=password)


def ensure_students(*, prefix: str, count: int, level: str, password: str) -> list[Any]:
    """`count` students numbered <prefix>-00001..., in `level`, all with `password` (hashed once and shared,
    so seeding 500 students costs one hash). Existing ones are reused, with their password reset."""
    django_setup()
    from django.contrib.auth.hashers import make_password

    from core.accounts.models import Role, User
    from core.accounts.services import level_get_or_create

    level_obj = level_get_or_create(name=level)
    numbers = [f"{prefix}-{i:05d}" for i in range(1, count + 1)]
    hashed = make_password(password)
    existing = {u.student_number: u for u in User.objects.filter(student_number__in=numbers)}
    missing = [
        User(
            role=Role.STUDENT,
            student_number=number,
            email=f"{number.lower()}@bench.example.com",
            full_name=f"Student {number}",
            level=level_obj,
            password=hashed,
        )
        for number in numbers
        if number not in existing
    ]
    User.objects.bulk_create(missing, batch_size=1000)
    User.objects.filter(student_number__in=numbers).update(password=hashed, level=level_obj, is_active=True)
    by_number = {u.student_number: u for u in User.objects.filter(student_number__in=numbers)}
    return [by_number[n] for n in numbers]


def access_token(user: Any) -> str:
    django_setup()
    from core.accounts.tokens import SingleUseRefreshToken

    return str(SingleUseRefreshToken.for_user(user).access_token)


@dataclass
class ExamFixture:
    exam_id: int
    code: str
    # question id -> its choice ids, in the exam's order
    questions: dict[int, list[int]]


def create_open_exam(
    base_url: str,
    *,
    doctor_token: str,
    code: str,
    level: str,
    subject: str,
    questions: int,
    choices: int = 4,
    correct: int = 1,
    open_minutes: int = 180,
) -> ExamFixture:
    """Create an online exam through the API (draft), publish it, and read back its question and choice ids.
    The first `correct` choices of each question are the correct ones (more than one: a multiple-answer question)."""
    now = datetime.now(UTC)
    body = {
        "code": code,
        "title": f"Load exam {code}",
        "subject": subject,
        "level": level,
        "kind": "online",
        "opens_at": (now - timedelta(minutes=5)).isoformat(),
        "closes_at": (now + timedelta(minutes=open_minutes)).isoformat(),
        "duration_minutes": open_minutes,
        "questions": [
            {
                "text": f"Question {q + 1}",
                "points": 1,
                "choices": [{"text": f"Choice {c + 1}", "is_correct": c < correct} for c in range(choices)],
            }
            for q in range(questions)
        ],
    }
    status, created = http_json("POST", f"{base_url}/api/exams", token=doctor_token, body=body)
    exam_id = expect(status, created, 201, "POST /api/exams")["id"]
    status, payload = http_json(
        "PATCH", f"{base_url}/api/exams/{exam_id}", token=doctor_token, body={"status": "published"}
    )
    expect(status, payload, 200, "PATCH /api/exams/{id} status=published")
    status, detail = http_json("GET", f"{base_url}/api/exams/{exam_id}", token=doctor_token)
    expect(status, detail, 200, "GET /api/exams/{id}")
    mapping = {q["id"]: [c["id"] for c in q["choices"]] for q in detail["questions"]}
    if len(mapping) != questions:
        raise RuntimeError(f"exam {exam_id} has {len(mapping)} questions, expected {questions}")
    return ExamFixture(exam_id=exam_id, code=code, questions=mapping)


async def start_attempts(target: Target, *, exam_id: int, tokens: list[str], concurrency: int = 16) -> Counter[int]:
    """POST /api/exams/{id}/attempt for every token (201 the first time, 200 after); returns the status counts."""
    statuses: Counter[int] = Counter()
    queue = list(enumerate(tokens))
    path = f"/api/exams/{exam_id}/attempt"

    async def worker() -> None:
        conn = HttpConnection(target)
        try:
            while queue:
                _, token = queue.pop()
                try:
                    status, _ = await conn.request("POST", path, body=b"", headers=auth_headers(token))
                except HttpError:
                    status = 0
                statuses[status] += 1
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(tokens)) or 1)))
    return statuses


def unique_code(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%d%H%M%S}-{os.getpid()}"


# --- the answer-save benchmarks' data (B1, B2): one exam, 64 students with tokens and started attempts ----

BENCH_LEVEL = "Benchmark level"
BENCH_SUBJECT = "Benchmarks"
BENCH_DOCTOR = "bench-doctor@bench.example.com"


@dataclass
class AnswersFixture:
    target: Target
    exam: ExamFixture
    student_ids: list[int]
    tokens: list[str]


_answers_fixtures: dict[tuple[str, int, int], AnswersFixture] = {}


def _assign_subject(*, doctor: Any, name: str) -> None:
    """As an admin would: the doctor teaches the subject when it exists already (another benchmark may have made
    it, taught by nobody, and a doctor may not adopt an existing subject); a new one is theirs anyway."""
    from core.accounts.models import Subject

    subject = Subject.objects.filter(name=name).first()
    if subject is not None:
        subject.doctors.add(doctor)


def answers_fixture(base_url: str = DEFAULT_BASE_URL, *, students: int = 64, questions: int = 100) -> AnswersFixture:
    """An open exam with `questions` single-answer questions (4 choices each), and `students` students of its
    level, each with its own access token and a started attempt. Made once per process."""
    key = (base_url, students, questions)
    if key in _answers_fixtures:
        return _answers_fixtures[key]
    target = loopback_target(base_url)
    doctor = ensure_doctor(email=BENCH_DOCTOR)
    _assign_subject(doctor=doctor, name=BENCH_SUBJECT)
    people = ensure_students(prefix="BENCH", count=students, level=BENCH_LEVEL, password="bench-student-password")
    tokens = [access_token(p) for p in people]
    for attempt in range(3):  # a stack restarting under us (a 502) gets two more tries, each with a new exam
        wait_http(f"{target.base_url}/health", 60)
        try:
            exam = create_open_exam(
                target.base_url,
                doctor_token=access_token(doctor),
                code=unique_code(f"BENCH{attempt}"),
                level=BENCH_LEVEL,
                subject=BENCH_SUBJECT,
                questions=questions,
            )
            statuses = asyncio.run(start_attempts(target, exam_id=exam.exam_id, tokens=tokens))
            if set(statuses) - {200, 201}:
                raise RuntimeError(f"starting the attempts: {dict(statuses)}")
            break
        except (RuntimeError, OSError) as exc:
            if attempt == 2:
                raise
            print(f"setup failed ({str(exc)[:120]}); retrying in 5 s", flush=True)
            time.sleep(5)
    fixture = AnswersFixture(target=target, exam=exam, student_ids=[p.id for p in people], tokens=tokens)
    _answers_fixtures[key] = fixture
    return fixture
