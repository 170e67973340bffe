"""B2: answer saves in batches of 100.

PUT /api/exams/{id}/answers with 100 answers per request, otherwise as B1 (64 students, own tokens, through
Nginx). Floor: raw upserts of the same rows (same keyspace, table, columns, USING TIMESTAMP, consistency)
with cassandra-driver, one prepared statement, execute_concurrent_with_args, from this one process.
Target: answers/s / floor answers/s >= 0.5.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

try:
    from bench import common
except ImportError:  # run as a script from bench/
    import common  # type: ignore[no-redef]

ID = "B2"
WHAT = "Answer saves, 100 answers/request, 64 students, via Nginx"
TARGET_RATIO = 0.5
BATCH = 100


def driver_floor(fixture: common.AnswersFixture, *, seconds: float, warmup: float, concurrency: int) -> dict[str, Any]:
    """Upsert the rows B2 writes, straight through cassandra-driver, for `seconds`; returns rows/s."""
    common.django_setup()
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.concurrent import execute_concurrent_with_args
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
    from django.conf import settings

    from core.answers.cassandra import AnswerRow

    conf = settings.CASSANDRA
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=conf.get("LOCAL_DC") or None)),
        consistency_level=ConsistencyLevel.name_to_value[conf["CONSISTENCY"]],
        request_timeout=float(conf["REQUEST_TIMEOUT"]),
    )
    cluster = Cluster(
        contact_points=conf["HOSTS"],
        port=conf["PORT"],
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=float(conf["CONNECT_TIMEOUT"]),
    )
    try:
        session = cluster.connect()
        statement = session.prepare(
            AnswerRow.insert_cql(
                conf["KEYSPACE"],
                columns=("exam_id", "student_id", "question_id", "choice_ids", "saved_at"),
                using_timestamp=True,
            )
        )
        statement.is_idempotent = True
        exam_id = fixture.exam.exam_id
        questions = list(fixture.exam.questions.items())

        def rows(round_no: int) -> list[tuple[Any, ...]]:
            # One round = every student saves every question once, as one B2 request per student does.
            saved_at = datetime.now(UTC)
            micros = int(saved_at.timestamp() * 1_000_000)
            return [
                (exam_id, student, q, frozenset({choices[(round_no + w + i) % len(choices)]}), saved_at, micros)
                for w, student in enumerate(fixture.student_ids)
                for i, (q, choices) in enumerate(questions)
            ]

        def drive(duration: float) -> tuple[int, float]:
            written = 0
            round_no = 0
            started = time.perf_counter()
            while time.perf_counter() - started < duration:
                params = rows(round_no)
                execute_concurrent_with_args(
                    session, statement, params, concurrency=concurrency, raise_on_first_error=True
                )
                written += len(params)
                round_no += 1
            return written, time.perf_counter() - started

        drive(warmup)
        written, elapsed = drive(seconds)
    finally:
        cluster.shutdown()
    return {
        "rows": written,
        "seconds": round(elapsed, 2),
        "rows_per_s": written / elapsed,
        "concurrency": concurrency,
        "consistency": conf["CONSISTENCY"],
        "connection_class": Cluster.connection_class.__name__,
    }


def run() -> dict[str, Any]:
    seconds = common.env_float("BENCH_B2_SECONDS", 20.0)
    warmup = common.env_float("BENCH_WARMUP_SECONDS", 3.0)
    max_requests = common.env_int("BENCH_B2_MAX_REQUESTS", 100_000)
    concurrency = common.env_int("BENCH_CONCURRENCY", 64)
    driver_concurrency = common.env_int("BENCH_B2_DRIVER_CONCURRENCY", 128)
    fixture = common.answers_fixture(common.DEFAULT_BASE_URL, students=concurrency)
    target = fixture.target
    questions = list(fixture.exam.questions.items())
    if len(questions) < BATCH:
        raise RuntimeError(f"B2 needs an exam with {BATCH} questions, got {len(questions)}")
    questions = questions[:BATCH]

    floor = driver_floor(fixture, seconds=seconds, warmup=warmup, concurrency=driver_concurrency)

    path = f"/api/exams/{fixture.exam.exam_id}/answers"
    headers = [common.auth_headers(token, json_body=True) for token in fixture.tokens]

    def save_batch(worker: int, n: int) -> tuple[str, str, bytes, bytes]:
        items = b",".join(
            b'{"question":%d,"choices":[%d]}' % (q, choices[(n + worker + i) % len(choices)])
            for i, (q, choices) in enumerate(questions)
        )
        return "PUT", path, b'{"answers":[' + items + b"]}", headers[worker]

    saves = asyncio.run(
        common.run_load(
            target,
            concurrency=concurrency,
            make_request=save_batch,
            duration=seconds,
            max_requests=max_requests,
            warmup=warmup,
        )
    )

    figure = saves.ok * BATCH / saves.elapsed if saves.elapsed else 0.0
    floor_rate = floor["rows_per_s"]
    ratio = figure / floor_rate if floor_rate else 0.0
    return {
        "id": ID,
        "what": WHAT,
        "figure": round(figure, 1),
        "unit": "answers/s",
        "floor": round(floor_rate, 1),
        "floor_unit": "answers/s, raw prepared upserts via execute_concurrent",
        "ratio": round(ratio, 3),
        "target": f"ratio >= {TARGET_RATIO}",
        "met": ratio >= TARGET_RATIO,
        "p50_ms": common.ms(saves.p(50)),
        "p99_ms": common.ms(saves.p(99)),
        "errors": saves.errors,
        "requests_per_s": round(saves.ok_rps, 1),
        "saves": saves.summary(),
        "floor_run": {**floor, "rows_per_s": round(floor_rate, 1)},
        "notes": (
            f"{concurrency} students x {BATCH} answers/request, {seconds:.0f} s each side after {warmup:.0f} s "
            f"warm-up; floor from one process at driver concurrency {driver_concurrency}, "
            f"consistency {floor['consistency']}"
        ),
    }


if __name__ == "__main__":
    import json

    common.pin_generator()
    print(json.dumps(run(), indent=2))
