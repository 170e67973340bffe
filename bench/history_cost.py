"""What the save history costs: B1 and B2 with ANSWER_HISTORY off and on, in the same run, against a running
`make up` stack whose web instances this script restarts (scripts/services.sh stop web / start web) with each
setting. Off and on alternate (off, on, on, off, ...), so that a noisy neighbour hurts both alike; each B1 and B2
run measures its own floor, and the cost is 1 - (ratio with history) / (ratio without).

    make up && ANSWER_STORE=cassandra .venv/bin/python bench/history_cost.py      # BENCH_HISTORY_ROUNDS=2

Throughput on a shared 2-core machine swings with the neighbours' load, so it also measures what the load
cannot blur much: the CPU seconds the stack spends per acknowledged save, over a fixed number of saves of 1
answer (as B1) and of 100 answers (as B2): every gunicorn process, Nginx, and the Cassandra JVM (utime + stime
from /proc), each counted apart. On 2 cores the throughput follows that total.

Before the web runs, in this process: the answer store's own save with and without the history row (this
process's CPU and the Cassandra JVM's, per save), and the history row's possible encodings compared on a
scratch keyspace (BENCH_HISTORY_ENCODING_SAVES=0 skips it).

It checks that the switch took: a run with the history grows the first student's history, one without does
not. Results go to bench/results/history_cost.json. See docs/decisions/0011-save-history.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for entry in (str(REPO), str(BENCH_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench import b1_answers, b2_answers, client, processes, reporting, seeding  # noqa: E402

UP_ENV = {"ANSWER_STORE": "cassandra", "FILE_STORAGE": "s3", "DEBUG": "false"}
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) bench/history_cost"


def restart_web(*, history: bool) -> None:
    env = {**os.environ, **UP_ENV, "ANSWER_HISTORY": "true" if history else "false"}
    services = str(REPO / "scripts" / "services.sh")
    subprocess.run([services, "stop", "web"], cwd=REPO, env=env, check=True, capture_output=True)
    subprocess.run([services, "start", "web"], cwd=REPO, env=env, check=True, capture_output=True)
    client.wait_http(f"{client.DEFAULT_BASE_URL}/health", 60)


# --- CPU seconds of the stack's processes (bench/processes.py) -----------------------------------------


def stack_pids() -> dict[str, list[int]]:
    """This stack's processes by part: every gunicorn master and worker, Nginx's master and workers, and the
    Cassandra JVM (all its threads: requests, compaction, flushes, GC)."""
    return processes.processes("web", "nginx", "cassandra")


def stack_cpu_seconds() -> dict[str, float]:
    return processes.cpu_by_part(stack_pids())


def cpu_per_save(*, batch: int, requests: int, concurrency: int = 16) -> dict[str, Any]:
    """CPU milliseconds per acknowledged save of `batch` answers through the stack, over `requests` saves: the
    web instances, Nginx and Cassandra each, and their total."""
    fixture = seeding.answers_fixture(client.DEFAULT_BASE_URL, students=reporting.env_int("BENCH_CONCURRENCY", 64))
    save = _saver(batch)
    before = stack_cpu_seconds()
    result = asyncio.run(
        client.run_load(fixture.target, concurrency=concurrency, make_request=save, duration=120, max_requests=requests)
    )
    after = stack_cpu_seconds()
    row: dict[str, Any] = {"saves": result.ok, "errors": result.errors, "saves_per_s": round(result.ok_rps, 1)}
    for part in before:
        row[f"{part}_cpu_ms_per_save"] = (
            round(1000 * (after[part] - before[part]) / result.ok, 3) if result.ok else None
        )
    row["stack_cpu_ms_per_save"] = (
        round(1000 * sum(after[p] - before[p] for p in before) / result.ok, 3) if result.ok else None
    )
    return row


# --- both settings at once: two extra web instances, one with the history and one without ------------------


def _saver(batch: int) -> Callable[[int, int], tuple[str, str, bytes, bytes]]:
    """Requests of the bench fixture: PUT a save of `batch` answers, one student per concurrent worker."""
    fixture = seeding.answers_fixture(client.DEFAULT_BASE_URL, students=reporting.env_int("BENCH_CONCURRENCY", 64))
    questions = list(fixture.exam.questions.items())[:batch]
    path = f"/api/exams/{fixture.exam.exam_id}/answers"
    headers = [client.auth_headers(token, json_body=True) for token in fixture.tokens]

    def save(worker: int, n: int) -> tuple[str, str, bytes, bytes]:
        items = b",".join(
            b'{"question":%d,"choices":[%d]}' % (q, choices[(n + worker + i) % len(choices)])
            for i, (q, choices) in enumerate(questions)
        )
        return "PUT", path, b'{"answers":[' + items + b"]}", headers[worker % len(headers)]

    return save


def start_instance(port: int, *, history: bool) -> int:
    """One more gunicorn instance of this stack (scripts/services.sh, its own port and program) with the
    history on or off; returns its master's pid."""
    env = {
        **os.environ,
        **UP_ENV,
        "ANSWER_HISTORY": "true" if history else "false",
        "WEB_BASE_PORT": str(port),
        "WEB_INSTANCES": "1",
    }
    subprocess.run([str(REPO / "scripts" / "services.sh"), "start", "web"], cwd=REPO, env=env, check=True)
    return processes.web_master(port)


