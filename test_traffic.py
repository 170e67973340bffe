#!/usr/bin/env python
"""Load generator: many students log in, start an exam and save answers, then every acknowledged save is
checked against the store.

    .venv/bin/python test_traffic.py                          # 500 students, 60 s, through Nginx on :8080
    .venv/bin/python test_traffic.py --students 200 --duration 30 --think-ms 200 --login direct

Phases:
1. seed (straight into the database through Django, one password hash shared by every student): a doctor,
   N students of one level; the doctor creates and publishes an exam through the API;
2. log in: `--login api` POSTs /api/auth/login for every student (the realistic path, throttled per client
   address: start the stack with LOGIN_RATE_PER_CLIENT raised, as `make load` does), `--login direct`
   makes the tokens in-process;
3. every student POSTs /api/exams/{id}/attempt, then PUTs one answer at a time with a think time, until
   `--duration` seconds or `--max-requests` saves; one line of progress per second;
4. verify: GET /api/exams/{id}/answers for every student, and compare, per (student, question), the LAST
   acknowledged value with what the store returns. A value sent later but not acknowledged (a timeout, a 5xx)
   may legitimately have landed, so it is not counted as a loss; anything else is.

Prints throughput, p50/p95/p99, a count per status code and the number of acknowledged saves missing from the
store; exits non-zero when any is missing (or when the check could not read every student back).
Loopback targets only. Drills import run_traffic() (or run_traffic_async()) and read the Report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import client, reporting, seeding  # noqa: E402

LEVEL = "Load test level"
SUBJECT = "Load testing"
DOCTOR = "load-doctor@bench.example.com"
STUDENT_PREFIX = "LOAD"
STUDENT_PASSWORD = "load-student-password-1"


@dataclass
class Report:
    base_url: str
    students: int
    login: str
    exam_id: int | None = None
    login_seconds: float = 0.0
    login_statuses: dict[str, int] = field(default_factory=dict)
    attempt_statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    requests: int = 0
    acknowledged: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    throughput_rps: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    generator_cpu_percent: float | None = None
    # the check
    students_checked: int = 0
    pairs_checked: int = 0
    lost: int = 0
    overwritten_by_unacknowledged: int = 0
    read_errors: int = 0
    lost_samples: list[dict[str, Any]] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    cpu: str = ""

    @property
    def ok(self) -> bool:
        """No acknowledged save is missing, and every student's answers could be read back."""
        return self.lost == 0 and self.read_errors == 0 and self.students_checked == self.students

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class _Student:
    index: int
    user_id: int
    email: str
    token: str = ""
    # question id -> the choice ids of the last acknowledged save
    acked: dict[int, tuple[int, ...]] = field(default_factory=dict)
    # question id -> every value sent without an acknowledgement (it may or may not have landed)
    unsure: dict[int, set[tuple[int, ...]]] = field(default_factory=dict)
    last_sent: dict[int, int] = field(default_factory=dict)


def _say(progress: bool, *args: Any) -> None:
    if progress:
        print(*args, flush=True)


