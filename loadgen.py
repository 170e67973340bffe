"""The exam load generator, shared by `make load` (test_traffic.py) and the failure drills (drills/).

Students PUT answers to one exam through Nginx with think time; every request is recorded, then every
acknowledged save is read back and checked:

- **batches**: each PUT carries `answers_per_save` answers (test_traffic.py one; the drills 1 to 5, so that a
  refused batch can be checked for being half-applied);
- **a unique value per save**: the exam's questions are multiple-answer (6 choices, 2 correct, so any non-empty
  subset of the 6 is a valid answer); the k-th value sent for a (student, question) is the k-th subset, so the
  value read back names the one request that wrote it;
- **a timeline**: every request's send and answer time, for latencies and the drills' recovery times;
- **a bounded run**: until `max_seconds`, `max_requests` saves, or stop() (a drill stops once its fault is
  healed and the load has settled);
- **the check** (`read_back`, then `verify`): an acknowledged save is lost when the value read back is not the
  last acknowledged one nor a later one (a later save sent without an acknowledgement may have landed); a
  refused batch must never be half-applied; no stored value may be one that nobody sent. See docs/drills.md.

`seed_exam` seeds the students (straight into the database through Django) and creates and publishes the exam
through the API; `start_attempts` starts every student's attempt through the API and gives the Fixture a Load
runs on. Loopback targets only (bench.client refuses others).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench import client, seeding

CHOICES = 6  # 2 correct: a multiple-answer question, so every non-empty subset is a valid answer
VALUES = (1 << CHOICES) - 1  # distinct values per (student, question)

ACK = "ack"
REFUSED = "refused"  # a definite non-2xx HTTP answer
UNKNOWN = "unknown"  # no answer (connection failed or timed out): it may or may not have landed


@dataclass
class Send:
    student: int
    seq: int  # the student's request number (requests of one student are sequential)
    items: dict[int, tuple[int, ...]]  # question -> value
    sent: float
    done: float = 0.0
    status: int = 0
    outcome: str = UNKNOWN


@dataclass
class Fixture:
    target: client.Target
    exam_id: int
    questions: dict[int, list[int]]  # question id -> its 6 choice ids
    tokens: list[str]
    student_ids: list[int]


@dataclass
class Verdict:
    students_checked: int = 0
    read_errors: int = 0
    pairs_checked: int = 0
    lost: int = 0
    lost_samples: list[dict[str, Any]] = field(default_factory=list)
    refused_batches: int = 0
    refused_checked: int = 0  # refused batches of 2+ answers with at least one decidable answer
    half_applied: int = 0
    half_applied_samples: list[dict[str, Any]] = field(default_factory=list)
    refused_landed: int = 0  # refused batches found wholly applied (allowed: the response was lost, not the write)
    foreign_values: int = 0  # stored values that no request sent (must be 0)


@dataclass(frozen=True)
class Cohort:
    """Who takes the load's exam: a level of seeded students and the doctor who writes it."""

    level: str
    subject: str
    doctor: str
    student_prefix: str
    student_password: str


def seed_exam(
    base_url: str, *, cohort: Cohort, students: int, questions: int, code_prefix: str, open_minutes: int = 120
) -> tuple[client.Target, list[Any], seeding.ExamFixture]:
    """The students (one password hash shared by all) and a published exam of `questions` multiple-answer
    questions, created through the API by the cohort's doctor. Blocking (Django and urllib)."""
    target = client.loopback_target(base_url)
    client.wait_http(f"{target.base_url}/health", 120)
    people = seeding.ensure_students(
        prefix=cohort.student_prefix, count=students, level=cohort.level, password=cohort.student_password
    )
    doctor = seeding.ensure_doctor(email=cohort.doctor)
    exam = seeding.create_open_exam(
        target.base_url,
        doctor_token=seeding.access_token(doctor),
        code=seeding.unique_code(code_prefix),
        level=cohort.level,
        subject=cohort.subject,
        questions=questions,
        choices=CHOICES,
        correct=2,
        open_minutes=open_minutes,
    )
    return target, people, exam


async def start_attempts(
    target: client.Target, exam: seeding.ExamFixture, *, tokens: list[str], student_ids: list[int]
) -> tuple[Fixture, Counter[int]]:
    """POST /api/exams/{id}/attempt for every student: the Fixture a Load runs on, and the status counts."""
    started = await seeding.start_attempts(target, exam_id=exam.exam_id, tokens=tokens, concurrency=16)
    fixture = Fixture(
        target=target, exam_id=exam.exam_id, questions=exam.questions, tokens=tokens, student_ids=student_ids
    )
    return fixture, started


