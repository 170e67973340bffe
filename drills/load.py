"""The drills' load: the shared exam load generator (loadgen.py, also behind `make load`) on a cohort of its
own, with batches of 1 to 5 answers per save (so that a refused batch can be checked for being half-applied)
and the probe client that watches the rest of the site. See docs/drills.md for the definitions."""

from __future__ import annotations

import asyncio

import loadgen
from bench import seeding

COHORT = loadgen.Cohort(
    level="Drill level",
    subject="Failure drills",
    doctor="drill-doctor@bench.example.com",
    student_prefix="DRILL",
    student_password="drill-student-password-1",
)


def prepare(base_url: str, *, students: int, questions: int, tag: str) -> loadgen.Fixture:
    """Seed `students` students (through Django) and an exam of `questions` multiple-answer questions, created and
    published through the API, and every attempt started through the API (tokens made in-process)."""
    target, people, exam = loadgen.seed_exam(
        base_url, cohort=COHORT, students=students, questions=questions, code_prefix=f"DRILL-{tag}"
    )
    tokens = [seeding.access_token(p) for p in people]
    fixture, started = asyncio.run(
        loadgen.start_attempts(target, exam, tokens=tokens, student_ids=[p.id for p in people])
    )
    if set(started) - {200, 201}:
        raise RuntimeError(f"starting the attempts: {dict(started)}")
    return fixture