def stop_instance(pid: int) -> None:
    import signal

    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def paired_instances(*, blocks: int, saves_1: int, saves_100: int, concurrency: int = 16) -> dict[str, Any]:
    """Both settings warm at the same time, in two extra web instances (history on, history off), each sent
    saves straight (no Nginx, which does the same work either way), in short alternating blocks: CPU per save
    of the instance and of the Cassandra JVM, and saves/s, block by block. A neighbour's burst then hurts
    both settings within seconds of each other, which restarts between long runs could not give."""
    base = int(os.environ.get("WEB_BASE_PORT", "8001")) + 50
    ports = {False: base, True: base + 1}
    masters: dict[bool, int] = {}
    rows: dict[str, Any] = {}
    switch_took: dict[str, bool] = {}
    try:
        for flag, port in ports.items():
            masters[flag] = start_instance(port, history=flag)
        jvm = stack_pids()["cassandra"]
        for batch, saves in ((1, saves_1), (100, saves_100)):
            save = _saver(batch)
            targets = {flag: client.loopback_target(f"http://127.0.0.1:{port}") for flag, port in ports.items()}
            blocks_of: dict[bool, list[dict[str, float]]] = {False: [], True: []}
            for flag in (False, True):  # warm both, and check that the switch took: only "on" grows the history
                before = history_length()
                asyncio.run(
                    client.run_load(
                        targets[flag], concurrency=concurrency, make_request=save, duration=30, max_requests=saves // 2
                    )
                )
                after = history_length()
                switch_took[f"{batch}_{'on' if flag else 'off'}"] = after > before if flag else after == before
            for block in range(blocks):
                for flag in (False, True) if block % 2 == 0 else (True, False):
                    web = processes.tree(masters[flag])
                    web0, jvm0 = processes.cpu_seconds(web), processes.cpu_seconds(jvm)
                    result = asyncio.run(
                        client.run_load(
                            targets[flag], concurrency=concurrency, make_request=save, duration=60, max_requests=saves
                        )
                    )
                    web1, jvm1 = processes.cpu_seconds(web), processes.cpu_seconds(jvm)
                    blocks_of[flag].append(
                        {
                            "saves": result.ok,
                            "errors": result.errors,
                            "seconds": result.elapsed,
                            "web_cpu": web1 - web0,
                            "cassandra_cpu": jvm1 - jvm0,
                            "load": os.getloadavg()[0],
                        }
                    )
            rows[f"{batch}_answer{'s' if batch > 1 else ''}"] = _paired_summary(blocks_of)
            print(f"paired, {batch} answer(s) per save: {list(rows.values())[-1]}", flush=True)
    finally:
        for pid in masters.values():
            stop_instance(pid)
    rows["switch_took"] = switch_took
    print(f"paired: the switch took: {switch_took}", flush=True)
    return rows


