"""Shared helpers for the benchmarks (bench/b*.py) and the load generator (test_traffic.py).

- a small asyncio HTTP/1.1 keep-alive client on raw streams (cheap enough that one core drives the stack);
- run_load(): N concurrent workers, each on its own connection, bounded by time and by requests;
- percentile(), CPU pinning for the generator, and writing bench/results/*.json;
- data setup: Django bootstrap, seeded students with tokens, an exam created through the API.

Every target is refused unless it is a loopback address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
DEFAULT_BASE_URL = os.environ.get("BENCH_BASE_URL", f"http://127.0.0.1:{os.environ.get('NGINX_PORT', '8080')}")
# The load generator's CPU. Keep it the same from run to run (docs/benchmarks.md): on 2 cores the generator
# gets CPU 1 to itself as far as it is concerned, while the stack is scheduled by the kernel on both.
GENERATOR_CPU = int(os.environ.get("BENCH_GENERATOR_CPU", "1"))


# --- small helpers ---------------------------------------------------------------------------------


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def seconds_left(default: float = 600.0) -> float:
    """Seconds until the whole run's deadline (BENCH_DEADLINE, a time.time() value set by bench/run.py from
    BENCH_BUDGET_SECONDS); a benchmark can shorten itself with it. `default` when run on its own."""
    deadline = os.environ.get("BENCH_DEADLINE")
    return max(0.0, float(deadline) - time.time()) if deadline else default


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 2)


# The CPUs this process could use before pin_generator(); children that are part of the stack (a worker a
# benchmark starts, say) should get them back: subprocess.Popen(..., preexec_fn=common.unpin_child).
ORIGINAL_CPUS = frozenset(os.sched_getaffinity(0))


def unpin_child() -> None:
    """A preexec_fn: give a child process every CPU this process had before it pinned itself."""
    os.sched_setaffinity(0, ORIGINAL_CPUS)


def pin_generator(cpu: int = GENERATOR_CPU) -> str:
    """Pin this process (and the threads it starts from now on) to one CPU; returns a sentence for the results."""
    available = sorted(os.sched_getaffinity(0))
    if cpu not in available:
        cpu = available[-1]
    os.sched_setaffinity(0, {cpu})
    return f"generator pinned to CPU {cpu} of {os.cpu_count()} (os.sched_setaffinity); the stack is not pinned"


def peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def write_results(
    rows: list[dict[str, Any]], *, name: str = "latest.json", extra: dict[str, Any] | None = None
) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        **(extra or {}),
        "results": rows,
    }
    path = RESULTS_DIR / name
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


# --- targets: loopback only ------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    base_url: str

    @property
    def host_header(self) -> str:
        return f"{self.host}:{self.port}"


def loopback_target(base_url: str) -> Target:
    """Parse an http:// base URL and refuse it unless every address it names is a loopback address."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"refusing {base_url!r}: only plain http:// URLs on loopback are supported")
    host = parts.hostname
    port = parts.port or 80
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise SystemExit(f"refusing {base_url!r}: cannot resolve {host!r} ({exc})") from exc
    addresses = {info[4][0] for info in infos}
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise SystemExit(f"refusing {base_url!r}: {host!r} is not a loopback address ({sorted(addresses)})")
    return Target(host=host, port=port, base_url=base_url.rstrip("/"))


# --- a minimal HTTP/1.1 keep-alive client ----------------------------------------------------------


class HttpError(Exception):
    """The connection failed or the response could not be read (the request's outcome is unknown)."""


