"""B7: answer saves on a three-node cluster against one node, in the same run.

B1's load (one answer per PUT) and B2's (100 answers per PUT) through Nginx and 2 gunicorn instances, once against
the stack of `make bench` and once against a second, side stack that differs only in its answer store: a
three-node cluster (127.0.0.1-3, RF 3, LOCAL_QUORUM) when the main stack has one node, or one node when the main
stack is the cluster (`CASSANDRA_NODES=3 make bench`). The side stack shares PostgreSQL and Redis and has its own
Cassandra, gunicorn instances and Nginx on ports 10 above the main ones, under .state/b7; it is stopped at the end
(BENCH_B7_KEEP=1 keeps it). The two alternate in rounds, so that a noisy neighbour hurts both alike, after
BENCH_B7_WARM_ROUNDS (1) uncounted rounds of each kind on each stack, so that the freshly started side stack is as
warm as the main one.

The same machinery measures what `commitlog_sync: group` costs against `periodic` (docs/decisions, durability):
`BENCH_B7_SIDE_SYNC=group` gives the side stack that commit log sync, with as many nodes as the main one
(`BENCH_B7_SIDE_NODES`).

Figure: answers/s on three nodes; floor: answers/s on one node; ratio = 3 nodes / 1 node, reported, no target
(a three-node cluster on one 2-core machine is expected to be slower; the figure says by how much).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from typing import Any

try:
    from bench import client, processes, reporting, seeding
except ImportError:  # run as a script from bench/
    import client  # type: ignore[no-redef]
    import processes  # type: ignore[no-redef]
    import reporting  # type: ignore[no-redef]
    import seeding  # type: ignore[no-redef]

ID = "B7"
WHAT = "B1 and B2 on a 3-node cluster vs 1 node"
OFFSET = 10
SERVICES = str(reporting.REPO / "scripts" / "services.sh")


def _int_env(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def side_environment(*, nodes: int, sync: str) -> dict[str, str]:
    """The side stack's environment: the main one's, with its own state folder, ports and answer store."""
    env = {k: v for k, v in os.environ.items() if k != "SERVICES_LOCKED"}
    state = os.environ.get("STATE_DIR") or str(reporting.REPO / ".state")
    env.update(
        STATE_DIR=f"{state}/b7",
        CASSANDRA_NODES=str(nodes),
        CASSANDRA_COMMITLOG_SYNC=sync,
        CASSANDRA_PORT=str(_int_env("CASSANDRA_PORT", 59042) + OFFSET),
        CASSANDRA_STORAGE_PORT=str(_int_env("CASSANDRA_STORAGE_PORT", 57000) + OFFSET),
        CASSANDRA_JMX_PORT=str(_int_env("CASSANDRA_JMX_PORT", 57199) + OFFSET),
        NGINX_PORT=str(_int_env("NGINX_PORT", 8080) + OFFSET),
        WEB_BASE_PORT=str(_int_env("WEB_BASE_PORT", 8001) + OFFSET),
        WEB_INSTANCES=os.environ.get("WEB_INSTANCES", "2"),
        ANSWER_STORE="cassandra",
        CASSANDRA_START_TIMEOUT=os.environ.get("CASSANDRA_START_TIMEOUT", "400"),
    )
    for name in ("CASSANDRA_HOSTS", "CASSANDRA_REPLICATION_FACTOR", "CASSANDRA_LOCAL_DC"):
        env.pop(name, None)  # they follow CASSANDRA_NODES
    return env


def _services(action: str, *names: str, env: dict[str, str], timeout: float = 900) -> None:
    out = subprocess.run([SERVICES, action, *names], env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"services.sh {action} {' '.join(names)}: {out.stderr[-1500:]}")


def side_start(env: dict[str, str]) -> str:
    started = time.monotonic()
    _services("start", "cassandra", env=env)
    manage = [str(reporting.REPO / ".venv" / "bin" / "python"), str(reporting.REPO / "manage.py"), "cassandra_sync"]
    subprocess.run(manage, env=env, check=True, capture_output=True, timeout=300)
    _services("start", "web", "nginx", env=env)
    base_url = f"http://127.0.0.1:{env['NGINX_PORT']}"
    client.wait_http(f"{base_url}/health", 60)
    print(
        f"  B7: side stack ({env['CASSANDRA_NODES']} node(s), commitlog_sync {env['CASSANDRA_COMMITLOG_SYNC']}) "
        f"up in {time.monotonic() - started:.0f} s at {base_url}",
        flush=True,
    )
    return base_url


def side_stop(env: dict[str, str]) -> None:
    _services("stop", "nginx", "web", "cassandra", env=env, timeout=300)


def stack_processes(env: dict[str, str]) -> dict[str, list[int]]:
    """The Cassandra node(s) and the web tier (gunicorn and Nginx, with their children) of the stack that
    `env` names (its STATE_DIR): what one stack's saves cost in CPU. PostgreSQL and Redis are shared by both
    stacks and left out (a warm save does not query PostgreSQL)."""
    out = subprocess.run(
        [SERVICES, "pid", "cassandra", "web", "nginx"], env=env, capture_output=True, text=True, timeout=60
    )
    parts: dict[str, list[int]] = {"cassandra": [], "web": []}
    for program, pid in processes.parse_pids(out.stdout).items():
        part = "cassandra" if processes.part_of(program) == "cassandra" else "web"
        parts[part].extend(processes.tree(pid))
    if not parts["cassandra"] or not parts["web"]:
        raise RuntimeError(f"services.sh pid found no Cassandra or no web tier: {out.stdout} {out.stderr}")
    return parts


def measure(
    base_urls: dict[str, str],
    *,
    seconds: float,
    rounds: int,
    concurrency: int,
    warm_rounds: int = 1,
    envs: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """B1's and B2's loads against each stack, alternating; answers/s and latencies per (stack, kind). The first
    `warm_rounds` rounds are not counted: a side stack started a minute ago has cold JVMs and Python processes,
    while the main one may have run for an hour (the first B7 figure was biased that way). With `envs` (each
    stack's environment for services.sh), also the CPU that stack's Cassandra and web tier spent per answer
    saved, warm-up seconds included: on a shared machine throughput depends on the neighbours, CPU per answer
    much less."""
    fixtures = {name: seeding.answers_fixture(url, students=concurrency) for name, url in base_urls.items()}
    parts = {name: stack_processes(env) for name, env in (envs or {}).items()}
    runs: dict[tuple[str, str], list[Any]] = {}
    cpu: dict[tuple[str, str], dict[str, float]] = {}
    warmup = reporting.env_float("BENCH_WARMUP_SECONDS", 2.0)
    for round_ in range(warm_rounds + rounds):
        for kind, per_request in (("B1", 1), ("B2", 100)):
            for name, fixture in fixtures.items():
                questions = list(fixture.exam.questions.items())[:per_request]
                path = f"/api/exams/{fixture.exam.exam_id}/answers"
                headers = [client.auth_headers(token, json_body=True) for token in fixture.tokens]

                def save(worker: int, n: int, questions=questions, path=path, headers=headers) -> Any:
                    items = b",".join(
                        b'{"question":%d,"choices":[%d]}' % (q, choices[(n + worker + i) % len(choices)])
                        for i, (q, choices) in enumerate(questions)
                    )
                    return "PUT", path, b'{"answers":[' + items + b"]}", headers[worker]

                acked = [0]

                def count(worker: int, n: int, status: int, body: bytes, acked=acked) -> None:
                    if 200 <= status < 300:
                        acked[0] += 1

                before = processes.cpu_by_part(parts[name]) if name in parts else {}
                result = asyncio.run(
                    client.run_load(
                        fixture.target,
                        concurrency=concurrency,
                        make_request=save,
                        duration=seconds / rounds,
                        max_requests=200_000,
                        warmup=warmup,
                        on_response=count,
                    )
                )
                if round_ >= warm_rounds:
                    runs.setdefault((name, kind), []).append((result, per_request))
                    if name in parts:
                        spent = cpu.setdefault((name, kind), {"answers": 0.0})
                        spent["answers"] += acked[0] * per_request
                        for part, used in processes.cpu_by_part(parts[name]).items():
                            spent[part] = spent.get(part, 0.0) + used - before[part]
    figures: dict[str, Any] = {}
    for (name, kind), results in runs.items():
        merged = client.LoadResult.merge([r for r, _ in results])
        per_request = results[0][1]
        figures[f"{name}_{kind}"] = {
            "answers_per_s": round(merged.ok * per_request / merged.elapsed, 1) if merged.elapsed else 0.0,
            "p50_ms": reporting.ms(merged.p(50)),
            "p99_ms": reporting.ms(merged.p(99)),
            "errors": merged.errors,
        }
        spent = cpu.get((name, kind))
        if spent and spent["answers"]:
            for part in ("cassandra", "web"):
                figures[f"{name}_{kind}"][f"{part}_cpu_ms_per_answer"] = round(spent[part] * 1000 / spent["answers"], 3)
    return figures


def run() -> dict[str, Any]:
    seeding.django_setup()
    from django.conf import settings

    main_nodes = int(settings.CASSANDRA_NODES)
    sync = os.environ.get("BENCH_B7_SIDE_SYNC", "periodic")
    side_nodes = _int_env("BENCH_B7_SIDE_NODES", main_nodes if sync != "periodic" else (1 if main_nodes > 1 else 3))
    seconds = reporting.env_float("BENCH_B7_SECONDS", 16.0)
    rounds = max(1, reporting.env_int("BENCH_ROUNDS", 2))
    concurrency = reporting.env_int("BENCH_CONCURRENCY", 64)
    warm_rounds = max(0, reporting.env_int("BENCH_B7_WARM_ROUNDS", 1))
    env = side_environment(nodes=side_nodes, sync=sync)
    main_sync = os.environ.get("CASSANDRA_COMMITLOG_SYNC", "periodic")
    main = f"{main_nodes}n_{main_sync}"
    side = f"{side_nodes}n_{sync}"
    try:
        urls = {main: client.DEFAULT_BASE_URL, side: side_start(env)}
        main_env = {k: v for k, v in os.environ.items() if k != "SERVICES_LOCKED"}
        figures = measure(
            urls,
            seconds=seconds,
            rounds=rounds,
            concurrency=concurrency,
            warm_rounds=warm_rounds,
            envs={main: main_env, side: env},
        )
    finally:
        if not os.environ.get("BENCH_B7_KEEP"):
            side_stop(env)
    # figure / floor: the three-node (or group) stack over the one-node (or periodic) one
    if sync == "periodic":
        top, base = (main, side) if main_nodes > side_nodes else (side, main)
        what = WHAT
    else:
        top, base, what = side, main, f"B1 and B2 on {side_nodes} node(s): commitlog_sync group vs periodic"
    ratio = {
        k: figures[f"{top}_{k}"]["answers_per_s"] / max(figures[f"{base}_{k}"]["answers_per_s"], 1e-9)
        for k in ("B1", "B2")
    }
    errors = sum(f["errors"] for f in figures.values())

    def cpu_of(stack: str, kind: str) -> str:
        f = figures[f"{stack}_{kind}"]
        return f"{f.get('cassandra_cpu_ms_per_answer')} + {f.get('web_cpu_ms_per_answer')}"

    cpu_note = ", ".join(f"{k} {cpu_of(top, k)} vs {cpu_of(base, k)}" for k in ("B1", "B2"))
    return {
        "id": ID,
        "what": what,
        "figure": figures[f"{top}_B1"]["answers_per_s"],
        "unit": f"answers/s, B1 on {top}",
        "floor": figures[f"{base}_B1"]["answers_per_s"],
        "floor_unit": f"answers/s, B1 on {base}",
        "ratio": round(ratio["B1"], 3),
        "b2_ratio": round(ratio["B2"], 3),
        "target": "report both ratios (B1, B2)",
        "met": errors == 0,
        "errors": errors,
        "p50_ms": figures[f"{top}_B1"]["p50_ms"],
        "p99_ms": figures[f"{top}_B1"]["p99_ms"],
        "figures": figures,
        "notes": (
            f"B1 ratio {ratio['B1']:.2f} ({figures[f'{top}_B1']['answers_per_s']:.0f} vs "
            f"{figures[f'{base}_B1']['answers_per_s']:.0f} answers/s, p99 {figures[f'{top}_B1']['p99_ms']} vs "
            f"{figures[f'{base}_B1']['p99_ms']} ms); B2 ratio {ratio['B2']:.2f} "
            f"({figures[f'{top}_B2']['answers_per_s']:.0f} vs {figures[f'{base}_B2']['answers_per_s']:.0f} answers/s, "
            f"p99 {figures[f'{top}_B2']['p99_ms']} vs {figures[f'{base}_B2']['p99_ms']} ms); {top} against {base}; "
            f"{concurrency} students, {seconds:.0f} s per stack and kind in {rounds} alternating rounds, after "
            f"{warm_rounds} uncounted warm-up round(s) of each kind on each stack; CPU ms per answer (Cassandra + "
            f"web tier): {cpu_note}"
        ),
    }


if __name__ == "__main__":
    import json

    client.pin_generator()
    print(json.dumps(run(), indent=2))