def _paired_summary(blocks_of: dict[bool, list[dict[str, float]]]) -> dict[str, Any]:
    def per_save(rows: list[dict[str, float]], key: str) -> float:
        saves = sum(r["saves"] for r in rows)
        return 1000 * sum(r[key] for r in rows) / saves if saves else 0.0

    def rate(rows: list[dict[str, float]]) -> float:
        seconds = sum(r["seconds"] for r in rows)
        return sum(r["saves"] for r in rows) / seconds if seconds else 0.0

    out: dict[str, Any] = {
        "blocks": len(blocks_of[True]),
        "errors": sum(r["errors"] for b in blocks_of.values() for r in b),
    }
    for key in ("web_cpu", "cassandra_cpu"):
        off, on = per_save(blocks_of[False], key), per_save(blocks_of[True], key)
        out[f"{key}_ms_off"], out[f"{key}_ms_on"] = round(off, 3), round(on, 3)
    off = out["web_cpu_ms_off"] + out["cassandra_cpu_ms_off"]
    on = out["web_cpu_ms_on"] + out["cassandra_cpu_ms_on"]
    out["cpu_ms_off"], out["cpu_ms_on"] = round(off, 3), round(on, 3)
    out["cpu_cost"] = round(on / off - 1, 3) if off else None
    pair_costs = []
    for a, b in zip(blocks_of[False], blocks_of[True], strict=True):
        cpu_a = (a["web_cpu"] + a["cassandra_cpu"]) / a["saves"] if a["saves"] else 0
        cpu_b = (b["web_cpu"] + b["cassandra_cpu"]) / b["saves"] if b["saves"] else 0
        if cpu_a:
            pair_costs.append(cpu_b / cpu_a - 1)
    out["cpu_cost_median_of_pairs"] = round(statistics.median(pair_costs), 3) if pair_costs else None
    if len(pair_costs) > 1:
        out["cpu_cost_quartiles_of_pairs"] = [round(q, 3) for q in statistics.quantiles(pair_costs, n=4)]
    off_rate, on_rate = rate(blocks_of[False]), rate(blocks_of[True])
    out["saves_per_s_off"], out["saves_per_s_on"] = round(off_rate, 1), round(on_rate, 1)
    out["throughput_cost"] = round(1 - on_rate / off_rate, 3) if off_rate else None
    rate_costs = [
        1 - (b["saves"] / b["seconds"]) / (a["saves"] / a["seconds"])
        for a, b in zip(blocks_of[False], blocks_of[True], strict=True)
        if a["saves"] and b["seconds"]
    ]
    out["throughput_cost_median_of_pairs"] = round(statistics.median(rate_costs), 3) if rate_costs else None
    loads = [r["load"] for b in blocks_of.values() for r in b]
    out["load_average_1min"] = [round(min(loads), 2), round(max(loads), 2)]
    return out


# --- in this process: the store's save, and the history row's encodings ----------------------------------


