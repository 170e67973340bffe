#!/usr/bin/env python
"""`make load`: many students log in, start an exam and save answers through Nginx, then every acknowledged
save is checked against the store. The traffic is the shared load generator's (loadgen.py, which the failure
drills run too).

    .venv/bin/python test_traffic.py                          # 500 students, 60 s, through Nginx on :8080
    .venv/bin/python test_traffic.py --students 200 --duration 30 --think-ms 200 --login direct

Phases:
1. seed (straight into the database through Django, one password hash shared by every student): a doctor,
   N students of one level; the doctor creates and publishes an exam of multiple-answer questions through the API;
2. log in: `--login api` POSTs /api/auth/login for every student (the realistic path, throttled per client
   address: start the stack with LOGIN_RATE_PER_CLIENT raised, as `make load` does), `--login direct`
   makes the tokens in-process;
3. every student POSTs /api/exams/{id}/attempt, then PUTs one answer at a time with a think time, until
   `--duration` seconds or `--max-requests` saves; one line of progress per second;
4. verify: GET /api/exams/{id}/answers for every student. Each save carries a value never sent before for its
   (student, question), so the value read back names the request that wrote it: an acknowledged save is lost
   when the store holds an older value or none (a later save that got no acknowledgement may legitimately have
   landed, so it is not counted as a loss), and no stored value may be one that nobody sent.

Prints throughput, p50/p95/p99, a count per status code and the number of acknowledged saves missing from the
store; exits non-zero when any is missing (or when the check could not read every student back).
Loopback targets only. run_traffic() (or run_traffic_async()) returns the Report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import loadgen  # noqa: E402
from bench import client, reporting, seeding  # noqa: E402

COHORT = loadgen.Cohort(
    level="Load test level",
    subject="Load testing",
    doctor="load-doctor@bench.example.com",
    student_prefix="LOAD",
    student_password="load-student-password-1",
)


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
    foreign_values: int = 0
    read_errors: int = 0
    lost_samples: list[dict[str, Any]] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    cpu: str = ""

    @property
    def ok(self) -> bool:
        """No acknowledged save is missing, nothing foreign is stored, and every student could be read back."""
        return (
            self.lost == 0
            and self.foreign_values == 0
            and self.read_errors == 0
            and self.students_checked == self.students
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _say(progress: bool, *args: Any) -> None:
    if progress:
        print(*args, flush=True)


async def _login_all(
    target: client.Target, people: list[Any], *, mode: str, concurrency: int, deadline: float, progress: bool
) -> tuple[list[str], Counter[str]]:
    """A token for every student, in order: through POST /api/auth/login (`api`) or made in-process (`direct`)."""
    statuses: Counter[str] = Counter()
    tokens = [""] * len(people)
    if mode == "direct":
        tokens = await asyncio.to_thread(lambda: [seeding.access_token(p) for p in people])
        statuses["direct"] = len(people)
        return tokens, statuses
    queue = list(reversed(range(len(people))))
    warned = False

    async def worker() -> None:
        nonlocal warned
        conn = client.HttpConnection(target)
        try:
            while queue:
                index = queue.pop()
                email = people[index].email
                body = json.dumps({"email": email, "password": COHORT.student_password}).encode()
                while True:
                    try:
                        status, payload = await conn.request(
                            "POST", "/api/auth/login", body=body, headers=client.auth_headers(None, json_body=True)
                        )
                    except client.HttpError:
                        status, payload = 0, b""
                    statuses[str(status or "connection_error")] += 1
                    if status == 200:
                        tokens[index] = json.loads(payload)["access"]
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
                    raise RuntimeError(f"login of {email}: HTTP {status}: {payload[:200]!r}")
        finally:
            conn.close()

    started = time.monotonic()

    async def ticker() -> None:
        while True:
            await asyncio.sleep(1.0)
            done = sum(1 for t in tokens if t)
            _say(progress, f"login {time.monotonic() - started:6.1f}s  logged_in={done}/{len(people)}")

    tick = asyncio.create_task(ticker())
    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(people)))))
    finally:
        tick.cancel()
    return tokens, statuses


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

    # 1. seed
    _say(progress, f"seeding {students} students and an exam with {questions} questions ...")
    target, people, exam = await asyncio.to_thread(
        loadgen.seed_exam,
        base_url,
        cohort=COHORT,
        students=students,
        questions=questions,
        code_prefix="LOAD",
        open_minutes=max(60, int(duration // 60) + 60),
    )
    report = Report(base_url=target.base_url, students=students, login=login, exam_id=exam.exam_id)

    # 2. log in
    started = time.monotonic()
    _say(progress, f"logging in {students} students ({login}) ...")
    tokens, login_statuses = await _login_all(
        target, people, mode=login, concurrency=login_concurrency, deadline=started + login_timeout, progress=progress
    )
    report.login_seconds = round(time.monotonic() - started, 2)
    report.login_statuses = dict(login_statuses)

    # 3. attempts, then the saves
    fixture, attempts = await loadgen.start_attempts(target, exam, tokens=tokens, student_ids=[p.id for p in people])
    report.attempt_statuses = {str(k): v for k, v in sorted(attempts.items())}
    if set(attempts) - {200, 201}:
        _say(progress, f"warning: some attempts did not start: {report.attempt_statuses}")
    _say(
        progress,
        f"saving answers: {students} students, think {think_ms:.0f} ms, {duration:.0f} s"
        + (f" or {max_requests} requests" if max_requests else ""),
    )
    load = loadgen.Load(
        fixture,
        think_ms=max(0.0, think_ms),
        max_seconds=duration,
        max_requests=max_requests,
        answers_per_save=(1, 1),
        timeout=request_timeout,
        seed=seed,
        probe=False,
        progress=progress,
    )
    await load.run()
    elapsed = load.stopped - load.started
    report.seconds = round(elapsed, 2)
    report.requests = len(load.sends)
    report.acknowledged = load.count(loadgen.ACK)
    report.errors = report.requests - report.acknowledged
    report.statuses = load.statuses()
    report.throughput_rps = round(report.requests / elapsed, 1) if elapsed > 0 else 0.0
    report.p50_ms, report.p95_ms, report.p99_ms = (reporting.ms(load.percentile(q)) for q in (50, 95, 99))
    report.max_ms = reporting.ms(load.percentile(100))
    report.generator_cpu_percent = round(100 * load.cpu_seconds / elapsed, 1) if elapsed > 0 else None
    report.error_samples = load.no_response_samples

    # 4. verify
    if verify:
        _say(progress, f"checking every acknowledged save of {students} students ...")
        try:  # after a fault the stack may still be coming back
            await asyncio.to_thread(client.wait_http, f"{target.base_url}/health", 60)
        except RuntimeError as exc:
            _say(progress, f"warning: {exc}")
        verdict = load.verify(*await load.read_back())
        report.students_checked = verdict.students_checked
        report.pairs_checked = verdict.pairs_checked
        report.lost = verdict.lost
        report.foreign_values = verdict.foreign_values
        report.read_errors = verdict.read_errors
        report.lost_samples = verdict.lost_samples
    return report


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
        f"                 {report.foreign_values} stored values nobody sent, {report.read_errors} students unreadable"
    )
    print(f"LOST             {report.lost} acknowledged saves missing from the store")
    for lost in report.lost_samples:
        print(f"  lost           {lost}")
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