class Load:
    """Students saving batches until stop(), `max_seconds` or `max_requests`. Run it with `await load.run()`.

    `probe`: one more client reads GET /api/exams every 0.25 s (the drills watch the rest of the site with it);
    `progress`: one line a second (requests, requests per second, failures)."""

    def __init__(
        self,
        fixture: Fixture,
        *,
        think_ms: float = 500.0,
        max_seconds: float = 120.0,
        max_requests: int | None = None,
        answers_per_save: tuple[int, int] = (1, 5),
        timeout: float = 30.0,
        seed: int = 7,
        probe: bool = True,
        progress: bool = False,
    ) -> None:
        self.fx = fixture
        self.think_s = think_ms / 1000.0
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.answers_per_save = answers_per_save
        self.timeout = timeout
        self.probe = probe
        self.progress = progress
        self.cpu_seconds = 0.0  # the generator's own CPU time during run()
        self.sends: list[Send] = []
        self.no_response_samples: list[str] = []
        self.probes: list[tuple[float, float, int]] = []  # (sent, answered, status) of GET /api/exams
        self.started = 0.0
        self.stopped = 0.0
        self._stop = asyncio.Event()
        self._counters: dict[tuple[int, int], int] = {}
        self._rng = random.Random(seed)
        self._path = f"/api/exams/{fixture.exam_id}/answers"
        self._headers = [client.auth_headers(t, json_body=True) for t in fixture.tokens]
        self._question_ids = list(fixture.questions)

    async def _probe(self) -> None:
        """One more client that reads GET /api/exams (a PostgreSQL query on every call, unlike the saves) every
        0.25 s, to see what the fault does to the rest of the site."""
        conn = client.HttpConnection(self.fx.target, timeout=self.timeout)
        headers = client.auth_headers(self.fx.tokens[0])
        try:
            while not self._stop.is_set() and time.monotonic() - self.started < self.max_seconds:
                sent = time.monotonic()
                try:
                    status, _ = await conn.request("GET", "/api/exams", headers=headers)
                except client.HttpError:
                    status = 0
                self.probes.append((sent, time.monotonic(), status))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 0.25)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()

    def _running(self) -> bool:
        if self._stop.is_set() or time.monotonic() - self.started >= self.max_seconds:
            return False
        if self.max_requests is not None and len(self.sends) >= self.max_requests:
            self._stop.set()
            return False
        return True

    async def _ticker(self) -> None:
        last_at, last_count = self.started, 0
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 1.0)
            now, count = time.monotonic(), len(self.sends)
            failed = sum(1 for s in self.sends if s.done and s.outcome != ACK)
            rate = (count - last_count) / (now - last_at) if now > last_at else 0.0
            print(f"{now - self.started:6.1f}s  requests={count:<8d} rps={rate:8.1f}  failed={failed}", flush=True)
            last_at, last_count = now, count

    def _value(self, student: int, question: int) -> tuple[int, ...] | None:
        k = self._counters.get((student, question), 0) + 1
        if k > VALUES:
            return None
        self._counters[(student, question)] = k
        choices = self.fx.questions[question]
        return tuple(sorted(choices[b] for b in range(CHOICES) if k >> b & 1))

    async def _student(self, index: int, rng: random.Random) -> None:
        conn = client.HttpConnection(self.fx.target, timeout=self.timeout)
        seq = 0
        try:
            await asyncio.sleep(rng.uniform(0, self.think_s))  # spread the first saves
            low, high = self.answers_per_save
            while self._running():
                items: dict[int, tuple[int, ...]] = {}
                for question in rng.sample(self._question_ids, min(rng.randint(low, high), len(self._question_ids))):
                    value = self._value(index, question)
                    if value is not None:
                        items[question] = value
                if not items:
                    break
                body = json.dumps({"answers": [{"question": q, "choices": list(v)} for q, v in items.items()]}).encode()
                send = Send(student=index, seq=seq, items=items, sent=time.monotonic())
                seq += 1
                self.sends.append(send)
                try:
                    status, _ = await conn.request("PUT", self._path, body=body, headers=self._headers[index])
                except client.HttpError as exc:
                    status = 0
                    if len(self.no_response_samples) < 5:
                        self.no_response_samples.append(f"{time.monotonic() - self.started:.1f}s {exc}")
                send.done = time.monotonic()
                send.status = status
                send.outcome = ACK if 200 <= status < 300 else (REFUSED if status else UNKNOWN)
                if self.think_s:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), self.think_s * rng.uniform(0.5, 1.5))
        finally:
            conn.close()

    async def run(self) -> None:
        self.started = time.monotonic()
        cpu = time.process_time()
        rngs = [random.Random(self._rng.random()) for _ in self.fx.tokens]
        students = [self._student(i, rngs[i]) for i in range(len(self.fx.tokens))]
        helpers = ([self._probe()] if self.probe else []) + ([self._ticker()] if self.progress else [])
        tasks = [asyncio.ensure_future(c) for c in helpers]
        try:
            await asyncio.gather(*students)
        finally:
            self._stop.set()  # the students are done: so are the probe and the ticker
            await asyncio.gather(*tasks)
        self.stopped = time.monotonic()
        self.cpu_seconds = time.process_time() - cpu

    # --- figures ---------------------------------------------------------------------------------

    def count(self, outcome: str) -> int:
        return sum(1 for s in self.sends if s.outcome == outcome)

    def statuses(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.sends:
            key = str(s.status or "no_response")
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))

    def latencies(self) -> list[float]:
        """Seconds from send to answer of every request that got an HTTP answer, sorted."""
        return sorted(s.done - s.sent for s in self.sends if s.done and s.status)

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (nearest rank) of latencies(), in seconds."""
        values = self.latencies()
        if not values:
            return None
        return values[min(len(values) - 1, max(0, round(q / 100 * len(values)) - 1))]

    def ok_per_second(self) -> list[int]:
        """Acknowledged saves per whole second since the start, by the time their answer came."""
        seconds = int((self.stopped or time.monotonic()) - self.started) + 1
        buckets = [0] * seconds
        for s in self.sends:
            if s.outcome == ACK:
                i = int(s.done - self.started)
                if 0 <= i < seconds:
                    buckets[i] += 1
        return buckets

    def timeline(self) -> dict[str, list[int]]:
        """Per whole second since the start: saves answered 2xx, and saves that failed (by answer time)."""
        seconds = int((self.stopped or time.monotonic()) - self.started) + 1
        ok, failed = [0] * seconds, [0] * seconds
        for s in self.sends:
            i = int(s.done - self.started)
            if 0 <= i < seconds:
                (ok if s.outcome == ACK else failed)[i] += 1
        return {"ok_per_s": ok, "failed_per_s": failed}

    def probe_figures(self, *, fault: float, healed: float) -> dict[str, Any]:
        during = [p for p in self.probes if p[0] >= fault and p[0] < healed]
        after = [p[1] for p in self.probes if p[0] >= healed and 200 <= p[2] < 300]
        codes: dict[str, int] = {}
        for p in self.probes:
            codes[str(p[2] or "no_response")] = codes.get(str(p[2] or "no_response"), 0) + 1
        return {
            "probe_statuses": dict(sorted(codes.items())),
            "probe_failed_during_fault": sum(1 for p in during if not 200 <= p[2] < 300),
            "probe_slowest_during_fault_s": round(max((p[1] - p[0] for p in during), default=0.0), 2),
            "probe_first_ok_s": round(min(after) - healed, 2) if after else None,
        }

    def recovery(self, *, fault: float, healed: float) -> dict[str, float | None]:
        """- first_ok_s: from the heal to the first acknowledged save that was sent after it;
        - throughput_s: from the heal to the start of the first second whose acknowledged saves reach 80 % of
          the median second before the fault;
        - last_failure_s: from the fault to the last save (sent after the fault) that did not get a 2xx."""
        after = [s.done for s in self.sends if s.outcome == ACK and s.sent >= healed]
        first_ok = min(after) - healed if after else None
        buckets = self.ok_per_second()
        before = sorted(buckets[1 : max(1, int(fault - self.started))])  # skip the ramp-up second
        baseline = before[len(before) // 2] if before else 0
        throughput = None
        start = int(healed - self.started)
        for i in range(start, len(buckets) - 1):  # the last second is partial
            if baseline and buckets[i] >= 0.8 * baseline:
                throughput = max(0.0, i - (healed - self.started))
                break
        failures = [s.sent for s in self.sends if s.outcome != ACK and s.sent >= fault - 1.0]
        last_failure = max(failures) - fault if failures else None
        r = lambda v: None if v is None else round(v, 2)  # noqa: E731
        slowest = max((s.done - s.sent for s in self.sends if fault <= s.sent < healed and s.done), default=None)
        return {
            "slowest_save_during_fault_s": r(slowest),
            "first_ok_s": r(first_ok),
            "throughput_s": r(throughput),
            "last_failure_s": r(last_failure),
            "baseline_ok_per_s": baseline,
        }

    # --- the check -------------------------------------------------------------------------------

    async def read_back(self) -> tuple[dict[int, dict[int, tuple[int, ...]]], int]:
        """GET /api/exams/{id}/answers for every student (3 tries each): student index -> question -> value."""
        stored: dict[int, dict[int, tuple[int, ...]]] = {}
        errors = 0
        queue = list(range(len(self.fx.tokens)))

        async def worker() -> None:
            nonlocal errors
            conn = client.HttpConnection(self.fx.target, timeout=60.0)
            try:
                while queue:
                    index = queue.pop()
                    for _ in range(3):
                        try:
                            status, body = await conn.request(
                                "GET", self._path, headers=client.auth_headers(self.fx.tokens[index])
                            )
                        except client.HttpError:
                            status, body = 0, b""
                        if status == 200:
                            stored[index] = {
                                a["question"]: tuple(sorted(a["choices"])) for a in json.loads(body)["answers"]
                            }
                            break
                        await asyncio.sleep(1.0)
                    else:
                        errors += 1
            finally:
                conn.close()

        await asyncio.gather(*(worker() for _ in range(16)))
        return stored, errors

    def verify(self, stored: dict[int, dict[int, tuple[int, ...]]], read_errors: int) -> Verdict:
        v = Verdict(students_checked=len(stored), read_errors=read_errors)
        # per (student, question): the sends that carried it, in the student's order
        history: dict[tuple[int, int], list[Send]] = {}
        for s in sorted(self.sends, key=lambda s: (s.student, s.seq)):
            for q in s.items:
                history.setdefault((s.student, q), []).append(s)
        # which send wrote the stored value (values are unique per (student, question))
        writer: dict[tuple[int, int], Send | None] = {}
        for (student, q), sends in history.items():
            if student not in stored:
                continue
            have = stored[student].get(q)
            by_value = {s.items[q]: s for s in sends}
            writer[(student, q)] = by_value.get(have) if have is not None else None
            if have is not None and have not in by_value:
                v.foreign_values += 1
            acked = [s for s in sends if s.outcome == ACK]
            if not acked:
                continue
            v.pairs_checked += 1
            last_ack = acked[-1]
            w = writer[(student, q)]
            # lost: nothing stored, a value no one sent, or a value older than the last acknowledged one
            if w is None or w.seq < last_ack.seq:
                v.lost += 1
                if len(v.lost_samples) < 10:
                    v.lost_samples.append(
                        {
                            "student_id": self.fx.student_ids[student],
                            "question": q,
                            "acknowledged": list(last_ack.items[q]),
                            "acknowledged_status": last_ack.status,
                            "stored": list(have) if (have := stored[student].get(q)) is not None else None,
                        }
                    )
        # half-applied: a refused batch with one answer surely applied and another surely not
        for s in self.sends:
            if s.outcome != REFUSED:
                continue
            v.refused_batches += 1
            if s.student not in stored:
                continue
            applied = not_applied = 0
            for q in s.items:
                w = writer.get((s.student, q))
                if w is s:
                    applied += 1
                elif w is None or w.seq < s.seq:
                    not_applied += 1
                # else a later send wrote it: this answer cannot tell whether the refused one landed
            if len(s.items) >= 2 and applied + not_applied > 0:
                v.refused_checked += 1
            if applied and not not_applied and applied == len(s.items):
                v.refused_landed += 1
            if applied and not_applied:
                v.half_applied += 1
                if len(v.half_applied_samples) < 10:
                    v.half_applied_samples.append(
                        {
                            "student_id": self.fx.student_ids[s.student],
                            "status": s.status,
                            "answers": len(s.items),
                            "applied": applied,
                            "not_applied": not_applied,
                        }
                    )
        return v