def _alternate(
    variants: dict[str, Callable[[int], None]], *, saves: int, blocks: int, threads: int = 8
) -> dict[str, dict[str, float]]:
    """Run each variant's save(n) `saves` times per block from `threads` threads, the variants in an order that
    rotates from block to block; returns per variant this process's CPU, the Cassandra JVM's CPU and the wall
    time, in milliseconds per save."""
    import threading

    jvm = stack_pids()["cassandra"]
    totals = {name: [0.0, 0.0, 0.0] for name in variants}
    names = list(variants)
    for name in names:  # warm every statement and connection first
        for n in range(20):
            variants[name](n)
    for block in range(blocks):
        shift = block % len(names)
        order = names[shift:] + names[:shift]
        if block % 2:
            order.reverse()
        for name in order:
            save = variants[name]
            counter = iter(range(saves))
            lock = threading.Lock()

            def work(save: Callable[[int], None] = save, counter: Any = counter, lock: Any = lock) -> None:
                while True:
                    with lock:
                        n = next(counter, None)
                    if n is None:
                        return
                    save(n)

            client, server, wall = time.process_time(), processes.cpu_seconds(jvm), time.perf_counter()
            workers = [threading.Thread(target=work) for _ in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            total = totals[name]
            total[0] += time.process_time() - client
            total[1] += processes.cpu_seconds(jvm) - server
            total[2] += time.perf_counter() - wall
    count = saves * blocks
    return {
        name: {
            "client_cpu_ms": round(1000 * c / count, 3),
            "cassandra_cpu_ms": round(1000 * j / count, 3),
            "cpu_ms": round(1000 * (c + j) / count, 3),
            "wall_ms": round(1000 * w / count, 3),
        }
        for name, (c, j, w) in totals.items()
    }


def _answers(batch: int, n: int) -> list[tuple[int, list[int]]]:
    return [(q, [q * 4 + (n + q) % 4]) for q in range(1, batch + 1)]


def store_cpu_per_save(*, batch: int, saves: int, blocks: int = 6) -> dict[str, Any]:
    """`CassandraAnswerStore.save` of `batch` answers with the history row and without, alternating blocks of
    `saves` saves: this process's CPU and the Cassandra JVM's, per save. The only code the switch changes; the
    rest of a request is the same either way."""
    import random
    from datetime import UTC, datetime

    from core.answers.store import SaveOrigin, build_answer_store

    stores = {flag: build_answer_store("cassandra") for flag in (False, True)}
    for flag, store in stores.items():
        store.keep_history = flag  # type: ignore[attr-defined]
    origin = SaveOrigin(client_ip="127.0.0.1", user_agent=UA)
    exam_id = random.randrange(1, 2**62)

    def saver(flag: bool) -> Callable[[int], None]:
        def save(n: int) -> None:
            stores[flag].save(
                exam_id=exam_id,
                student_id=n % 64,
                answers=_answers(batch, n),
                saved_at=datetime.now(UTC),
                origin=origin,
            )

        return save

    try:
        measured = _alternate({"off": saver(False), "on": saver(True)}, saves=saves, blocks=blocks)
    finally:
        for store in stores.values():
            store.close()
    off, on = measured["off"], measured["on"]
    return {
        "off": off,
        "on": on,
        "extra_client_ms": round(on["client_cpu_ms"] - off["client_cpu_ms"], 3),
        "extra_cassandra_ms": round(on["cassandra_cpu_ms"] - off["cassandra_cpu_ms"], 3),
        "extra_ms": round(on["cpu_ms"] - off["cpu_ms"], 3),
    }


# The history row's items, encoded as each candidate would store them. `latest` maps question id to choice ids.
ENCODINGS: dict[str, tuple[str, Callable[[dict[int, frozenset[int]]], Any]]] = {
    "json_text": (
        "text",
        lambda latest: json.dumps([[q, sorted(c)] for q, c in latest.items()], separators=(",", ":")),
    ),
    "typed_list": ("frozen<list<frozen<tuple<bigint, frozen<set<bigint>>>>>>", lambda latest: list(latest.items())),
    "json_blob": (
        "blob",
        lambda latest: json.dumps([[q, sorted(c)] for q, c in latest.items()], separators=(",", ":")).encode(),
    ),
    "zlib_json_blob": (
        "blob",
        lambda latest: zlib.compress(
            json.dumps([[q, sorted(c)] for q, c in latest.items()], separators=(",", ":")).encode(), 1
        ),
    ),
}


def encoding_costs(*, batch: int = 100, saves: int = 150, blocks: int = 10) -> dict[str, Any]:
    """The one-batch save (the answers' upserts and a history row) with each candidate encoding of the row's
    items, and without a history row, on scratch tables of the answers' shape in a scratch keyspace (dropped
    afterwards): this process's CPU (encoding and the driver's serialization) and the Cassandra JVM's
    (validation, the commit log, the memtable), per save."""
    import random
    import uuid
    from datetime import UTC, datetime

    from core.answers.cassandra import AnswerRow, connection_from_settings, micros

    keyspace = f"{answers_keyspace()}_history_probe"
    connection = connection_from_settings(keyspace=keyspace)
    session = connection.session()
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        timeout=60,
    )
    session.execute(AnswerRow.create_cql(keyspace), timeout=60)
    columns = "(exam_id, student_id, saved_us, save_id, items, client_ip, user_agent)"
    for name, (cql_type, _) in ENCODINGS.items():
        session.execute(
            f"CREATE TABLE IF NOT EXISTS {keyspace}.saves_{name} (exam_id bigint, student_id bigint, saved_us bigint, "
            f"save_id uuid, items {cql_type}, client_ip text, user_agent text, "
            "PRIMARY KEY ((exam_id, student_id), saved_us, save_id))",
            timeout=60,
        )
    session.cluster.control_connection.wait_for_schema_agreement()
    upsert = AnswerRow.insert_cql(
        keyspace, columns=("exam_id", "student_id", "question_id", "choice_ids", "saved_at"), using_timestamp=True
    )
    exam_id = random.randrange(1, 2**62)
    sizes: dict[str, int] = {}

    def saver(name: str | None) -> Callable[[int], None]:
        def save(n: int) -> None:
            saved_at = datetime.now(UTC)
            write_time = micros(saved_at)
            latest = {q: frozenset(c) for q, c in _answers(batch, n)}
            student = n % 64
            statements: list[tuple[str, tuple[Any, ...]]] = [
                (upsert, (exam_id, student, q, c, saved_at, write_time)) for q, c in latest.items()
            ]
            if name is not None:
                items = ENCODINGS[name][1](latest)
                sizes[name] = len(items) if isinstance(items, str | bytes) else -1
                statements.append(
                    (
                        f"INSERT INTO {keyspace}.saves_{name} {columns} VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (exam_id, student, write_time, uuid.uuid4(), items, "127.0.0.1", UA),
                    )
                )
            connection.execute_batch(statements, idempotent=True)

        return save

    try:
        variants = {"no_history": saver(None), **{name: saver(name) for name in ENCODINGS}}
        measured = _alternate(variants, saves=saves, blocks=blocks)
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)
        connection.close()
    base = measured["no_history"]
    for name, row in measured.items():
        row["extra_cpu_ms"] = round(row["cpu_ms"] - base["cpu_ms"], 3)
        row["extra_cassandra_cpu_ms"] = round(row["cassandra_cpu_ms"] - base["cassandra_cpu_ms"], 3)
        if name in sizes:
            row["items_bytes"] = sizes[name]
    return measured


