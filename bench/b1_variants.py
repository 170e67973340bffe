"""B1 under several settings of the web instances, in the same run: which setting earns its keep.

    make up && scripts/secrets.sh .venv/bin/python bench/b1_variants.py \\
        lean=EXAMS_LEAN_PUT=true drf=EXAMS_LEAN_PUT=false

Each argument is NAME=VAR=VALUE[,VAR=VALUE...]: the environment the web instances are restarted with
(scripts/services.sh stop web / start web) for that variant; when any variant sets an NGINX_* variable (e.g.
NGINX_UPSTREAM_KEEPALIVE=32), Nginx's configuration is rendered again with each variant's and reloaded too. The
variants alternate in rounds (A B, B A, A B, ...) so that a noisy neighbour hurts each alike. Each round of a
variant measures B1 as bench/b1_answers.py does (64 students, one answer per PUT, through Nginx), its floor (GET /
through the same stack) just before, and, while the saves run, the CPU time every part of the stack spends (from
/proc: the gunicorn masters and their workers, Nginx, Cassandra, Redis, PostgreSQL, and this generator), per
acknowledged save. CPU per save is what
a loaded, shared machine blurs least; throughput is reported beside it, with the load average.

BENCH_VARIANT_ROUNDS (default 3) rounds of BENCH_VARIANT_SECONDS (default 8) seconds per side. Results go to
bench/results/b1_variants.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for entry in (str(REPO), str(BENCH_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench import client, processes, reporting, seeding  # noqa: E402

UP_ENV = {
    "DJANGO_SETTINGS_MODULE": "core.settings.production",
    "SECURE_SSL_REDIRECT": os.environ.get("SECURE_SSL_REDIRECT", "false"),
    "ANSWER_STORE": "cassandra",
    "FILE_STORAGE": "s3",
    "DEBUG": "false",
}


def restart_web(settings: dict[str, str], *, nginx: bool = False) -> None:
    """Restart the web instances with `settings` in their environment; with `nginx`, render Nginx's config
    again with them too and reload it (for variants that set NGINX_* variables, e.g. NGINX_UPSTREAM_KEEPALIVE)."""
    env = {**os.environ, **UP_ENV, **settings}
    services = str(REPO / "scripts" / "services.sh")
    if nginx:
        subprocess.run([services, "start", "nginx"], cwd=REPO, env=env, check=True, capture_output=True)
    subprocess.run([services, "stop", "web"], cwd=REPO, env=env, check=True, capture_output=True)
    subprocess.run(
        [services, "start", "web"], cwd=REPO, env=env, check=True, capture_output=True, preexec_fn=client.unpin_child
    )
    client.wait_http(f"{client.DEFAULT_BASE_URL}/health", 60)


def stack_processes() -> dict[str, list[int]]:
    """The stack's processes by part (bench/processes.py), and this generator's."""
    parts = processes.processes(*processes.STACK)
    parts["generator"] = [os.getpid()]
    return parts


def time_wait_sockets() -> int:
    """TCP sockets in TIME-WAIT to or from the web instances' ports: a connection between Nginx and gunicorn that
    was closed rather than kept alive leaves one behind (for 60 s)."""
    ports = set(processes.web_ports())
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "06":  # TIME_WAIT
                continue
            local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
            count += local in ports or remote in ports
    return count


def run_round(fixture: seeding.AnswersFixture, *, seconds: float, warmup: float) -> dict[str, Any]:
    questions = list(fixture.exam.questions.items())
    path = f"/api/exams/{fixture.exam.exam_id}/answers"
    headers = [client.auth_headers(token, json_body=True) for token in fixture.tokens]
    concurrency = len(fixture.tokens)

    def welcome(worker: int, n: int) -> tuple[str, str, None, bytes]:
        return "GET", "/", None, b""

    def save_one(worker: int, n: int) -> tuple[str, str, bytes, bytes]:
        question, choices = questions[(n + worker * 7) % len(questions)]
        choice = choices[(n // len(questions) + worker) % len(choices)]
        return "PUT", path, b'{"answers":[{"question":%d,"choices":[%d]}]}' % (question, choice), headers[worker]

    def load(make: Any, duration: float) -> client.LoadResult:
        return asyncio.run(
            client.run_load(fixture.target, concurrency=concurrency, make_request=make, duration=duration)
        )

    load(welcome, warmup)  # unmeasured warm-ups, so that the CPU counted below is the measured saves' only
    floor = load(welcome, seconds)
    load(save_one, warmup)
    stack = stack_processes()
    waits = time_wait_sockets()
    before = processes.cpu_by_part(stack)
    wall = time.perf_counter()
    saves = load(save_one, seconds)
    wall = time.perf_counter() - wall
    spent = {part: cpu - before[part] for part, cpu in processes.cpu_by_part(stack).items()}
    ok = saves.ok or 1
    closed = max(0, time_wait_sockets() - waits)
    return {
        "upstream_connections_closed": closed,
        "answers_per_s": round(saves.ok_rps, 1),
        "floor_rps": round(floor.ok_rps, 1),
        "ratio": round(saves.ok_rps / floor.ok_rps, 3) if floor.ok_rps else None,
        "p50_ms": reporting.ms(saves.p(50)),
        "p99_ms": reporting.ms(saves.p(99)),
        "errors": saves.errors + floor.errors,
        "cpu_ms_per_save": {part: round(1000 * cpu / ok, 3) for part, cpu in spent.items()},
        # The share of the machine's cores each part used while the saves ran.
        "cpu_share": {part: round(cpu / (wall * (os.cpu_count() or 1)), 3) for part, cpu in spent.items()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def main(argv: list[str]) -> int:
    variants: dict[str, dict[str, str]] = {}
    for arg in argv:
        name, _, assignments = arg.partition("=")
        variants[name] = dict(item.split("=", 1) for item in assignments.split(",") if item)
    if len(variants) < 2:
        print(__doc__)
        return 2
    seeding.django_setup()
    pinning = client.pin_generator()
    rounds = max(1, reporting.env_int("BENCH_VARIANT_ROUNDS", 3))
    seconds = reporting.env_float("BENCH_VARIANT_SECONDS", 8.0)
    warmup = reporting.env_float("BENCH_WARMUP_SECONDS", 2.0)
    names = list(variants)
    # Every variant reloads Nginx alike when any of them sets its variables.
    nginx = any(var.startswith("NGINX_") for settings in variants.values() for var in settings)
    restart_web(variants[names[0]], nginx=nginx)  # the instances run this tree's code from the start
    fixture = seeding.answers_fixture(client.DEFAULT_BASE_URL, students=reporting.env_int("BENCH_CONCURRENCY", 64))
    runs: list[dict[str, Any]] = []
    for r in range(rounds):
        for name in names if r % 2 == 0 else list(reversed(names)):
            restart_web(variants[name], nginx=nginx)
            row = {"variant": name, "round": r, **run_round(fixture, seconds=seconds, warmup=warmup)}
            runs.append(row)
            cpu = row["cpu_ms_per_save"]
            print(
                f"round {r} {name:>12}: {row['answers_per_s']:7.1f} saves/s, floor {row['floor_rps']:7.1f} req/s, "
                f"ratio {row['ratio']}, p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, errors {row['errors']}; "
                f"CPU ms/save web {cpu['web']}, nginx {cpu['nginx']}, cassandra {cpu['cassandra']}, "
                f"redis {cpu['redis']}, generator {cpu['generator']}; upstream connections closed "
                f"{row['upstream_connections_closed']}; load {row['load_average']}",
                flush=True,
            )
    restart_web(variants[names[0]], nginx=nginx)  # leave the stack on the first variant
    summary: dict[str, Any] = {}
    for name in names:
        mine = [row for row in runs if row["variant"] == name]
        summary[name] = {
            "settings": variants[name],
            "ratio": round(_mean([row["ratio"] or 0.0 for row in mine]), 3),
            "answers_per_s": round(_mean([row["answers_per_s"] for row in mine]), 1),
            "p99_ms": round(_mean([row["p99_ms"] or 0.0 for row in mine]), 1),
            "errors": sum(row["errors"] for row in mine),
            "cpu_ms_per_save": {
                part: round(_mean([row["cpu_ms_per_save"][part] for row in mine]), 3)
                for part in mine[0]["cpu_ms_per_save"]
            },
        }
    document = {
        "summary": summary,
        "runs": runs,
        "cpu_sharing": pinning,
        "commit": reporting.git_commit(),
        "seconds_per_side": seconds,
        "rounds": rounds,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    path = reporting.RESULTS_DIR / "b1_variants.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    for name, row in summary.items():
        print(f"{name}: {json.dumps(row)}")
    print(f"{pinning}. Written to {path.relative_to(REPO)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