async def _login_all(
    target: client.Target, people: list[_Student], *, mode: str, concurrency: int, deadline: float, progress: bool
) -> Counter[str]:
    statuses: Counter[str] = Counter()
    if mode == "direct":

        def tokens() -> None:
            from core.accounts.models import User

            users = {u.id: u for u in User.objects.filter(id__in=[p.user_id for p in people])}
            for person in people:
                person.token = seeding.access_token(users[person.user_id])

        await asyncio.to_thread(tokens)
        statuses["direct"] = len(people)
        return statuses
    queue = list(reversed(people))
    warned = False

    async def worker() -> None:
        nonlocal warned
        conn = client.HttpConnection(target)
        try:
            while queue:
                person = queue.pop()
                body = json.dumps({"email": person.email, "password": STUDENT_PASSWORD}).encode()
                while True:
                    try:
                        status, payload = await conn.request(
                            "POST", "/api/auth/login", body=body, headers=client.auth_headers(None, json_body=True)
                        )
                    except client.HttpError:
                        status, payload = 0, b""
                    statuses[str(status or "connection_error")] += 1
                    if status == 200:
                        person.token = json.loads(payload)["access"]
                        break
                    if status in (0, 429, 502, 503) and time.monotonic() < deadline:
                        if status == 429 and not warned:
                            warned = True
                            _say(
                                progress,
                                "login throttled (429): retrying; start the stack with LOGIN_RATE_PER_CLIENT="
                                "100000/min (make load does) or use --login direct",
                            )
                        await asyncio.sleep(1.0)
                        continue
                    raise RuntimeError(f"login of {person.email}: HTTP {status}: {payload[:200]!r}")
        finally:
            conn.close()

    started = time.monotonic()

    async def ticker() -> None:
        while True:
            await asyncio.sleep(1.0)
            done = sum(1 for p in people if p.token)
            _say(progress, f"login {time.monotonic() - started:6.1f}s  logged_in={done}/{len(people)}")

    tick = asyncio.create_task(ticker())
    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(people)))))
    finally:
        tick.cancel()
    return statuses