def answers_keyspace() -> str:
    from django.conf import settings

    return str(settings.CASSANDRA["KEYSPACE"])


def history_length() -> int:
    """How many events the first bench student has in the history of the fixture's exam."""
    from core.answers.store import build_answer_store

    fixture = seeding.answers_fixture(client.DEFAULT_BASE_URL, students=reporting.env_int("BENCH_CONCURRENCY", 64))
    store = build_answer_store("cassandra")
    try:
        return len(store.history(exam_id=fixture.exam.exam_id, student_id=fixture.student_ids[0]))
    finally:
        store.close()


# --- the run -------------------------------------------------------------------------------------------


def _costs(runs: list[dict[str, Any]], value: Callable[[dict[str, Any]], float], *, higher_is_better: bool) -> dict:
    """Mean without and with the history, the cost of the means, and the cost within each adjacent off/on
    pair (the order off, on, on, off, ... makes runs 0-1, 2-3, ... pairs run one after the other)."""
    off = [value(r) or 0.0 for r in runs if not r["history"]]
    on = [value(r) or 0.0 for r in runs if r["history"]]
    mean_off, mean_on = statistics.fmean(off), statistics.fmean(on)

    def cost(without: float, with_: float) -> float | None:
        if not without:
            return None
        return 1 - with_ / without if higher_is_better else with_ / without - 1

    pairs = []
    for first, second in zip(runs[::2], runs[1::2], strict=False):
        without, with_ = (first, second) if not first["history"] else (second, first)
        pair = cost(value(without) or 0.0, value(with_) or 0.0)
        if pair is not None:
            pairs.append(round(pair, 3))
    mean = cost(mean_off, mean_on)
    return {
        "off": round(mean_off, 3),
        "on": round(mean_on, 3),
        "cost": None if mean is None else round(mean, 3),
        "cost_per_pair": pairs,
        "cost_median_of_pairs": round(statistics.median(pairs), 3) if pairs else None,
    }


