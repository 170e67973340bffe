"""The six failure drills. Each returns a DrillResult; none leaves a server stopped or frozen (the nemeses heal
in `finally`). See docs/drills.md."""

from __future__ import annotations

import asyncio
import random
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import client, seeding
from drills import nemesis
from drills.load import prepare
from loadgen import Load


@dataclass
class Shape:
    """How big a load drill is."""

    students: int = 80
    questions: int = 40
    think_ms: float = 500.0
    fault_after: float = 8.0  # seconds of steady load before the fault
    settle: float = 10.0  # seconds of load after the heal, at least
    settle_max: float = 40.0  # ... and until the save rate is back, at most this long
    max_seconds: float = 150.0  # the load stops by itself after this, whatever happens
    grade_students: int = 2000
    grade_questions: int = 40


FULL = Shape()
CI = Shape(students=40, questions=30, fault_after=5.0, settle=6.0, settle_max=30.0, max_seconds=90.0)


@dataclass
class DrillResult:
    name: str
    fault: str
    ok: bool = False
    requests: int = 0
    acknowledged: int = 0
    refused: int = 0
    unknown: int = 0
    lost: int = 0
    half_applied: int = 0
    refused_checked: int = 0
    refused_landed: int = 0
    recovery: dict[str, Any] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    probe: dict[str, Any] = field(default_factory=dict)
    timeline: dict[str, list[Any]] = field(default_factory=dict)
    kind: str = "load"  # or "job" (the worker drill: no saves; degrees instead)
    fault_seconds: float | None = None  # from the fault to the server being back (heal done)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


# --- drills 1, 2, 3, 5: load + a fault ------------------------------------------------------------------


def load_drill(
    name: str,
    fault: str,
    make_nemesis: Callable[[nemesis.Times], AbstractContextManager[Any]],
    *,
    hold: float,
    shape: Shape,
    base_url: str,
    extra_check: Callable[[Load, nemesis.Times, DrillResult], None] | None = None,
    read_back: Callable[[Load, DrillResult], tuple[dict[int, dict[int, tuple[int, ...]]], int]] | None = None,
) -> DrillResult:
    """Load, the fault, then every student's answers read back (through the API, or by `read_back`, e.g. with
    the driver at consistency ALL on a cluster) and checked."""
    result = DrillResult(name=name, fault=fault)
    started = time.monotonic()
    print(f"\n=== drill {name}: {fault}", flush=True)
    try:
        fixture = prepare(base_url, students=shape.students, questions=shape.questions, tag=name.upper())
        load = Load(fixture, think_ms=shape.think_ms, max_seconds=shape.max_seconds)
        times = nemesis.Times()
        asyncio.run(_run_with_fault(load, make_nemesis, times, hold=hold, shape=shape))
        print(
            f"  load stopped after {load.stopped - load.started:.1f} s; reading every student's answers back",
            flush=True,
        )
        client.wait_http(f"{fixture.target.base_url}/health", 180)
        if read_back is None:
            stored, read_errors = asyncio.run(load.read_back())
        else:
            stored, read_errors = read_back(load, result)
        verdict = load.verify(stored, read_errors)
        result.requests = len(load.sends)
        result.acknowledged = load.count("ack")
        result.refused = load.count("refused")
        result.unknown = load.count("unknown")
        result.lost = verdict.lost
        result.half_applied = verdict.half_applied
        result.refused_checked = verdict.refused_checked
        result.refused_landed = verdict.refused_landed
        result.statuses = load.statuses()
        result.samples = verdict.lost_samples + verdict.half_applied_samples
        if times.fault is not None and times.healed is not None:
            result.fault_seconds = round(times.healed - times.fault, 2)
            result.recovery = load.recovery(fault=times.fault, healed=times.healed)
            result.probe = load.probe_figures(fault=times.fault, healed=times.healed)
            result.timeline = load.timeline()
            result.timeline["fault_at_s"] = [round(times.fault - load.started, 1)]
            result.timeline["healed_at_s"] = [round(times.healed - load.started, 1)]
        result.notes += times.notes
        result.notes += [f"no response: {sample}" for sample in load.no_response_samples]
        if verdict.read_errors or verdict.students_checked != len(fixture.tokens):
            result.notes.append(f"{verdict.read_errors} students could not be read back")
        if verdict.foreign_values:
            result.notes.append(f"{verdict.foreign_values} stored values that no request sent")
        result.ok = (
            verdict.lost == 0
            and verdict.half_applied == 0
            and verdict.foreign_values == 0
            and verdict.read_errors == 0
            and verdict.students_checked == len(fixture.tokens)
            and result.acknowledged > 0
            and result.recovery.get("first_ok_s") is not None
        )
        # docs/product.md rule 8: a 500 is a bug, fault or not (a store that does not answer is a 503)
        fives = result.statuses.get("500", 0) + result.probe.get("probe_statuses", {}).get("500", 0)
        if fives:
            result.ok = False
            result.notes.append(f"{fives} responses of 500 (saves and probe): a server error, not a 503")
        if extra_check is not None:
            extra_check(load, times, result)
    except Exception as exc:  # a drill that cannot finish is a failed drill, and the others still run
        result.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    result.seconds = round(time.monotonic() - started, 1)
    return result