async def run_traffic_async(
    base_url: str = client.DEFAULT_BASE_URL,
    students: int = 500,
    duration: float = 60.0,
    *,
    max_requests: int | None = None,
    think_ms: float = 1000.0,
    login: str = "api",
    questions: int = 50,
    seed: int = 7,
    login_concurrency: int = 16,
    login_timeout: float = 900.0,
    request_timeout: float = 30.0,
    verify: bool = True,
    progress: bool = True,
) -> Report:
    """The whole run (seed, log in, save with think time, verify); see the module docstring."""
    if login not in ("api", "direct"):
        raise ValueError("login must be 'api' or 'direct'")
    target = client.loopback_target(base_url)
    report = Report(base_url=target.base_url, students=students, login=login)
    rng = random.Random(seed)

    # 1. seed
    _say(progress, f"seeding {students} students and an exam with {questions} questions ...")
    await asyncio.to_thread(client.wait_http, f"{target.base_url}/health", 60)
    users = await asyncio.to_thread(
        seeding.ensure_students, prefix=STUDENT_PREFIX, count=students, level=LEVEL, password=STUDENT_PASSWORD
    )
    doctor = await asyncio.to_thread(seeding.ensure_doctor, email=DOCTOR)
    doctor_token = await asyncio.to_thread(seeding.access_token, doctor)
    exam = await asyncio.to_thread(
        seeding.create_open_exam,
        target.base_url,
        doctor_token=doctor_token,
        code=seeding.unique_code("LOAD"),
        level=LEVEL,
        subject=SUBJECT,
        questions=questions,
        open_minutes=max(60, int(duration // 60) + 60),
    )
    report.exam_id = exam.exam_id
    people = [_Student(index=i, user_id=u.id, email=u.email) for i, u in enumerate(users)]
    question_ids = list(exam.questions)

    # 2. log in
    started = time.monotonic()
    _say(progress, f"logging in {students} students ({login}) ...")
    login_statuses = await _login_all(
        target, people, mode=login, concurrency=login_concurrency, deadline=started + login_timeout, progress=progress
    )
    report.login_seconds = round(time.monotonic() - started, 2)
    report.login_statuses = dict(login_statuses)

    # 3. attempts, then the saves
    attempts = await seeding.start_attempts(
        target, exam_id=exam.exam_id, tokens=[p.token for p in people], concurrency=32
    )
    report.attempt_statuses = {str(k): v for k, v in sorted(attempts.items())}
    if set(attempts) - {200, 201}:
        _say(progress, f"warning: some attempts did not start: {report.attempt_statuses}")

    path = f"/api/exams/{exam.exam_id}/answers"
    headers = [client.auth_headers(p.token, json_body=True) for p in people]
    # What each request carried, to book its outcome: (question, choices), per student and request number.
    pending: dict[tuple[int, int], tuple[int, tuple[int, ...]]] = {}
    rngs = [random.Random(rng.random()) for _ in people]

    def make_save(worker: int, n: int) -> tuple[str, str, bytes, bytes]:
        person = people[worker]
        r = rngs[worker]
        question = r.choice(question_ids)
        choices = exam.questions[question]
        last = person.last_sent.get(question)
        options = [c for c in choices if c != last] or choices  # never the same value twice in a row
        choice = r.choice(options)
        person.last_sent[question] = choice
        pending[(worker, n)] = (question, (choice,))
        return "PUT", path, b'{"answers":[{"question":%d,"choices":[%d]}]}' % (question, choice), headers[worker]

    def on_response(worker: int, n: int, status: int, body: bytes) -> None:
        question, value = pending.pop((worker, n))
        person = people[worker]
        if status == 200:
            person.acked[question] = value
        else:
            person.unsure.setdefault(question, set()).add(value)

    think_s = max(0.0, think_ms) / 1000.0

    def think(worker: int) -> float:
        return think_s * rngs[worker].uniform(0.5, 1.5)

    last = {"requests": 0, "at": 0.0}

    def show(result: client.LoadResult, elapsed: float) -> None:
        window = elapsed - last["at"]
        current = (result.requests - last["requests"]) / window if window > 0 else 0.0
        last.update(requests=result.requests, at=elapsed)
        _say(
            progress,
            f"{elapsed:6.1f}s  requests={result.requests:<8d} rps={current:8.1f}  errors={result.errors}",
        )

    _say(
        progress,
        f"saving answers: {students} students, think {think_ms:.0f} ms, {duration:.0f} s"
        + (f" or {max_requests} requests" if max_requests else ""),
    )
    result = await client.run_load(
        target,
        concurrency=len(people),
        make_request=make_save,
        duration=duration,
        max_requests=max_requests,
        timeout=request_timeout,
        on_response=on_response,
        think=think if think_s else None,
        progress=show,
    )
    report.seconds = round(result.elapsed, 2)
    report.requests = result.requests
    report.acknowledged = result.ok
    report.errors = result.errors
    report.statuses = dict(sorted(result.statuses.items()))
    report.throughput_rps = round(result.rps, 1)
    report.p50_ms, report.p95_ms, report.p99_ms = (reporting.ms(result.p(q)) for q in (50, 95, 99))
    report.max_ms = reporting.ms(max(result.latencies)) if result.latencies else None
    report.generator_cpu_percent = result.summary()["generator_cpu_percent"]
    report.error_samples = result.error_samples

    # 4. verify
    if verify:
        await _verify(target, exam.exam_id, people, report, progress=progress)
    return report


async def _verify(
    target: client.Target, exam_id: int, people: list[_Student], report: Report, *, progress: bool
) -> None:
    _say(progress, f"checking every acknowledged save of {len(people)} students ...")
    try:  # after a fault the stack may still be coming back
        await asyncio.to_thread(client.wait_http, f"{target.base_url}/health", 60)
    except RuntimeError as exc:
        _say(progress, f"warning: {exc}")
    queue = list(reversed(people))
    path = f"/api/exams/{exam_id}/answers"
    retry_until = time.monotonic() + 120.0  # retries stop after this; each student then gets one try

    async def worker() -> None:
        conn = client.HttpConnection(target, timeout=60.0)
        try:
            while queue:
                person = queue.pop()
                stored = None
                for attempt in range(8):  # about 20 s of retries for one student
                    try:
                        status, body = await conn.request("GET", path, headers=client.auth_headers(person.token))
                    except client.HttpError:
                        status, body = 0, b""
                    if status == 200:
                        stored = {a["question"]: tuple(sorted(a["choices"])) for a in json.loads(body)["answers"]}
                        break
                    if time.monotonic() > retry_until:
                        break
                    await asyncio.sleep(min(0.25 * 2**attempt, 5.0))
                if stored is None:
                    report.read_errors += 1
                    continue
                report.students_checked += 1
                for question, value in person.acked.items():
                    report.pairs_checked += 1
                    have = stored.get(question)
                    if have == tuple(sorted(value)):
                        continue
                    if have is not None and have in person.unsure.get(question, set()):
                        report.overwritten_by_unacknowledged += 1
                        continue
                    report.lost += 1
                    if len(report.lost_samples) < 10:
                        report.lost_samples.append(
                            {
                                "student_id": person.user_id,
                                "question": question,
                                "acknowledged": list(value),
                                "stored": list(have) if have is not None else None,
                            }
                        )
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(min(32, len(people)) or 1)))