def summarize(runs: list[dict[str, Any]], store_cpu: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for bench in ("B1", "B2"):
        summary[f"{bench}_ratio"] = _costs(runs, lambda r, b=bench: r[b]["ratio"], higher_is_better=True)
        summary[f"{bench}_answers_per_s"] = _costs(runs, lambda r, b=bench: r[b]["figure"], higher_is_better=True)
    for name in ("cpu_1_answer", "cpu_100_answers"):
        for part in ("stack", "web", "cassandra", "nginx"):
            summary[f"{name}_{part}_ms"] = _costs(
                runs, lambda r, n=name, p=part: r[n][f"{p}_cpu_ms_per_save"], higher_is_better=False
            )
    summary["store_cpu"] = store_cpu
    for name, cpu in (("1_answer", "cpu_1_answer"), ("100_answers", "cpu_100_answers")):
        # The history's share of a request: its extra CPU in the store's save (client and Cassandra) over the
        # stack's CPU per save without it.
        stack_off = summary[f"{cpu}_stack_ms"]["off"]
        summary[f"{cpu}_store_share"] = round(store_cpu[name]["extra_ms"] / stack_off, 3) if stack_off else None
    return summary


def main() -> int:
    seeding.django_setup()
    pinning = client.pin_generator()
    rounds = max(0, reporting.env_int("BENCH_HISTORY_ROUNDS", 2))  # 0: only the paired instances
    os.environ.setdefault("BENCH_ROUNDS", "1")
    order = [setting for r in range(rounds) for setting in ((False, True) if r % 2 == 0 else (True, False))]
    load: dict[str, Any] = {"start": [round(x, 2) for x in os.getloadavg()]}
    encoding_saves = reporting.env_int("BENCH_HISTORY_ENCODING_SAVES", 150)  # per block of 10; 0 skips them
    encodings = encoding_costs(saves=encoding_saves) if encoding_saves else None
    if encodings:
        for name, row in encodings.items():
            print(f"encoding {name}: {row}", flush=True)
    store_saves = reporting.env_int("BENCH_HISTORY_STORE_SAVES", 200)  # per block of 6, a fifth of it for 100 answers
    store_cpu = {
        "1_answer": store_cpu_per_save(batch=1, saves=store_saves),
        "100_answers": store_cpu_per_save(batch=100, saves=max(1, store_saves // 5)),
    }
    print(f"answer store's save per save in this process, without and with the history: {store_cpu}", flush=True)
    paired_blocks = reporting.env_int("BENCH_HISTORY_PAIRED_BLOCKS", 20)  # 0 skips them
    paired = (
        paired_instances(
            blocks=paired_blocks,
            saves_1=reporting.env_int("BENCH_HISTORY_PAIRED_SAVES", 100) * 4,
            saves_100=reporting.env_int("BENCH_HISTORY_PAIRED_SAVES", 100),
        )
        if paired_blocks
        else None
    )
    restart_web(history=True)
    before = history_length()  # also makes the fixture (exam, students, attempts) once for every run
    runs: list[dict[str, Any]] = []
    # A whole run stays under BENCH_HISTORY_BUDGET seconds (the lock's ~10 minutes): no new off/on pair starts
    # unless two more settings, as long as the slowest so far, still fit.
    budget, started, slowest = reporting.env_float("BENCH_HISTORY_BUDGET", 540.0), time.monotonic(), 0.0
    for history in order:
        if len(runs) % 2 == 0 and runs and time.monotonic() - started + 2 * slowest > budget:
            print(f"stopping after {len(runs)} settings: the budget of {budget:.0f} s", flush=True)
            break
        setting_started = time.monotonic()
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
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "B1": _short(b1),
                "B2": _short(b2),
                "cpu_1_answer": cpu1,
                "cpu_100_answers": cpu100,
            }
        )
        print(
            f"history {'on ' if history else 'off'}: B1 ratio {b1['ratio']} ({b1['figure']} answers/s), "
            f"B2 ratio {b2['ratio']} ({b2['figure']} answers/s, floor {b2['floor']}); CPU per save through the "
            f"stack: {cpu1['stack_cpu_ms_per_save']} ms (1 answer: web {cpu1['web_cpu_ms_per_save']}, "
            f"Cassandra {cpu1['cassandra_cpu_ms_per_save']}), {cpu100['stack_cpu_ms_per_save']} ms (100 answers: "
            f"web {cpu100['web_cpu_ms_per_save']}, Cassandra {cpu100['cassandra_cpu_ms_per_save']}); "
            f"load {os.getloadavg()[0]:.1f}; switch took: {took}",
            flush=True,
        )
        slowest = max(slowest, time.monotonic() - setting_started)
    restart_web(history=True)  # leave the stack as it should run
    load["end"] = [round(x, 2) for x in os.getloadavg()]
    load["during_runs"] = [r["load_average"][0] for r in runs]

    summary = summarize(runs, store_cpu) if runs else {}
    result = {
        "paired_instances": paired,
        "runs": runs,
        "summary": summary,
        "encodings": encodings,
        "load_average": load,
        "cpu_sharing": pinning,
        "commit": reporting.git_commit(),
        "all_switches_took": all(r["switch_took"] for r in runs)
        and all((paired or {}).get("switch_took", {}).values()),
    }
    path = BENCH_DIR / "results" / "history_cost.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    for key, row in summary.items():
        if isinstance(row, dict) and row.get("cost") is not None:
            print(
                f"{key}: without the history {row['off']}, with {row['on']}: cost {row['cost']:+.1%} "
                f"(pairs: {', '.join(f'{c:+.1%}' for c in row['cost_per_pair'])})"
            )
    for cpu in ("cpu_1_answer", "cpu_100_answers") if summary else ():
        print(
            f"{cpu}: the history's extra CPU in the store's save over the stack's CPU per save: "
            f"{summary[f'{cpu}_store_share']}"
        )
    print(f"load average {load}. {pinning}. Written to {path.relative_to(REPO)}.")
    return 0 if result["all_switches_took"] else 1


def _short(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("figure", "floor", "ratio", "p50_ms", "p99_ms", "errors")
    return {k: row.get(k) for k in keys}


if __name__ == "__main__":
    sys.exit(main())