async def _run_with_fault(
    load: Load,
    make_nemesis: Callable[[nemesis.Times], AbstractContextManager[Any]],
    times: nemesis.Times,
    *,
    hold: float,
    shape: Shape,
) -> None:
    task = asyncio.create_task(load.run())
    ticker = asyncio.create_task(_progress(load))
    try:
        await asyncio.sleep(shape.fault_after)

        def inject_hold_heal() -> None:
            with make_nemesis(times):
                time.sleep(hold)

        await asyncio.to_thread(inject_hold_heal)
        # settle: at least shape.settle seconds, and until the save rate is back (at most settle_max seconds)
        healed = times.healed or time.monotonic()
        while time.monotonic() - healed < shape.settle_max:
            await asyncio.sleep(1.0)
            if time.monotonic() - healed < shape.settle:
                continue
            if load.recovery(fault=times.fault or healed, healed=healed)["throughput_s"] is not None:
                break
    finally:
        load.stop()
        await task
        ticker.cancel()


async def _progress(load: Load) -> None:
    last = 0
    while True:
        await asyncio.sleep(2.0)
        done = [s for s in load.sends if s.done]
        ok = sum(1 for s in done if s.outcome == "ack")
        codes: dict[str, int] = {}
        for s in done[last:]:
            codes[str(s.status or "none")] = codes.get(str(s.status or "none"), 0) + 1
        last = len(done)
        print(
            f"  {time.monotonic() - load.started:6.1f}s  saves={len(done):<6d} ok={ok:<6d} last 2 s: {codes}",
            flush=True,
        )


def drill_web(shape: Shape, base_url: str) -> DrillResult:
    port = max(int(name.split("-")[1]) for name in nemesis.pids_of("web"))
    return load_drill(
        "web",
        f"kill -9 of gunicorn web-{port} (master and workers), restarted after 5 s",
        lambda t: nemesis.kill_web_instance(port, t),
        hold=5.0,
        shape=shape,
        base_url=base_url,
    )


def drill_cassandra(shape: Shape, base_url: str) -> DrillResult:
    def no_false_2xx(load: Load, times: nemesis.Times, result: DrillResult) -> None:
        # Saves sent once Cassandra had stopped and answered before it was back: each 2xx among them would
        # have to be in the store (the lost check covers it); count them, they should be 0.
        if times.fault is None or times.heal_started is None:
            return
        stopped_at = times.down or times.fault
        down = [s for s in load.sends if s.sent >= stopped_at and s.done and s.done <= times.heal_started]
        acked = sum(1 for s in down if s.outcome == "ack")
        codes: dict[str, int] = {}
        for s in down:
            codes[str(s.status or "no_response")] = codes.get(str(s.status or "no_response"), 0) + 1
        result.notes.append(f"{len(down)} saves while Cassandra was down: {acked} got 2xx; statuses {codes}")
        if acked:
            result.ok = False
        # docs/api.md: "503 when the answer store is down" (with its JSON body), whatever proxy is in front
        others = sum(n for code, n in codes.items() if code != "503")
        if others:
            result.ok = False
            result.notes.append(f"{others} of them did not get the 503 that docs/api.md promises")

    return load_drill(
        "cassandra",
        "Cassandra stopped for 10 s, then started (waits until it answers)",
        nemesis.stop_cassandra,
        hold=10.0,
        shape=shape,
        base_url=base_url,
        extra_check=no_false_2xx,
    )