class HttpConnection:
    """One keep-alive connection; one request at a time. Reconnects on the next request after a failure."""

    def __init__(self, target: Target, *, timeout: float = 30.0) -> None:
        self.target = target
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._host = f"Host: {target.host_header}\r\n".encode()

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.target.host, self.target.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, *, body: bytes | None = None, headers: bytes = b""
    ) -> tuple[int, bytes]:
        """Send one request; returns (status, body). `headers` are preformatted lines ending in CRLF."""
        try:
            async with asyncio.timeout(self.timeout):
                if self.writer is None:
                    await self._connect()
                assert self.reader is not None and self.writer is not None
                head = b"%s %s HTTP/1.1\r\n" % (method.encode(), path.encode()) + self._host + headers
                if body is not None:
                    head += b"Content-Length: %d\r\n\r\n" % len(body)
                    self.writer.write(head + body)
                else:
                    self.writer.write(head + b"\r\n")
                return await self._read_response(method)
        except (
            OSError,
            EOFError,
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ) as exc:
            self.close()
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc

    async def _read_response(self, method: str) -> tuple[int, bytes]:
        reader = self.reader
        assert reader is not None
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        chunked = False
        close = head.startswith(b"HTTP/1.0")
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                value = value.strip().lower()
                close = value == b"close" or (close and value != b"keep-alive")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif chunked:
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # the (empty) trailer
                    break
                parts.append(await reader.readexactly(size + 2))
            body = b"".join(p[:-2] for p in parts)
        elif length is not None:
            body = await reader.readexactly(length)
        else:
            body = await reader.read()
            close = True
        if close:
            self.close()
        return status, body


def auth_headers(token: str | None, *, json_body: bool = False) -> bytes:
    lines = b""
    if token:
        lines += b"Authorization: Bearer %s\r\n" % token.encode()
    if json_body:
        lines += b"Content-Type: application/json\r\n"
    return lines


# --- bounded load ----------------------------------------------------------------------------------

# A request factory: (worker index, request number of that worker) -> (method, path, body, headers).
RequestFactory = Callable[[int, int], tuple[str, str, bytes | None, bytes]]


@dataclass
class LoadResult:
    concurrency: int
    elapsed: float = 0.0
    requests: int = 0
    ok: int = 0
    errors: int = 0  # non-2xx responses plus failed connections
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, every completed request
    error_samples: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0  # this process's CPU time while measuring: is the generator the bottleneck?

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    @property
    def ok_rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def p(self, q: float) -> float | None:
        return percentile(self.latencies, q)

    @classmethod
    def merge(cls, parts: list[LoadResult]) -> LoadResult:
        """One result from several runs of the same traffic (rounds alternated with a floor's)."""
        merged = cls(concurrency=parts[0].concurrency if parts else 0)
        for part in parts:
            merged.elapsed += part.elapsed
            merged.cpu_seconds += part.cpu_seconds
            merged.requests += part.requests
            merged.ok += part.ok
            merged.errors += part.errors
            merged.statuses.update(part.statuses)
            merged.latencies.extend(part.latencies)
            merged.error_samples.extend(part.error_samples[: max(0, 5 - len(merged.error_samples))])
        return merged

    def summary(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "seconds": round(self.elapsed, 2),
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "rps": round(self.rps, 1),
            "ok_rps": round(self.ok_rps, 1),
            "p50_ms": ms(self.p(50)),
            "p95_ms": ms(self.p(95)),
            "p99_ms": ms(self.p(99)),
            "max_ms": ms(max(self.latencies)) if self.latencies else None,
            "generator_cpu_percent": round(100.0 * self.cpu_seconds / self.elapsed, 1) if self.elapsed else None,
            "statuses": dict(sorted(self.statuses.items())),
            "error_samples": self.error_samples[:5],
        }


