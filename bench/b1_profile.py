"""Where a B1 save's time goes: py-spy on one gunicorn worker while B1's traffic runs.

    scripts/secrets.sh .venv/bin/python bench/b1_profile.py

Runs B1's traffic (64 students, one answer per PUT, through Nginx) against the running `make up` stack for
BENCH_PROFILE_SECONDS (default 20), and meanwhile samples one worker of the first web instance with py-spy
(`pip install py-spy` into the venv) twice: on-CPU samples only (where the worker's CPU goes), then with idle
samples (where a request's wall time goes, waits on Cassandra and Redis included). Each is summed two ways:
by the package of the innermost frame (self time) and by a few named steps of the request (inclusive time).
Prints the tables, the stack's CPU by part over the same seconds, and writes bench/results/b1_profile.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for entry in (str(REPO), str(BENCH_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench import b1_variants, client, processes, reporting, seeding  # noqa: E402

# Inclusive steps: a sample counts for a step when any of its frames is that function (file suffix, function).
STEPS = {
    "gunicorn: a request, from reading it to writing the response": [("gunicorn/workers/gthread.py", "handle")],
    "  Django: the handler, middleware and view": [("django/core/handlers/wsgi.py", "__call__")],
    "    URL resolving": [("django/urls/resolvers.py", "resolve")],
    "    the lean road (hot_path.answers_put_lean)": [("core/exams/hot_path.py", "answers_put_lean")],
    "    DRF's road (APIView.dispatch)": [("rest_framework/views.py", "dispatch")],
    "      the full token check": [("rest_framework_simplejwt/authentication.py", "get_validated_token")],
    "      services.answers_save": [("core/exams/services.py", "answers_save")],
    "        the cache read (hot_context_get)": [("core/exams/caching.py", "hot_context_get")],
    "        the answer store's save (Cassandra)": [("core/answers/cassandra.py", "save")],
    "metrics (prometheus_client)": [("prometheus_client/", "")],
    "logging (structlog, the logging module)": [("structlog/", ""), ("logging/", "")],
    "cassandra-driver's event loop thread": [("cassandra/io/libevreactor.py", "_run_loop")],
    "the Redis client (redis-py)": [("redis/", "")],
}


def _frames(stack: str) -> list[tuple[str, str]]:
    frames = []
    for frame in stack.split(";"):
        name, _, where = frame.rpartition(" (")
        frames.append((where.rsplit(":", 1)[0], name.strip()))
    return frames


def _package(path: str) -> str:
    """py-spy names a file from its import root: "cassandra/cluster.py", "core/exams/services.py", "json/decoder.py",
    "selectors.py" (the standard library's modules and packages look alike)."""
    parts = path.split("/")
    if parts[0] == "core" and len(parts) > 2:
        return f"core.{parts[1]}"
    return parts[0].removesuffix(".py")


def summarise(raw: Path) -> dict[str, Any]:
    by_package: Counter[str] = Counter()
    by_step: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = _frames(stack)
        real = [f for f in frames if f[0]]
        if real:
            by_package[_package(real[-1][0])] += count
        for step, matches in STEPS.items():
            if any(
                part in path and function in ("", name.rsplit(".", 1)[-1])
                for path, name in real
                for part, function in matches
            ):
                by_step[step] += count
    share = {k: round(v / total, 3) for k, v in by_package.most_common(25)} if total else {}
    steps = {k: round(by_step[k] / total, 3) for k in STEPS} if total else {}
    return {"samples": total, "self_by_package": share, "inclusive_by_step": steps}


def main() -> int:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy is not installed: .venv/bin/pip install py-spy")
        return 2
    seeding.django_setup()
    pinning = client.pin_generator()
    seconds = reporting.env_float("BENCH_PROFILE_SECONDS", 20.0)
    fixture = seeding.answers_fixture(client.DEFAULT_BASE_URL, students=reporting.env_int("BENCH_CONCURRENCY", 64))
    master = processes.web_master(processes.web_ports()[0])
    worker = str(next(pid for pid in processes.tree(master) if pid != master))
    questions = list(fixture.exam.questions.items())
    path = f"/api/exams/{fixture.exam.exam_id}/answers"
    headers = [client.auth_headers(token, json_body=True) for token in fixture.tokens]

    def save_one(index: int, n: int) -> tuple[str, str, bytes, bytes]:
        question, choices = questions[(n + index * 7) % len(questions)]
        choice = choices[(n // len(questions) + index) % len(choices)]
        return "PUT", path, b'{"answers":[{"question":%d,"choices":[%d]}]}' % (question, choice), headers[index]

    results: dict[str, Any] = {}
    out = Path(tempfile.mkdtemp(prefix="b1-profile-"))
    load_result: dict[str, Any] = {}

    def load() -> None:
        result = asyncio.run(
            client.run_load(
                fixture.target, concurrency=len(fixture.tokens), make_request=save_one, duration=seconds, warmup=2.0
            )
        )
        load_result.update(result.summary())

    stack = b1_variants.stack_processes()
    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(3.0)  # past the warm-up
    before = processes.cpu_by_part(stack)
    wall = time.perf_counter()
    record = max(4.0, (seconds - 4.0) / 2)
    for mode, extra in (("cpu", []), ("wall", ["--idle"])):
        raw = out / f"{mode}.txt"
        subprocess.run(
            [spy, "record", "--pid", worker, "--duration", str(int(record)), "--rate", "250", "--format", "raw",
             "--nonblocking", "--output", str(raw), *extra],
            check=True,
            capture_output=True,
        )  # fmt: skip
        results[mode] = summarise(raw)
    wall = time.perf_counter() - wall
    spent = {part: cpu - before[part] for part, cpu in processes.cpu_by_part(stack).items()}
    thread.join()
    cores = os.cpu_count() or 1
    document = {
        "worker": worker,
        "profiles": results,
        "stack_cpu_share": {part: round(cpu / (wall * cores), 3) for part, cpu in spent.items()},
        "load": load_result,
        "cpu_sharing": pinning,
        "commit": reporting.git_commit(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "raw_profiles": str(out),
    }
    path_out = reporting.RESULTS_DIR / "b1_profile.json"
    path_out.parent.mkdir(exist_ok=True)
    path_out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