def drill_postgres(shape: Shape, base_url: str) -> DrillResult:
    return load_drill(
        "postgres",
        "PostgreSQL frozen (SIGSTOP postmaster and children) for 5 s, then SIGCONT",
        nemesis.freeze_postgres,
        hold=5.0,
        shape=shape,
        base_url=base_url,
    )


def drill_redis(shape: Shape, base_url: str) -> DrillResult:
    return load_drill(
        "redis",
        "Redis restarted (services.sh stop + start) mid-load",
        nemesis.restart_redis,
        hold=0.0,
        shape=shape,
        base_url=base_url,
    )


FREEZE_STUDENTS = 100


def drill_cassandra_freeze(shape: Shape, base_url: str) -> DrillResult:
    """docs/decisions 0013: with the one Cassandra node frozen, every save still gets its answer, 2xx or 503, within
    the app's deadline (CASSANDRA_DEADLINE) plus 1 s, never a 504 from Nginx or a hang; 0 lost."""

    def bounded(load: Load, times: nemesis.Times, result: DrillResult) -> None:
        from django.conf import settings

        if times.fault is None or times.heal_started is None:
            return
        bound = float(settings.CASSANDRA["DEADLINE"]) + 1.0
        during = [s for s in load.sends if times.fault <= s.sent < times.heal_started]
        codes: dict[str, int] = {}
        for s in during:
            codes[str(s.status or "no_response")] = codes.get(str(s.status or "no_response"), 0) + 1
        waits = sorted((s.done - s.sent) for s in during if s.done)
        slowest = waits[-1] if waits else 0.0
        p99 = waits[min(len(waits) - 1, int(0.99 * len(waits)))] if waits else 0.0
        result.notes.append(
            f"{len(during)} saves sent while Cassandra was frozen: statuses {codes}; p99 {p99 * 1000:.0f} ms, "
            f"slowest {slowest * 1000:.0f} ms (bound {bound:.1f} s)"
        )
        others = sum(n for code, n in codes.items() if not code.startswith("2") and code != "503")
        if not during or others or slowest > bound:
            result.ok = False

    frozen = Shape(**{**shape.__dict__, "students": max(shape.students, FREEZE_STUDENTS)})
    return load_drill(
        "cassandra-freeze",
        f"the one Cassandra node frozen (SIGSTOP) for 12 s under {frozen.students} students, then SIGCONT",
        nemesis.freeze_cassandra,
        hold=12.0,
        shape=frozen,
        base_url=base_url,
        extra_check=bounded,
    )


# --- drill 4: kill -9 the worker mid-grade ------------------------------------------------------------

GRADE_PREFIX = "DRILLG"
GRADE_LEVEL = "Drill grading level"
GRADE_SEED = 20261122
GRADE_CHOICES = 4
# The chunk of a killed worker is redone after its lease (20 s) plus one sweep (10 s): within the job's lease.
REDO_WITHIN = 60


def _grade_key(q: int) -> set[int]:
    """Positions of the correct choices of question q: one, and a second one for every fifth question."""
    return {q % GRADE_CHOICES} | ({(q + 1) % GRADE_CHOICES} if q % 5 == 0 else set())


