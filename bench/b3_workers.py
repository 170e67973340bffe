"""B3 at scale, fanned out: one exam of 20,000 students x 50 questions graded by 1 and by 2 worker instances.

Same run, alternating: the stack of `make up` grades the exam (POST /api/exams/{id}/grade through Nginx, the job
polled until done) once with its worker instance 1 alone, then with a second instance started beside it
(`WORKER_INSTANCES=2 scripts/services.sh start worker` starts only the missing one); before each one-worker round
every instance is stopped (a warm shutdown) and one started again. Each instance runs CELERY_CONCURRENCY processes
(2 by default). Every grading must write one degree per student, and the two-worker gradings the very same degrees
as the one-worker ones (compared student by student).

Each grading also reports the CPU seconds of the worker instances, the Cassandra node(s) and PostgreSQL (its
processes alive when the grading starts) spent on it: on a shared machine the wall time follows the neighbours,
the CPU per student much less, and it tells whether the cores are the limit.

Seeding reuses B3's (bench/b3_grading.py: deterministic, one unlogged batch per student, reused from one run to
the next) and is timed: the first run of a size pays it.

    .venv/bin/python bench/b3_workers.py

Settings: BENCH_GW_STUDENTS (20,000), BENCH_GW_QUESTIONS (50), BENCH_GW_SEED_SECONDS (240: the seeding budget, see
run()), BENCH_GW_ROUNDS (2), BENCH_GW_WARMUP (1: one round first that is not counted), BENCH_GW_TIMEOUT_SECONDS
(300, per grading).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from typing import Any

try:
    from bench import b3_grading, client, processes, reporting, seeding
except ImportError:  # run as a script from bench/
    import b3_grading  # type: ignore[no-redef]
    import client  # type: ignore[no-redef]
    import processes  # type: ignore[no-redef]
    import reporting  # type: ignore[no-redef]
    import seeding  # type: ignore[no-redef]

ID = "B3W"
WHAT = "Grading 20,000 students x 50 questions with 1 and 2 worker instances, same run"
SERVICES = str(reporting.REPO / "scripts" / "services.sh")
PILOT = 1000


def _services_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SERVICES_LOCKED"}
    env.update(extra)
    return env


def _services(action: str, *, instances: int) -> None:
    out = subprocess.run(
        [SERVICES, action, "worker"],
        env=_services_env(WORKER_INSTANCES=str(instances)),
        capture_output=True,
        text=True,
        timeout=180,
    )
    if out.returncode != 0:
        raise RuntimeError(f"services.sh {action} worker ({instances} instance(s)): {out.stderr[-1500:]}")


def workers_set(instances: int) -> None:
    """Exactly `instances` worker instances running: services.sh stops every instance (a warm shutdown) and starts
    the ones asked for; starting more only starts the missing ones."""
    if instances == 1:
        _services("stop", instances=1)
    _services("start", instances=instances)


def _seeded(*, students: int, questions: int) -> bool:
    from core.exams.models import Exam

    exam = Exam.objects.filter(code=f"B3-{students}x{questions}-{b3_grading.SEED}").first()
    if exam is None:
        return False
    ids = list(exam.attempts.order_by("student_id").values_list("student_id", flat=True))
    return len(ids) == students and b3_grading._already_seeded(exam_id=exam.id, student_ids=ids, questions=questions)


def degrees_of(exam_id: int) -> dict[int, Any]:
    from core.grading.models import Degree

    return dict(Degree.objects.filter(exam_id=exam_id).values_list("student_id", "marks_obtained"))


def run() -> dict[str, Any]:
    students = reporting.env_int("BENCH_GW_STUDENTS", 20_000)
    questions = reporting.env_int("BENCH_GW_QUESTIONS", 50)
    rounds = reporting.env_int("BENCH_GW_ROUNDS", 2)
    warmup = 1 if reporting.env_int("BENCH_GW_WARMUP", 1) else 0
    timeout = reporting.env_float("BENCH_GW_TIMEOUT_SECONDS", 300.0)
    base_url = client.DEFAULT_BASE_URL
    seeding.django_setup()
    from django.conf import settings

    if settings.ANSWER_STORE != "cassandra":
        raise RuntimeError("run it against the stack of make up (ANSWER_STORE=cassandra)")
    workers_set(1)

    # Seeding a million answers may not fit on a busy machine: a pilot of PILOT students gives the rate, and the
    # size is the largest multiple of 1,000 students (at most the one asked for) that fits the seeding budget.
    wanted, budget = students, reporting.env_float("BENCH_GW_SEED_SECONDS", 240.0)
    pilot_at = time.perf_counter()
    b3_grading.seed(students=PILOT, questions=questions, migrate=False)
    pilot_seconds = time.perf_counter() - pilot_at
    rate = PILOT / max(pilot_seconds, 1e-3)
    if not _seeded(students=students, questions=questions) and students / rate > budget:
        students = max(PILOT, min(students, int(rate * budget) // 1000 * 1000))
    print(
        f"  B3W: pilot {PILOT} x {questions} in {pilot_seconds:.0f} s ({rate:.0f} students/s); "
        f"{students} students (asked {wanted}, seeding budget {budget:.0f} s)",
        flush=True,
    )
    seeded_at = time.perf_counter()
    data = b3_grading.seed(students=students, questions=questions, migrate=False)
    seed_seconds = time.perf_counter() - seeded_at
    print(f"  B3W: {students} x {questions} seeded (or found) in {seed_seconds:.0f} s", flush=True)
    exam, doctor = data["exam"], data["doctor"]

    def grade() -> float:
        return b3_grading.grade_once(
            exam_id=exam.id, doctor=doctor, mode="http", base_url=base_url, timeout=timeout, poll=0.1
        )

    runs: dict[int, list[float]] = {1: [], 2: []}
    # CPU seconds of the worker instances and of Cassandra per grading: on a shared 2-core machine the wall time
    # depends on the neighbours; what a grading costs does much less, and says whether the cores are the limit.
    cpu: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    reference: dict[int, Any] | None = None
    mismatched = 0
    loads: list[float] = []
    try:
        first = 1 - warmup  # round 0 warms both up and is not counted (BENCH_GW_WARMUP=0 skips it)
        for round_ in range(first, rounds + 1):
            for workers in (1, 2):
                workers_set(workers)
                parts = processes.processes("worker", "cassandra", "postgres")
                before = processes.cpu_by_part(parts)
                seconds = grade()
                spent = {part: used - before[part] for part, used in processes.cpu_by_part(parts).items()}
                degrees = degrees_of(exam.id)
                if len(degrees) != students:
                    raise RuntimeError(f"{workers} worker(s) wrote {len(degrees)} degrees, expected {students}")
                if reference is None:
                    reference = degrees
                else:
                    mismatched += sum(1 for sid, marks in degrees.items() if reference.get(sid) != marks)
                loads.append(os.getloadavg()[0])
                print(
                    f"  B3W: round {round_}, {workers} worker(s): {seconds:.1f} s, CPU s: worker "
                    f"{spent['worker']:.1f}, cassandra {spent['cassandra']:.1f}, postgres {spent['postgres']:.1f} "
                    f"(load average {loads[-1]:.1f}){' (warm-up)' if round_ == 0 else ''}",
                    flush=True,
                )
                if round_:
                    runs[workers].append(seconds)
                    cpu[workers].append(spent)
    finally:
        workers_set(1)
    one, two = statistics.median(runs[1]), statistics.median(runs[2])
    concurrency = int(os.environ.get("CELERY_CONCURRENCY") or 2)
    return {
        "id": ID,
        "what": WHAT,
        "figure": round(two, 2),
        "unit": "s, POST /grade to job done with 2 worker instances (median)",
        "floor": round(one, 2),
        "floor_unit": "s, the same with 1 worker instance (median)",
        "ratio": round(two / one, 3) if one else None,
        "target": "report (speed-up of 2 workers over 1)",
        "met": mismatched == 0,
        "runs_1_worker": [round(r, 2) for r in runs[1]],
        "runs_2_workers": [round(r, 2) for r in runs[2]],
        "students": students,
        "questions": questions,
        "answers": data["answers"],
        "students_per_s_1_worker": round(students / one),
        "students_per_s_2_workers": round(students / two),
        "degrees_mismatched": mismatched,
        "chunk_students": settings.GRADING_CHUNK_STUDENTS,
        "processes_per_worker": concurrency,
        "cassandra_nodes": int(settings.CASSANDRA_NODES),
        "students_asked": wanted,
        "seed_seconds": round(seed_seconds, 1),
        "seed_pilot_students_per_s": round(rate, 1),
        "load_average": [round(x, 1) for x in loads],
        "cpu_seconds_1_worker": [{k: round(v, 1) for k, v in c.items()} for c in cpu[1]],
        "cpu_seconds_2_workers": [{k: round(v, 1) for k, v in c.items()} for c in cpu[2]],
        "cpu_ms_per_student": round(statistics.median(sum(c.values()) for c in cpu[1] + cpu[2]) * 1000 / students, 2),
        "notes": (
            f"{rounds} rounds of (1 worker, 2 workers){' after one warm-up round' if warmup else ''}; each worker "
            f"instance runs "
            f"{concurrency} processes; {settings.CASSANDRA_NODES} Cassandra node(s); chunks of "
            f"{settings.GRADING_CHUNK_STUDENTS} students; seeding took {seed_seconds:.0f} s "
            f"(pilot: {rate:.0f} students/s, "
            f"{students} of the {wanted} students asked fit the {budget:.0f} s budget); every grading wrote "
            f"{students} degrees, {mismatched} differing from the first grading's"
        ),
    }


if __name__ == "__main__":
    import json

    result = run()
    print(json.dumps(result, indent=2, default=str))
    reporting.write_results([result], name="b3_workers.json")