def run_traffic(
    base_url: str = client.DEFAULT_BASE_URL, students: int = 500, duration: float = 60.0, **options: Any
) -> Report:
    """Synchronous run_traffic_async()."""
    return asyncio.run(run_traffic_async(base_url, students, duration, **options))


def print_report(report: Report) -> None:
    print()
    print(f"target           {report.base_url} (exam {report.exam_id}); {report.cpu}")
    print(
        f"students         {report.students}, login {report.login} in {report.login_seconds} s {report.login_statuses}"
    )
    print(f"attempts         {report.attempt_statuses}")
    print(
        f"saves            {report.requests} requests in {report.seconds} s = {report.throughput_rps} req/s, "
        f"{report.acknowledged} acknowledged, {report.errors} errors"
    )
    print(
        f"latency          p50 {report.p50_ms} ms, p95 {report.p95_ms} ms, p99 {report.p99_ms} ms, "
        f"max {report.max_ms} ms; generator CPU {report.generator_cpu_percent} % of its core"
    )
    print("status codes     " + ", ".join(f"{k}: {v}" for k, v in report.statuses.items()))
    for sample in report.error_samples:
        print(f"  error sample   {sample}")
    print(
        f"check            {report.students_checked}/{report.students} students read back, "
        f"{report.pairs_checked} (student, question) pairs with an acknowledged save"
    )
    print(
        f"                 {report.overwritten_by_unacknowledged} later overwritten by an unacknowledged save "
        f"(allowed), {report.read_errors} students unreadable"
    )
    print(f"LOST             {report.lost} acknowledged saves missing from the store")
    for sample in report.lost_samples:
        print(f"  lost           {sample}")
    print("RESULT           " + ("ok" if report.ok else "FAILED"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default=client.DEFAULT_BASE_URL, help="loopback only (default %(default)s)")
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of saving (default %(default)s)")
    parser.add_argument("--max-requests", type=int, default=None, help="stop after this many saves")
    parser.add_argument("--think-ms", type=float, default=1000.0, help="mean pause between a student's saves")
    parser.add_argument("--login", choices=("api", "direct"), default="api")
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--login-concurrency", type=int, default=16)
    parser.add_argument("--pin-cpu", type=int, default=client.GENERATOR_CPU, help="-1 to leave unpinned")
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args(argv)
    client.loopback_target(args.base_url)  # refuse before doing anything else
    if args.students < 1 or args.duration <= 0:
        parser.error("--students and --duration must be positive")
    if args.duration > 600:
        print("warning: access tokens last JWT_ACCESS_MINUTES (15 by default); a long run will end in 401s")
    cpu = client.pin_generator(args.pin_cpu) if args.pin_cpu >= 0 else "generator not pinned"
    seeding.django_setup()
    report = run_traffic(
        args.base_url,
        args.students,
        args.duration,
        max_requests=args.max_requests,
        think_ms=args.think_ms,
        login=args.login,
        questions=args.questions,
        seed=args.seed,
        login_concurrency=args.login_concurrency,
    )
    report.cpu = cpu
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