def _grade_seed(*, students: int, questions: int) -> dict[str, Any]:
    """An open exam, its students with attempts, and every answer written straight into Cassandra with the
    driver. Deterministic and reused from one run to the next (the exam code names the data set)."""
    from django.utils import timezone

    from bench.b3_grading import driver_session
    from core.accounts.services import subject_get_or_create
    from core.answers.cassandra import AnswerRow
    from core.exams.models import Attempt, Choice, Exam, Question

    doctor = seeding.ensure_doctor(email="drill-grade-doctor@bench.example.com")
    people = seeding.ensure_students(
        prefix=GRADE_PREFIX, count=students, level=GRADE_LEVEL, password="drill-grade-student-password"
    )
    code = f"DRILL-GRADE-{students}x{questions}-{GRADE_SEED}"
    now = timezone.now()
    exam = Exam.objects.filter(code=code).first()
    fresh = exam is None
    if exam is None:
        exam = Exam.objects.create(
            code=code,
            title=f"Drill grading, {students} x {questions}",
            subject=subject_get_or_create(name="Failure drills"),
            level=people[0].level,
            owner=doctor,
            kind=Exam.Kind.ONLINE,
            status=Exam.Status.PUBLISHED,
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=3650),  # stays open: grading leaves it published, so it can run again
            duration_minutes=60 * 24 * 365 * 10,
        )
        for q in range(questions):
            question = Question.objects.create(exam=exam, text=f"Question {q + 1}", points=1 + q % 3, position=q)
            Choice.objects.bulk_create(
                Choice(question=question, text=f"Choice {c + 1}", is_correct=c in _grade_key(q), position=c)
                for c in range(GRADE_CHOICES)
            )
    started_at = now - timedelta(minutes=30)
    Attempt.objects.bulk_create(
        [
            Attempt(exam=exam, student=p, started_at=started_at, deadline=started_at + timedelta(days=3650))
            for p in people
        ],
        ignore_conflicts=True,
    )
    if fresh:
        key = [
            (q.id, list(q.choices.order_by("position").values_list("id", flat=True)))
            for q in exam.questions.order_by("position")
        ]
        rng = random.Random(GRADE_SEED)
        saved_at = datetime(2026, 1, 1, tzinfo=UTC)
        micros = int(saved_at.timestamp() * 1_000_000)
        rows = []
        for p in people:
            skill = rng.random()
            for position, (question_id, choices) in enumerate(key):
                if rng.random() < 0.1:
                    continue  # unanswered
                if rng.random() < skill:
                    picked = [choices[c] for c in _grade_key(position)]
                else:
                    picked = rng.sample(choices, rng.randint(1, 2))
                rows.append((exam.id, p.id, question_id, frozenset(picked), saved_at, micros))
        from cassandra.concurrent import execute_concurrent_with_args

        cluster, session, conf = driver_session()
        try:
            insert = session.prepare(
                AnswerRow.insert_cql(
                    conf["KEYSPACE"],
                    columns=("exam_id", "student_id", "question_id", "choice_ids", "saved_at"),
                    using_timestamp=True,
                )
            )
            execute_concurrent_with_args(session, insert, rows, concurrency=200, raise_on_first_error=True)
        finally:
            cluster.shutdown()
    return {"exam": exam, "doctor": doctor, "student_ids": [p.id for p in people]}


def _independent_marks(*, exam_id: int, student_ids: list[int]) -> tuple[dict[int, int], int]:
    """Each student's marks computed here, from answers read with the driver (not the app's store) and the key
    in PostgreSQL: a question scores its points when the chosen set equals the correct set (docs/product.md rule 3)."""
    from cassandra.concurrent import execute_concurrent_with_args

    from bench.b3_grading import driver_session
    from core.answers.cassandra import AnswerRow
    from core.exams.models import Choice, Question

    points = dict(Question.objects.filter(exam_id=exam_id).values_list("id", "points"))
    correct: dict[int, set[int]] = {q: set() for q in points}
    for question_id, choice_id in Choice.objects.filter(question__exam_id=exam_id, is_correct=True).values_list(
        "question_id", "id"
    ):
        correct[question_id].add(choice_id)
    cluster, session, conf = driver_session()
    try:
        select = session.prepare(AnswerRow.select_cql(conf["KEYSPACE"], columns=("question_id", "choice_ids")))
        results = execute_concurrent_with_args(
            session, select, [(exam_id, s) for s in student_ids], concurrency=100, raise_on_first_error=True
        )
        marks = {}
        for student_id, (success, rows) in zip(student_ids, results, strict=True):
            assert success, rows
            marks[student_id] = sum(
                points[q] for q, choices in rows if q in points and set(choices or ()) == correct[q]
            )
    finally:
        cluster.shutdown()
    return marks, sum(points.values())


