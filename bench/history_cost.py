"""What the save history costs: B1 and B2 with ANSWER_HISTORY off and on, in the same run, against a running
`make up` stack whose web instances this script restarts (scripts/services.sh stop web / start web) with each
setting. Off and on alternate (off, on, on, off, ...), so that a noisy neighbour hurts both alike; each B1 and B2
run measures its own floor, and the cost is 1 - (ratio with history) / (ratio without).

    make up && ANSWER_STORE=cassandra .venv/bin/python bench/history_cost.py      # BENCH_HISTORY_ROUNDS=2

Throughput on a shared 2-core machine swings with the neighbours' load, so it also measures what the load
cannot blur much: the CPU seconds the web instances (every gunicorn process of this stack) spend per
acknowledged save, over a fixed number of saves of 1 answer (as B1) and of 100 answers (as B2).

It checks that the switch took: a run with the history grows the first student's history, one without does
not. Results go to bench/results/history_cost.json. See docs/decisions/0011-save-history.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for entry in (str(REPO), str(BENCH_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench import b1_answers, b2_answers, client, reporting, seeding  # noqa: E402

UP_ENV = {"ANSWER_STORE": "cassandra", "FILE_STORAGE": "s3", "DEBUG": "false"}


def restart_web(*, history: bool) -> None:
    env = {**os.environ, **UP_ENV, "ANSWER_HISTORY": "true" if history else "false"}
    services = str(REPO / "scripts" / "services.sh")
    subprocess.run([services, "stop", "web"], cwd=REPO, env=env, check=True, capture_output=True)
    subprocess.run([services, "start", "web"], cwd=REPO, env=env, check=True, capture_output=True)
    client.wait_http(f"{client.DEFAULT_BASE_URL}/health", 60)


def web_cpu_seconds() -> float:
    """user + system CPU of every gunicorn process of this stack (masters from .state/run, and their workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pidfile in (REPO / ".state" / "run").glob("web-*.pid"):
        master = pidfile.read_text().strip()
        children = Path(f"/proc/{master}/task/{master}/children")
        pids = [master, *(children.read_text().split() if children.exists() else [])]
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def cpu_per_save(*, batch: int, requests: int, concurrency: int = 16) -> dict[str, Any]:
    """Web CPU milliseconds per acknowledged save of `batch` answers, over `requests` saves."""
    fixture = seeding.answers_fixture(client.DEFAULT_BASE_URL, students=reporting.env_int("BENCH_CONCURRENCY", 64))
    questions = list(fixture.exam.questions.items())[:batch]
    path = f"/api/exams/{fixture.exam.exam_id}/answers"
    headers = [client.auth_headers(token, json_body=True) for token in fixture.tokens]

    def save(worker: int, n: int) -> tuple[str, str, bytes, bytes]:
        items = b",".join(
            b'{"question":%d,"choices":[%d]}' % (q, choices[(n + worker + i) % len(choices)])
            for i, (q, choices) in enumerate(questions)
        )
        return "PUT", path, b'{"answers":[' + items + b"]}", headers[worker]

    before = web_cpu_seconds()
    result = asyncio.run(
        client.run_load(fixture.target, concurrency=concurrency, make_request=save, duration=120, max_requests=requests)
    )
    spent = web_cpu_seconds() - before
    return {
        "saves": result.ok,
        "errors": result.errors,
        "web_cpu_ms_per_save": round(1000 * spent / result.ok, 3) if result.ok else None,
    }


def store_cpu_per_save(*, batch: int, saves: int, blocks: int = 6) -> dict[str, Any]:
    """This process's CPU milliseconds per `CassandraAnswerStore.save` of `batch` answers, with the history row
    and without, alternating blocks of `saves` saves: the part of a request that the history can change, and
    one that a loaded machine blurs far less than throughput (the rest of the request is the same code)."""
    import random
    import time
    from datetime import UTC, datetime

    from core.answers.store import SaveOrigin, build_answer_store

    stores = {flag: build_answer_store("cassandra") for flag in (False, True)}
    for flag, store in stores.items():
        store.keep_history = flag  # type: ignore[attr-defined]
    origin = SaveOrigin(client_ip="127.0.0.1", user_agent="Mozilla/5.0 (X11; Linux x86_64) bench/history_cost")
    exam_id = random.randrange(1, 2**62)
    spent = {False: 0.0, True: 0.0}
    try:
        for block in range(blocks):
            for flag in (False, True) if block % 2 == 0 else (True, False):
                store = stores[flag]
                started = time.process_time()
                for n in range(saves):
                    answers = [(q, [q * 4 + n % 4]) for q in range(batch)]
                    store.save(
                        exam_id=exam_id, student_id=n % 64, answers=answers, saved_at=datetime.now(UTC), origin=origin
                    )
                spent[flag] += time.process_time() - started
    finally:
        for store in stores.values():
            store.close()
    off, on = (1000 * spent[flag] / (saves * blocks) for flag in (False, True))
    return {"store_cpu_ms_off": round(off, 3), "store_cpu_ms_on": round(on, 3), "extra_ms": round(on - off, 3)}


def history_length() -> int:
    """How many events the first bench student has in the history of the fixture's exam."""
    from core.answers.store import build_answer_store

    fixture = seeding.answers_fixture(client.DEFAULT_BASE_URL, students=reporting.env_int("BENCH_CONCURRENCY", 64))
    store = build_answer_store("cassandra")
    try:
        return len(store.history(exam_id=fixture.exam.exam_id, student_id=fixture.student_ids[0]))
    finally:
        store.close()


def main() -> int:
    seeding.django_setup()
    pinning = client.pin_generator()
    rounds = max(1, reporting.env_int("BENCH_HISTORY_ROUNDS", 2))
    os.environ.setdefault("BENCH_ROUNDS", "1")
    order = [setting for r in range(rounds) for setting in ((False, True) if r % 2 == 0 else (True, False))]
    runs: list[dict[str, Any]] = []
    store_cpu = {
        "1_answer": store_cpu_per_save(batch=1, saves=300),
        "100_answers": store_cpu_per_save(batch=100, saves=30),
    }
    print(f"answer store CPU per save in this process, without and with the history: {store_cpu}", flush=True)
    restart_web(history=True)
    before = history_length()  # also makes the fixture (exam, students, attempts) once for every run
    for history in order:
        restart_web(history=history)
        b1, b2 = b1_answers.run(), b2_answers.run()
        cpu1 = cpu_per_save(batch=1, requests=reporting.env_int("BENCH_HISTORY_CPU_SAVES", 3000))
        cpu100 = cpu_per_save(batch=100, requests=reporting.env_int("BENCH_HISTORY_CPU_SAVES", 3000) // 10)
        after = history_length()
        took = after > before if history else after == before
        before = after
        runs.append(
            {
                "history": history,
                "switch_took": took,
                "B1": _short(b1),
                "B2": _short(b2),
                "cpu_1_answer": cpu1,
                "cpu_100_answers": cpu100,
            }
        )
        print(
            f"history {'on ' if history else 'off'}: B1 ratio {b1['ratio']} ({b1['figure']} answers/s), "
            f"B2 ratio {b2['ratio']} ({b2['figure']} answers/s); web CPU per save: "
            f"{cpu1['web_cpu_ms_per_save']} ms (1 answer), {cpu100['web_cpu_ms_per_save']} ms (100 answers); "
            f"switch took: {took}",
            flush=True,
        )
    restart_web(history=True)  # leave the stack as it should run

    summary: dict[str, Any] = {}
    for bench in ("B1", "B2"):
        on = [r[bench]["ratio"] for r in runs if r["history"]]
        off = [r[bench]["ratio"] for r in runs if not r["history"]]
        mean_on, mean_off = sum(on) / len(on), sum(off) / len(off)
        summary[bench] = {
            "ratio_off": round(mean_off, 3),
            "ratio_on": round(mean_on, 3),
            "cost": round(1 - mean_on / mean_off, 3) if mean_off else None,
        }
    for name in ("cpu_1_answer", "cpu_100_answers"):
        on = [r[name]["web_cpu_ms_per_save"] for r in runs if r["history"]]
        off = [r[name]["web_cpu_ms_per_save"] for r in runs if not r["history"]]
        mean_on, mean_off = sum(on) / len(on), sum(off) / len(off)
        summary[name] = {
            "web_cpu_ms_off": round(mean_off, 3),
            "web_cpu_ms_on": round(mean_on, 3),
            "cost": round(mean_on / mean_off - 1, 3),
        }
    summary["store_cpu"] = store_cpu
    for name, cpu in (("1_answer", "cpu_1_answer"), ("100_answers", "cpu_100_answers")):
        # The history's share of a request: its extra store CPU over the web CPU of a request without it.
        summary[cpu]["store_share"] = round(store_cpu[name]["extra_ms"] / summary[cpu]["web_cpu_ms_off"], 3)
    result = {
        "runs": runs,
        "summary": summary,
        "cpu_sharing": pinning,
        "commit": reporting.git_commit(),
        "all_switches_took": all(r["switch_took"] for r in runs),
    }
    path = BENCH_DIR / "results" / "history_cost.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    for bench in ("B1", "B2"):
        row = summary[bench]
        print(f"{bench}: ratio without history {row['ratio_off']}, with {row['ratio_on']}: cost {row['cost']:.1%}")
    for name in ("cpu_1_answer", "cpu_100_answers"):
        row = summary[name]
        off, on = row["web_cpu_ms_off"], row["web_cpu_ms_on"]
        print(
            f"{name}: web CPU {off} ms per save without the history, {on} with: {row['cost']:+.1%}; "
            f"the history's store CPU is {row['store_share']:.1%} of a request"
        )
    print(f"{pinning}. Written to {path.relative_to(REPO)}.")
    return 0 if result["all_switches_took"] else 1


def _short(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("figure", "floor", "ratio", "p50_ms", "p99_ms", "errors")
    return {k: row.get(k) for k in keys}


if __name__ == "__main__":
    sys.exit(main())