async def run_load(
    target: Target,
    *,
    concurrency: int,
    make_request: RequestFactory,
    duration: float,
    max_requests: int | None = None,
    warmup: float = 0.0,
    timeout: float = 30.0,
    on_response: Callable[[int, int, int, bytes], None] | None = None,
    think: Callable[[int], float] | None = None,
    progress: Callable[[LoadResult, float], None] | None = None,
) -> LoadResult:
    """`concurrency` workers, each on its own keep-alive connection, send requests back to back (or after
    pausing `think(worker)` seconds, cut short at the deadline) until `duration` seconds have passed or
    `max_requests` were sent. An unmeasured `warmup` of the same traffic comes first. Responses are handed
    to `on_response(worker, n, status, body)`; status 0 means the connection failed."""
    connections = [HttpConnection(target, timeout=timeout) for _ in range(concurrency)]
    result = LoadResult(concurrency=concurrency)
    counters = [0] * concurrency
    issued = 0
    measuring = False
    deadline = 0.0

    async def worker(index: int) -> None:
        nonlocal issued
        conn = connections[index]
        while True:
            now = time.perf_counter()
            if now >= deadline or (measuring and max_requests is not None and issued >= max_requests):
                return
            n = counters[index]
            counters[index] = n + 1
            method, path, body, headers = make_request(index, n)
            if measuring:
                issued += 1
            start = time.perf_counter()
            try:
                status, payload = await conn.request(method, path, body=body, headers=headers)
            except HttpError as exc:
                status, payload = 0, str(exc).encode()
            elapsed = time.perf_counter() - start
            if measuring:
                result.requests += 1
                result.latencies.append(elapsed)
                result.statuses[str(status) if status else "connection_error"] += 1
                if 200 <= status < 300:
                    result.ok += 1
                else:
                    result.errors += 1
                    if len(result.error_samples) < 5:
                        result.error_samples.append(f"{status}: {payload[:200].decode(errors='replace')}")
            if on_response is not None:
                on_response(index, n, status, payload)
            if think is not None:
                pause = min(think(index), deadline - time.perf_counter())
                if pause > 0:
                    await asyncio.sleep(pause)

    async def ticker(started: float) -> None:
        while True:
            await asyncio.sleep(1.0)
            if progress is not None:
                progress(result, time.perf_counter() - started)

    try:
        if warmup > 0:
            deadline = time.perf_counter() + warmup
            await asyncio.gather(*(worker(i) for i in range(concurrency)))
        measuring = True
        cpu_started = time.process_time()
        started = time.perf_counter()
        deadline = started + duration
        tick = asyncio.create_task(ticker(started))
        try:
            await asyncio.gather(*(worker(i) for i in range(concurrency)))
        finally:
            tick.cancel()
        result.elapsed = time.perf_counter() - started
        result.cpu_seconds = time.process_time() - cpu_started
    finally:
        for conn in connections:
            conn.close()
    return result


def print_progress(result: LoadResult, elapsed: float, *, prefix: str = "") -> None:
    rps = result.requests / elapsed if elapsed else 0.0
    print(
        f"{prefix}{elapsed:6.1f}s  requests={result.requests:<8d} rps={rps:8.1f}  errors={result.errors}",
        flush=True,
    )


# --- synchronous JSON calls for setup --------------------------------------------------------------


def http_json(
    method: str, url: str, *, token: str | None = None, body: Any = None, timeout: float = 60.0
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def expect(status: int, payload: Any, wanted: int | tuple[int, ...], what: str) -> Any:
    wanted = (wanted,) if isinstance(wanted, int) else wanted
    if status not in wanted:
        raise RuntimeError(f"{what}: HTTP {status}, expected {wanted}: {str(payload)[:500]}")
    return payload


def wait_http(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, payload = http_json("GET", url, timeout=5)
            if status == 200:
                return
            last = (status, payload)
        except OSError as exc:
            last = exc
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer 200 within {seconds:.0f} s (last: {last})")


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


def answers_fixture(base_url: str = DEFAULT_BASE_URL, *, students: int = 64, questions: int = 100) -> AnswersFixture:
    """An open exam with `questions` single-answer questions (4 choices each), and `students` students of its
    level, each with its own access token and a started attempt. Made once per process."""
    key = (base_url, students, questions)
    if key in _answers_fixtures:
        return _answers_fixtures[key]
    target = loopback_target(base_url)
    doctor = ensure_doctor(email=BENCH_DOCTOR)
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