def drill_worker(shape: Shape, base_url: str) -> DrillResult:
    result = DrillResult(
        name="worker",
        kind="job",
        fault=f"kill -9 of the Celery worker mid-grade ({shape.grade_students} x {shape.grade_questions}), "
        "restarted as it was (the broker's own visibility timeout: the chunk is redone after its lease)",
    )
    started = time.monotonic()
    print(f"\n=== drill worker: {result.fault}", flush=True)
    try:
        from django.db.models import Count

        from core.grading.models import Degree
        from core.jobs.models import Job, JobChunk

        target = client.loopback_target(base_url)
        client.wait_http(f"{target.base_url}/health", 120)
        data = _grade_seed(students=shape.grade_students, questions=shape.grade_questions)
        exam, student_ids = data["exam"], data["student_ids"]
        Degree.objects.filter(exam=exam).delete()  # every degree checked below comes from this drill's job
        token = seeding.access_token(data["doctor"])
        status, payload = client.http_json("POST", f"{target.base_url}/api/exams/{exam.id}/grade", token=token)
        job_id = client.expect(status, payload, 202, "POST /api/exams/{id}/grade")["job"]["id"]
        posted = time.monotonic()
        print(f"  job {job_id} queued; waiting for it to run", flush=True)
        # kill once the job is running and has done some of its work (or 1.5 s into it)
        running_at = None
        job = Job.objects.get(id=job_id)
        while time.monotonic() - posted < 120:
            job = Job.objects.get(id=job_id)
            if job.status == Job.Status.RUNNING:
                running_at = running_at or time.monotonic()
                if job.processed > 0 or time.monotonic() - running_at > 1.5:
                    break
            elif job.status in (Job.Status.DONE, Job.Status.FAILED):
                break
            time.sleep(0.02)
        if job.status != Job.Status.RUNNING:
            raise RuntimeError(
                f"job {job_id} was {job.status} before the kill (processed {job.processed}); make the exam bigger"
            )
        first_started_at = job.started_at
        times = nemesis.Times()
        with nemesis.kill_worker(times):
            time.sleep(1.0)
            job.refresh_from_db()
            result.notes.append(f"killed at {job.processed}/{job.total} students; job still {job.status}")
            print(f"  {result.notes[-1]}", flush=True)
        # wait for redelivery, the lease (60 s) and the rerun, bounded
        reclaimed = None
        deadline = time.monotonic() + REDO_WITHIN + 180
        while time.monotonic() < deadline:
            job.refresh_from_db()
            redone = JobChunk.objects.filter(job_id=job_id, claims__gt=1).exists()
            if reclaimed is None and (job.started_at != first_started_at or redone):
                reclaimed = time.monotonic()
                print(f"  job re-claimed {reclaimed - times.fault:.1f} s after the kill", flush=True)
            if job.status in (Job.Status.DONE, Job.Status.FAILED):
                break
            time.sleep(0.2)
        done_at = time.monotonic()
        result.fault_seconds = round(times.healed - times.fault, 2) if times.healed else None
        result.recovery = {
            "redelivered_s": round(reclaimed - times.fault, 1) if reclaimed else None,
            "job_done_s": round(done_at - times.fault, 1) if job.status == Job.Status.DONE else None,
        }
        # the check
        marks, available = _independent_marks(exam_id=exam.id, student_ids=student_ids)
        degrees = {d.student_id: d for d in Degree.objects.filter(exam=exam)}
        doubles = Degree.objects.filter(exam=exam).values("student_id").annotate(n=Count("id")).filter(n__gt=1).count()
        wrong = [
            s
            for s in student_ids
            if s not in degrees or degrees[s].marks_obtained != marks[s] or degrees[s].marks_available != available
        ]
        extra = len(set(degrees) - set(student_ids))
        result.lost = len(wrong) + doubles + extra
        result.samples = [
            {"student_id": s, "degree": degrees[s].marks_obtained if s in degrees else None, "expected": marks[s]}
            for s in wrong[:10]
        ]
        result.notes.append(
            f"job {job.status}, processed {job.processed}/{job.total}; {len(degrees)} degrees for "
            f"{len(student_ids)} attempts, {len(wrong)} differ from the independent marks, {doubles} students "
            f"with two degrees, {extra} degrees without an attempt"
        )
        result.ok = (
            job.status == Job.Status.DONE
            and job.processed == job.total == len(student_ids)
            and not wrong
            and not doubles
            and not extra
            and reclaimed is not None
            and reclaimed - times.fault <= REDO_WITHIN
        )
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    result.seconds = round(time.monotonic() - started, 1)
    return result


DRILLS: dict[str, Callable[[Shape, str], DrillResult]] = {
    "web": drill_web,
    "cassandra": drill_cassandra,
    "postgres": drill_postgres,
    "worker": drill_worker,
    "redis": drill_redis,
    "cassandra-freeze": drill_cassandra_freeze,
}
CI_DRILLS = ("web", "cassandra", "redis")
