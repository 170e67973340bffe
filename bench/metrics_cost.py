"""What metrics cost on the hot path: B1's load (one-answer PUTs through Nginx, 64 students) against the same
`make up` stack, with METRICS_ENABLED off on one web instance and on on the other, loaded at the same time so that
a noisy neighbour hurts both alike; the instances swap modes every round. It also checks that /metrics counted
exactly the saves the load generator saw acknowledged.

    make up                                                  # a stack of your own (NGINX_PORT, WEB_BASE_PORT)
    ANSWER_STORE=cassandra FILE_STORAGE=s3 DEBUG=false .venv/bin/python bench/metrics_cost.py
    ANSWER_STORE=cassandra FILE_STORAGE=s3 DEBUG=false .venv/bin/python bench/metrics_cost.py --in-process

`--in-process` measures the CPU one PUT costs in this process (Django's WSGI handler called directly, the same
Redis and Cassandra as the stack, metrics in multiprocess mode as under gunicorn), off and on in alternating
batches: on a machine too busy for a throughput comparison, CPU time is the steadier measure.

Knobs: BENCH_COST_SECONDS (per round, default 10), BENCH_COST_ROUNDS (default 4), BENCH_CONCURRENCY (64).
Writes bench/results/metrics-cost.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for entry in (str(REPO), str(BENCH_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench import client, processes, reporting, seeding  # noqa: E402


def services(action: str, *, port: int, metrics: bool) -> int:
    env = {
        **os.environ,
        "METRICS_ENABLED": "true" if metrics else "false",
        "WEB_BASE_PORT": str(port),
        "WEB_INSTANCES": "1",
    }
    return subprocess.run(
        [str(REPO / "scripts" / "services.sh"), action, "web"],
        env=env,
        check=False,
        cwd=REPO,
        preexec_fn=client.unpin_child,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ).returncode


def web_instances(*, off_port: int, on_port: int) -> None:
    """One instance with metrics off and one with metrics on (the stack's own two ports), started afresh."""
    for port in (off_port, on_port):
        services("stop", port=port, metrics=False)
    for port, metrics in ((off_port, False), (on_port, True)):
        for attempt in range(3):  # a busy machine can miss services.sh's 30 s start limit
            if services("start", port=port, metrics=metrics) == 0:
                break
            if attempt == 2:
                raise RuntimeError(f"web on port {port} did not start")
        client.wait_http(f"http://127.0.0.1:{port}/health", 60)


def instance_cpu_seconds(port: int) -> float:
    """CPU time (user + system) used so far by one web instance: its gunicorn master and workers."""
    return processes.cpu_seconds(processes.tree(processes.web_master(port)))


def _cpu_per_save(rows: list[tuple[float, int, int]]) -> float:
    return sum(cpu for cpu, _, _ in rows) / max(sum(ok for _, ok, _ in rows), 1)


def acknowledged_total(base_url: str) -> float:
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith('exams_answer_saves_total{outcome="acknowledged"}'):
                return float(line.split()[-1])
    return 0.0


def in_process() -> int:
    import io
    import logging
    import statistics
    import tempfile

    from core.common.metrics_dir import MULTIPROC_ENV

    os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="metrics-cost-")  # before prometheus-client is imported
    batch = reporting.env_int("BENCH_COST_BATCH", 300)
    rounds = reporting.env_int("BENCH_COST_ROUNDS", 8)
    fixture = seeding.answers_fixture(client.DEFAULT_BASE_URL, students=8)
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    with open(os.devnull, "w") as devnull:
        for handler in logging.getLogger().handlers:  # the request lines cost the same in both modes
            handler.setStream(devnull)  # type: ignore[attr-defined]
        handlers = {}
        for mode in ("off", "on"):
            settings.METRICS_ENABLED = mode == "on"
            handlers[mode] = WSGIHandler()
        questions = list(fixture.exam.questions.items())
        path = f"/api/exams/{fixture.exam.exam_id}/answers"

        def put(handler: WSGIHandler, n: int) -> str:
            question, choices = questions[n % len(questions)]
            body = b'{"answers":[{"question":%d,"choices":[%d]}]}' % (question, choices[n % len(choices)])
            environ = {
                "REQUEST_METHOD": "PUT", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(body), "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
                "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1",
                "HTTP_AUTHORIZATION": f"Bearer {fixture.tokens[n % len(fixture.tokens)]}",
            }  # fmt: skip
            status: list[str] = []
            b"".join(handler(environ, lambda s, h, *_: status.append(s)))  # type: ignore[arg-type]
            return status[0]

        per_request: dict[str, list[float]] = {"off": [], "on": []}
        for mode in ("off", "on"):  # warm both: checked tokens, cached exam key, prepared statements
            settings.METRICS_ENABLED = mode == "on"
            for n in range(50):
                assert put(handlers[mode], n).startswith("200"), "the warm-up save failed"
        # Requests alternate one by one between the modes, so that whatever else the machine does falls on
        # both alike; each batch's figure is this thread's CPU time (time.thread_time) per request.
        for r in range(rounds):
            spent = {"off": 0.0, "on": 0.0}
            for n in range(2 * batch):
                mode = ("off", "on")[(n + r) % 2]
                settings.METRICS_ENABLED = mode == "on"
                started = time.thread_time()
                put(handlers[mode], n)
                spent[mode] += time.thread_time() - started
            for mode in spent:
                per_request[mode].append(spent[mode] / batch)
    off, on = statistics.median(per_request["off"]), statistics.median(per_request["on"])
    # The exact work metrics add to one save, alone in a loop (multiprocess mode, as under gunicorn): the HTTP
    # counter and histogram, the outcome counter, the store-write histogram, and their clock reads.
    from core.common import metrics

    route = "/api/exams/<int:exam_id>/answers"
    loops = 20_000
    started = time.process_time()
    for _ in range(loops):
        t0 = time.perf_counter()
        metrics.store_write_observe(started=t0)
        metrics.ANSWER_SAVES.labels(metrics.answer_save_outcome(200)).inc()
        metrics.HTTP_REQUESTS.labels(route, "PUT", "200").inc()
        metrics.HTTP_DURATION.labels(route).observe(time.perf_counter() - t0)
    metric_ops = (time.process_time() - started) / loops
    summary = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": reporting.git_commit(),
        "what": "CPU seconds of the request thread per one-answer PUT (WSGI handler called directly), requests "
        "alternating between metrics off and on, median of batches",
        "batches": rounds,
        "batch": batch,
        "off_cpu_us": round(off * 1e6, 1),
        "on_cpu_us": round(on * 1e6, 1),
        "added_cpu_us": round((on - off) * 1e6, 1),
        "cost_percent": round(100 * (on - off) / off, 2),
        "metric_ops_cpu_us": round(metric_ops * 1e6, 2),
        "metric_ops_percent_of_off": round(100 * metric_ops / off, 2),
        "batches_us": {k: [round(v * 1e6, 1) for v in vs] for k, vs in per_request.items()},
    }
    out = reporting.RESULTS_DIR / "metrics-cost-in-process.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def main() -> int:
    """Both modes at once, each on its own web instance, under the same load at the same moment (so a busy
    neighbour hurts both alike), then the instances swap modes; the generator talks to each instance directly."""
    seconds = reporting.env_float("BENCH_COST_SECONDS", 10.0)
    rounds = reporting.env_int("BENCH_COST_ROUNDS", 4)
    concurrency = reporting.env_int("BENCH_CONCURRENCY", 64)
    base_port = int(os.environ.get("WEB_BASE_PORT", "8001"))
    print(f"generator pinned to {client.pin_generator()}")
    fixture = seeding.answers_fixture(client.DEFAULT_BASE_URL, students=concurrency)
    questions = list(fixture.exam.questions.items())
    path = f"/api/exams/{fixture.exam.exam_id}/answers"
    headers = [client.auth_headers(token, json_body=True) for token in fixture.tokens]
    half = concurrency // 2

    def saver(offset: int) -> Any:
        def save_one(worker: int, n: int) -> tuple[str, str, bytes, bytes]:
            student = worker + offset
            question, choices = questions[(n + student * 7) % len(questions)]
            choice = choices[(n // len(questions) + student) % len(choices)]
            body = b'{"answers":[{"question":%d,"choices":[%d]}]}' % (question, choice)
            return "PUT", path, body, headers[student]

        return save_one

    results: dict[str, list[Any]] = {"off": [], "on": []}
    counted: list[tuple[int, float]] = []
    cpu_per_save: dict[str, list[tuple[float, int, int]]] = {"off": [], "on": []}
    for r in range(rounds):
        off_port, on_port = (base_port, base_port + 1) if r % 2 == 0 else (base_port + 1, base_port)
        web_instances(off_port=off_port, on_port=on_port)
        on_url = f"http://127.0.0.1:{on_port}"
        before = acknowledged_total(on_url)
        cpu_before = {instance: instance_cpu_seconds(instance) for instance in (off_port, on_port)}
        acked = [0]

        def seen(worker: int, n: int, status: int, body: bytes, acked: list[int] = acked) -> None:
            if 200 <= status < 300:
                acked[0] += 1

        async def both(off_port: int = off_port, on_port: int = on_port, seen: Any = seen) -> list[Any]:
            def load(port: int, offset: int, on_response: Any = None) -> Any:
                return client.run_load(
                    client.loopback_target(f"http://127.0.0.1:{port}"),
                    concurrency=half,
                    make_request=saver(offset),
                    duration=seconds,
                    max_requests=200_000,
                    warmup=1.0,
                    on_response=on_response,
                )

            return list(await asyncio.gather(load(off_port, 0), load(on_port, half, seen)))

        off, on = asyncio.run(both())
        for mode, instance, result in (("off", off_port, off), ("on", on_port, on)):
            cpu = instance_cpu_seconds(instance) - cpu_before[instance]
            cpu_per_save[mode].append((cpu, result.ok, instance))
        counted.append((acked[0], acknowledged_total(on_url) - before))
        results["off"].append(off)
        results["on"].append(on)
        for mode, result in (("off", off), ("on", on)):
            print(
                f"round {r + 1} {mode:3} port {off_port if mode == 'off' else on_port}  {result.ok_rps:7.1f} saves/s  "
                f"p50 {reporting.ms(result.p(50))} ms  p99 {reporting.ms(result.p(99))} ms  errors {result.errors}",
                flush=True,
            )
    off, on = client.LoadResult.merge(results["off"]), client.LoadResult.merge(results["on"])
    cost = 1 - on.ok_rps / off.ok_rps if off.ok_rps else 0.0

    def part(result: Any) -> dict[str, Any]:
        return {
            "saves_per_s": round(result.ok_rps, 1),
            "p50_ms": reporting.ms(result.p(50)),
            "p99_ms": reporting.ms(result.p(99)),
            "errors": result.errors,
        }

    summary = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": reporting.git_commit(),
        "how": f"{half} students on an instance with metrics off and {half} on one with metrics on, at the same "
        f"time, {rounds} rounds of {seconds:g} s, instances swapping modes each round",
        "off": part(off),
        "on": part(on),
        "throughput_cost_percent": round(100 * cost, 2),
        # CPU the instance used during the round (warm-up and measured) per measured save: scheduling on a busy
        # machine can starve either instance, but it cannot change what a save costs.
        "cpu_ms_per_save": {
            mode: [round(1000 * cpu / max(ok, 1), 3) for cpu, ok, _ in rows] for mode, rows in cpu_per_save.items()
        },
        "cpu_cost_percent": round(
            100 * (_cpu_per_save(cpu_per_save["on"]) / _cpu_per_save(cpu_per_save["off"]) - 1), 2
        ),
        "acknowledged_by_generator_vs_metrics": counted,
        "load_average": os.getloadavg(),
    }
    services("stop", port=base_port, metrics=True)
    services("stop", port=base_port + 1, metrics=True)
    subprocess.run([str(REPO / "scripts" / "services.sh"), "start", "web"], check=False, cwd=REPO)
    out = reporting.RESULTS_DIR / "metrics-cost.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(in_process() if "--in-process" in sys.argv[1:] else main())
