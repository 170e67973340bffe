"""B3: grading an exam.

2,000 students x 50 questions (100,000 answers already in the answer store). The figure is the time from
POST /api/exams/{id}/grade to its job being `done`, with one worker. The floor, measured in the same run: reading
the same 100,000 answers back with cassandra-driver (one prepared SELECT per (exam, student) partition,
execute_concurrent_with_args) from this one process. Target: grade time / floor <= 2.0.

Where the POST goes:
- BENCH_B3_MODE=http (the default when the stack of `make up` answers at BENCH_BASE_URL): through Nginx and
  gunicorn, graded by the stack's Celery worker;
- BENCH_B3_MODE=local (the default otherwise): the same view through DRF's test client in this process, and a
  Celery worker (`-c 1`) that this script starts on the configured broker and stops at the end.
Either way the job row is polled every BENCH_B3_POLL_SECONDS (0.02 s) until it is done.

Seeding goes straight to the services and the driver (django.setup()); it is deterministic (seeded RNG) and
reused from one run to the next (the exam code names the data set).
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

try:
    from bench import client, reporting, seeding
except ImportError:  # run as a script from bench/
    import client  # type: ignore[no-redef]
    import reporting  # type: ignore[no-redef]
    import seeding  # type: ignore[no-redef]

os.environ.setdefault("ANSWER_STORE", "cassandra")

ID = "B3"
WHAT = "Grading 2,000 students x 50 questions, one worker"
TARGET_RATIO = 2.0
SEED = 20260403
CHOICES = 4
STUDENT_PREFIX = "B3"
LEVEL = "Benchmark B3"
# Its own subject, taught by its doctor: an existing subject that nobody teaches can no longer be written into
# through the API, so B3 must not leave B1's "Benchmarks" behind untaught when it runs first.
SUBJECT = "Benchmarks B3"
DOCTOR = "bench-b3-doctor@bench.example.com"


# --- data -----------------------------------------------------------------------------------------


def driver_session() -> tuple[Any, Any, dict[str, Any]]:
    """A cassandra-driver Cluster and Session of this process, configured as the answer store is."""
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
    from cassandra.query import tuple_factory
    from django.conf import settings

    conf = settings.CASSANDRA
    profile = ExecutionProfile(
        row_factory=tuple_factory,  # the cheapest rows the driver makes: a floor, not a competitor
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=conf.get("LOCAL_DC") or None)),
        consistency_level=ConsistencyLevel.name_to_value[conf["CONSISTENCY"]],
        request_timeout=float(conf["REQUEST_TIMEOUT"]) * 4,
    )
    cluster = Cluster(
        contact_points=conf["HOSTS"],
        port=conf["PORT"],
        protocol_version=conf.get("PROTOCOL_VERSION", 4),  # the app's own
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=float(conf["CONNECT_TIMEOUT"]),
    )
    return cluster, cluster.connect(), conf


def seed(*, students: int, questions: int, migrate: bool = True) -> dict[str, Any]:
    """The exam (published, open), its students with started attempts, and every answer in the store.
    Deterministic; reused when the exam already exists with all its answers."""
    seeding.django_setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from core.accounts.services import subject_get_or_create
    from core.exams.models import Attempt, Choice, Exam, Question

    if migrate:
        call_command("migrate", verbosity=0, interactive=False)
    if migrate and settings.ANSWER_STORE == "cassandra":
        call_command("cassandra_sync", verbosity=0)
    doctor = seeding.ensure_doctor(email=DOCTOR)
    people = seeding.ensure_students(
        prefix=STUDENT_PREFIX, count=students, level=LEVEL, password="bench-b3-student-password"
    )
    code = f"B3-{students}x{questions}-{SEED}"
    now = timezone.now()
    exam = Exam.objects.filter(code=code).first()
    if exam is None:
        subject = subject_get_or_create(name=SUBJECT)
        subject.doctors.add(doctor)
        exam = Exam.objects.create(
            code=code,
            title=f"B3 grading, {students} x {questions}",
            subject=subject,
            level=people[0].level,
            owner=doctor,
            kind=Exam.Kind.ONLINE,
            status=Exam.Status.PUBLISHED,
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=3650),  # stays open, so grading never moves it to `graded`
            duration_minutes=60 * 24 * 365 * 10,
        )
        for q in range(questions):
            question = Question.objects.create(exam=exam, text=f"Question {q + 1}", points=1 + q % 3, position=q)
            Choice.objects.bulk_create(
                Choice(question=question, text=f"Choice {c + 1}", is_correct=c == q % CHOICES, position=c)
                for c in range(CHOICES)
            )
    key = [
        (q.id, list(q.choices.order_by("position").values_list("id", flat=True)))
        for q in exam.questions.order_by("position")
    ]
    started_at = now - timedelta(minutes=30)
    Attempt.objects.bulk_create(
        [
            Attempt(exam=exam, student=p, started_at=started_at, deadline=started_at + timedelta(days=3650))
            for p in people
        ],
        ignore_conflicts=True,
    )
    student_ids = [p.id for p in people]
    if _already_seeded(exam_id=exam.id, student_ids=student_ids, questions=questions):
        answers = students * questions
    else:
        answers = _seed_answers(exam_id=exam.id, student_ids=student_ids, key=key)
    return {"exam": exam, "doctor": doctor, "student_ids": student_ids, "answers": answers}


def _already_seeded(*, exam_id: int, student_ids: list[int], questions: int) -> bool:
    """The first and the last student have every answer (seeding writes them all or fails; the floor's
    row count checks the whole set anyway)."""
    from core.answers.store import answer_store

    found = answer_store().for_exam(exam_id=exam_id, student_ids=[student_ids[0], student_ids[-1]])
    return all(len(answers) == questions for answers in found.values())


def _seed_answers(*, exam_id: int, student_ids: list[int], key: list[tuple[int, list[int]]]) -> int:
    """Every student answers every question (a seeded mix: mostly right, some wrong, some multi-picks)."""
    from django.conf import settings

    from core.answers.store import answer_store

    rng = random.Random(SEED)
    saved_at = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for student_id in student_ids:
        skill = rng.random()
        for position, (question_id, choices) in enumerate(key):
            if rng.random() < skill:
                picked = [choices[position % CHOICES]]  # the seeded exam's correct choice
            elif rng.random() < 0.2:
                picked = rng.sample(choices, 2)
            else:
                picked = [rng.choice(choices)]
            rows.append((student_id, question_id, picked))
    if settings.ANSWER_STORE != "cassandra":
        by_student: dict[int, list[tuple[int, list[int]]]] = {}
        for student_id, question_id, picked in rows:
            by_student.setdefault(student_id, []).append((question_id, picked))
        store = answer_store()
        for student_id, answers in by_student.items():
            store.save(exam_id=exam_id, student_id=student_id, answers=answers, saved_at=saved_at)
        return len(rows)
    from cassandra.concurrent import execute_concurrent
    from cassandra.query import BatchStatement, BatchType

    from core.answers.cassandra import AnswerRow

    cluster, session, conf = driver_session()
    try:
        insert = session.prepare(
            AnswerRow.insert_cql(
                conf["KEYSPACE"],
                columns=("exam_id", "student_id", "question_id", "choice_ids", "saved_at"),
                using_timestamp=True,
            )
        )
        micros = int(saved_at.timestamp() * 1_000_000)
        # One unlogged batch per student: a single-partition batch is one mutation, as a save of many answers is
        # (B2), so a million answers of 20,000 students are 20,000 writes, not a million.
        batches: dict[int, Any] = {}
        for s, q, c in rows:
            batch = batches.get(s)
            if batch is None:
                batch = batches[s] = BatchStatement(batch_type=BatchType.UNLOGGED)
                batch.is_idempotent = True
            batch.add(insert, (exam_id, s, q, frozenset(c), saved_at, micros))
        # A busy machine times some writes out (2 s): they are idempotent, so send those again, up to 5 times.
        todo = list(batches.values())
        for _ in range(5):
            results = execute_concurrent(session, [(b, None) for b in todo], concurrency=16, raise_on_first_error=False)
            todo = [b for b, result in zip(todo, results, strict=True) if not result.success]
            if not todo:
                break
        if todo:
            raise RuntimeError(f"seeding: {len(todo)} students' answers could not be written")
    finally:
        cluster.shutdown()
    return len(rows)


# --- the floor --------------------------------------------------------------------------------------


class FloorReader:
    """Reads every answer of the exam back, one prepared SELECT per (exam, student) partition, concurrently."""

    def __init__(self, *, exam_id: int, student_ids: list[int], concurrency: int) -> None:
        from core.answers.cassandra import AnswerRow

        self.cluster, self.session, conf = driver_session()
        self.select = self.session.prepare(
            AnswerRow.select_cql(conf["KEYSPACE"], columns=("question_id", "choice_ids", "saved_at"))
        )
        self.select.is_idempotent = True
        self.params = [(exam_id, s) for s in student_ids]
        self.concurrency = concurrency
        self.rows = 0

    def read_once(self) -> float:
        from cassandra.concurrent import execute_concurrent_with_args

        started = time.perf_counter()
        results = execute_concurrent_with_args(
            self.session, self.select, self.params, concurrency=self.concurrency, raise_on_first_error=True
        )
        self.rows = sum(len(list(result.result_or_exc)) for result in results)
        return time.perf_counter() - started

    def close(self) -> None:
        self.cluster.shutdown()


# --- the figure ---------------------------------------------------------------------------------------


def _stack_answers(base_url: str) -> bool:
    try:
        status, _ = client.http_json("GET", f"{base_url}/health", timeout=3)
    except OSError:
        return False
    return status == 200


class LocalWorker:
    """One Celery worker process (concurrency 1) on the configured broker, for the local mode."""

    def __init__(self) -> None:
        self.log = Path(tempfile.gettempdir()) / f"b3-worker-{os.getpid()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LocalWorker:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        celery = Path(sys.executable).with_name("celery")
        command = [str(celery), "-A", "core", "worker", "-c", "1", "-P", "prefork", "-l", "warning"]
        command += ["-n", f"b3-{os.getpid()}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.process = subprocess.Popen(
            command,
            cwd=reporting.REPO,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            preexec_fn=client.unpin_child,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def grade_once(*, exam_id: int, doctor: Any, mode: str, base_url: str, timeout: float, poll: float) -> float:
    """POST /grade, then poll the job until it is done; seconds from the POST to done."""
    from core.jobs.models import Job

    token = seeding.access_token(doctor)
    started = time.perf_counter()
    if mode == "http":
        status, body = client.http_json("POST", f"{base_url}/api/exams/{exam_id}/grade", token=token)
    else:
        from rest_framework.test import APIClient

        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = api.post(f"/api/exams/{exam_id}/grade")
        status, body = response.status_code, response.json()
    job_id = client.expect(status, body, 202, "POST /api/exams/{id}/grade")["job"]["id"]
    deadline = started + timeout
    while True:
        job = Job.objects.filter(id=job_id).values("status", "errors").get()
        if job["status"] == Job.Status.DONE:
            return time.perf_counter() - started
        if job["status"] == Job.Status.FAILED:
            raise RuntimeError(f"grading job {job_id} failed: {job['errors']}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"grading job {job_id} not done within {timeout:.0f} s (is a worker running?)")
        time.sleep(poll)


def run() -> dict[str, Any]:
    students = reporting.env_int("BENCH_B3_STUDENTS", 2000)
    questions = reporting.env_int("BENCH_B3_QUESTIONS", 50)
    repeats = reporting.env_int("BENCH_B3_REPEATS", 3)
    timeout = reporting.env_float("BENCH_B3_TIMEOUT_SECONDS", 180.0)
    poll = reporting.env_float("BENCH_B3_POLL_SECONDS", 0.02)
    floor_concurrency = reporting.env_int("BENCH_B3_DRIVER_CONCURRENCY", 100)
    base_url = client.DEFAULT_BASE_URL
    mode = os.environ.get("BENCH_B3_MODE") or ("http" if _stack_answers(base_url) else "local")

    seeding.django_setup()
    from django.conf import settings

    from core.grading.services import GRADING_BATCH

    seeded_at = time.perf_counter()
    data = seed(students=students, questions=questions)
    seed_seconds = time.perf_counter() - seeded_at
    exam, doctor, student_ids = data["exam"], data["doctor"], data["student_ids"]

    if settings.ANSWER_STORE != "cassandra":
        raise RuntimeError("B3 measures the Cassandra answer store: run it with ANSWER_STORE=cassandra")
    floor_reader = FloorReader(exam_id=exam.id, student_ids=student_ids, concurrency=floor_concurrency)

    def measure() -> tuple[list[float], list[float]]:
        # Interleaved, so that both sides see the same neighbours on a shared machine; one warm-up of each.
        floor_reader.read_once()
        grade_once(exam_id=exam.id, doctor=doctor, mode=mode, base_url=base_url, timeout=timeout, poll=poll)
        floor_runs, runs = [], []
        for _ in range(repeats):
            floor_runs.append(floor_reader.read_once())
            runs.append(
                grade_once(exam_id=exam.id, doctor=doctor, mode=mode, base_url=base_url, timeout=timeout, poll=poll)
            )
        return floor_runs, runs

    try:
        if mode == "local":
            with LocalWorker():
                floor_runs, runs = measure()
        else:
            floor_runs, runs = measure()
    finally:
        floor_reader.close()
    if floor_reader.rows != data["answers"]:
        raise RuntimeError(f"the floor read {floor_reader.rows} answers, expected {data['answers']}")
    floor = {"seconds": statistics.median(floor_runs), "runs": [round(t, 3) for t in floor_runs]}
    figure = statistics.median(runs)
    ratio = figure / floor["seconds"] if floor["seconds"] else float("inf")
    degrees = exam.degrees.count()
    if degrees != students:
        raise RuntimeError(f"grading wrote {degrees} degrees, expected {students}")
    return {
        "id": ID,
        "what": WHAT,
        "figure": round(figure, 3),
        "unit": "s, POST /grade to job done (median)",
        "floor": round(floor["seconds"], 3),
        "floor_unit": "s, driver reads of the same answers (median)",
        "ratio": round(ratio, 3),
        "target": TARGET_RATIO,
        "target_rule": f"ratio <= {TARGET_RATIO}",
        "met": ratio <= TARGET_RATIO,
        "runs": [round(r, 3) for r in runs],
        "floor_runs": floor["runs"],
        "students": students,
        "questions": questions,
        "answers": data["answers"],
        "degrees": degrees,
        "mode": mode,
        "grading_batch": GRADING_BATCH,
        "driver_concurrency": floor_concurrency,
        "seed_seconds": round(seed_seconds, 1),
        "notes": (
            f"{mode} mode; {repeats} gradings and {repeats} floor reads, interleaved, after one warm-up of each; "
            f"the job row is polled every {poll} s; load average at the end {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} CPUs"
        ),
    }


if __name__ == "__main__":
    import json

    result = run()
    print(json.dumps(result, indent=2, default=str))
    reporting.write_results([result], name="b3.json")
