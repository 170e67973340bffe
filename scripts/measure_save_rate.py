"""What the saves-per-minute counter costs an answer save (docs/decisions/0020-saves-per-minute.md).

In one process, against the stack's real stores (run it under the shared lock, on a database of your own):
1. `services.answers_save` in alternating blocks, with the counter (`save_rate_record`, its flusher thread sending
   to Redis each second) and without it (the call replaced by a no-op), CPU time of the whole process
   (`time.process_time`, so the flusher thread counts) per save, each block long enough for flushes to happen;
2. `save_rate_record` alone, and one flush of one exam's count, timed many times.

    scripts/secrets.sh .venv/bin/python scripts/measure_save_rate.py --rounds 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.base")

import django

django.setup()

from django.utils import timezone  # noqa: E402

from core.accounts.services import doctor_create, student_create, subject_get_or_create  # noqa: E402
from core.exams import save_rate, services  # noqa: E402
from core.exams.models import Exam  # noqa: E402


def _setup() -> tuple[int, int, list[tuple[int, list[int]]]]:
    tag = f"{os.getpid()}-{int(time.time())}"
    doctor = doctor_create(email=f"measure-{tag}@example.test", full_name="Measure", password="measure-pass-1")
    subject_get_or_create(name="Measure").doctors.add(doctor)
    now = timezone.now()
    questions = [
        {"text": f"Q{n}", "choices": [{"text": "a", "is_correct": True}, {"text": "b", "is_correct": False}]}
        for n in range(5)
    ]
    exam = services.exam_create(
        user=doctor,
        code=f"MEASURE-{tag}",
        title="Measure",
        subject="Measure",
        level="Measure",
        kind=Exam.Kind.ONLINE,
        opens_at=now - timezone.timedelta(minutes=5),
        closes_at=now + timezone.timedelta(hours=2),
        duration_minutes=120,
        grace_seconds=30,
        questions=questions,
    )
    Exam.objects.filter(pk=exam.pk).update(status=Exam.Status.PUBLISHED)
    number = f"M{os.getpid()}{int(time.time()) % 100000}"
    student = student_create(student_number=number, full_name="M", level="Measure")
    services.attempt_start(student=student, exam_id=exam.id, now=timezone.now())
    answers = [(q.id, [q.choices.order_by("position").first().id]) for q in exam.questions.all()]
    return exam.id, student.id, answers[:3]


def _block(exam_id: int, student_id: int, answers: list[tuple[int, list[int]]], saves: int) -> float:
    started = time.process_time()
    for _ in range(saves):
        services.answers_save(student_id=student_id, exam_id=exam_id, answers=answers, now=timezone.now())
    return (time.process_time() - started) / saves * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--saves", type=int, default=1500, help="saves per block")
    args = parser.parse_args()
    exam_id, student_id, answers = _setup()
    real = services.save_rate_record
    _block(exam_id, student_id, answers, 300)  # warm the caches and the connections
    on: list[float] = []
    off: list[float] = []
    for round_ in range(args.rounds):
        for mode in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
            services.save_rate_record = real if mode == "on" else (lambda *, exam_id: None)  # type: ignore[assignment]
            (on if mode == "on" else off).append(_block(exam_id, student_id, answers, args.saves))
    services.save_rate_record = real
    print(f"load average before/after: {os.getloadavg()}")
    print(f"CPU per save, counter on : median {statistics.median(on):.1f} us  {[round(v, 1) for v in on]}")
    print(f"CPU per save, counter off: median {statistics.median(off):.1f} us  {[round(v, 1) for v in off]}")
    diffs = [a - b for a, b in zip(on, off, strict=True)]
    print(f"on - off per round: median {statistics.median(diffs):+.1f} us  {[round(v, 1) for v in diffs]}")
    calls = 1_000_000
    record = save_rate.save_rate_record
    timer = time.process_time
    empty = min(timeit.repeat(lambda: None, timer=timer, number=calls, repeat=5))
    alone = min(timeit.repeat(lambda: record(exam_id=exam_id), timer=timer, number=calls, repeat=5))
    print(
        f"save_rate_record alone: {alone / calls * 1e9:.0f} ns CPU per call, {(alone - empty) / calls * 1e9:.0f} ns "
        f"net of an empty call (best of 5 x {calls} calls)"
    )
    flushes = 500
    started = time.process_time()
    for _ in range(flushes):
        save_rate.save_rate_record(exam_id=exam_id)
        save_rate.save_rate_flush()
    print(f"one flush (1 exam, 1 minute): {(time.process_time() - started) / flushes * 1e6:.0f} us CPU")
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
