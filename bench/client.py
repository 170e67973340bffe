"""The load side of the benchmarks, the drills and the load test (test_traffic.py).

- a small asyncio HTTP/1.1 keep-alive client on raw streams (cheap enough that one core drives the stack);
- run_load(): N concurrent workers, each on its own connection, bounded by time and by requests;
- CPU pinning for the generator, and synchronous JSON calls for setup.

Every target is refused unless it is a loopback address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

try:
    from bench.reporting import ms, percentile
except ImportError:  # run as a script from bench/
    from reporting import ms, percentile  # type: ignore[no-redef]

DEFAULT_BASE_URL = os.environ.get("BENCH_BASE_URL", f"http://127.0.0.1:{os.environ.get('NGINX_PORT', '8080')}")
# The load generator's CPU. Keep it the same from run to run (docs/benchmarks.md): on 2 cores the generator
# gets CPU 1 to itself as far as it is concerned, while the stack is scheduled by the kernel on both.
GENERATOR_CPU = int(os.environ.get("BENCH_GENERATOR_CPU", "1"))


# The CPUs this process could use before pin_generator(); children that are part of the stack (a worker a
# benchmark starts, say) should get them back: subprocess.Popen(..., preexec_fn=client.unpin_child).
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
