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
    from bench import client, reporting, seeding
except ImportError:  # run as a script from bench/
    import client  # type: ignore[no-redef]
    import reporting  # type: ignore[no-redef]
    import seeding  # type: ignore[no-redef]

ID = "B2"
WHAT = "Answer saves, 100 answers/request, 64 students, via Nginx"
TARGET_RATIO = 0.5
BATCH = 100


class DriverFloor:
    """Upserts of the rows B2 writes, straight through cassandra-driver from this process: one prepared
    statement (the app's own INSERT ... USING TIMESTAMP), execute_concurrent_with_args, the app's consistency."""

    def __init__(self, fixture: seeding.AnswersFixture, *, concurrency: int) -> None:
        seeding.django_setup()
        from cassandra import ConsistencyLevel
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
        from django.conf import settings

        from core.answers.cassandra import AnswerRow

        conf = settings.CASSANDRA
        self.consistency = conf["CONSISTENCY"]
        self.concurrency = concurrency
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=conf.get("LOCAL_DC") or None)),
            consistency_level=ConsistencyLevel.name_to_value[conf["CONSISTENCY"]],
            request_timeout=float(conf["REQUEST_TIMEOUT"]),
        )
        self.cluster = Cluster(
            contact_points=conf["HOSTS"],
            port=conf["PORT"],
            protocol_version=conf.get("PROTOCOL_VERSION", 4),  # the app's own
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=float(conf["CONNECT_TIMEOUT"]),
        )
        self.connection_class = self.cluster.connection_class.__name__
        self.session = self.cluster.connect()
        self.statement = self.session.prepare(
            AnswerRow.insert_cql(
                conf["KEYSPACE"],
                columns=("exam_id", "student_id", "question_id", "choice_ids", "saved_at"),
                using_timestamp=True,
            )
        )
        self.statement.is_idempotent = True
        self.fixture = fixture
        self.questions = list(fixture.exam.questions.items())[:BATCH]
        self.round_no = 0
        self.rows = 0
        self.elapsed = 0.0

    def _params(self) -> list[tuple[Any, ...]]:
        # One round = every student saves every question once, as one B2 request per student does.
        saved_at = datetime.now(UTC)
        micros = int(saved_at.timestamp() * 1_000_000)
        exam_id, n = self.fixture.exam.exam_id, self.round_no
        self.round_no += 1
        return [
            (exam_id, student, q, frozenset({choices[(n + w + i) % len(choices)]}), saved_at, micros)
            for w, student in enumerate(self.fixture.student_ids)
            for i, (q, choices) in enumerate(self.questions)
        ]

    def drive(self, duration: float, *, measure: bool = True) -> None:
        from cassandra.concurrent import execute_concurrent_with_args

        started = time.perf_counter()
        written = 0
        while time.perf_counter() - started < duration:
            params = self._params()
            execute_concurrent_with_args(
                self.session, self.statement, params, concurrency=self.concurrency, raise_on_first_error=True
            )
            written += len(params)
        if measure:
            self.rows += written
            self.elapsed += time.perf_counter() - started

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.elapsed if self.elapsed else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "seconds": round(self.elapsed, 2),
            "rows_per_s": round(self.rows_per_s, 1),
            "concurrency": self.concurrency,
            "consistency": self.consistency,
            "connection_class": self.connection_class,
        }

    def close(self) -> None:
        self.cluster.shutdown()


def run() -> dict[str, Any]:
    seconds = reporting.env_float("BENCH_B2_SECONDS", 20.0)
    warmup = reporting.env_float("BENCH_WARMUP_SECONDS", 2.0)
    max_requests = reporting.env_int("BENCH_B2_MAX_REQUESTS", 100_000)
    concurrency = reporting.env_int("BENCH_CONCURRENCY", 64)
    driver_concurrency = reporting.env_int("BENCH_B2_DRIVER_CONCURRENCY", 128)
    rounds = max(1, reporting.env_int("BENCH_ROUNDS", 2))
    fixture = seeding.answers_fixture(client.DEFAULT_BASE_URL, students=concurrency)
    target = fixture.target
    questions = list(fixture.exam.questions.items())
    if len(questions) < BATCH:
        raise RuntimeError(f"B2 needs an exam with {BATCH} questions, got {len(questions)}")
    questions = questions[:BATCH]

    path = f"/api/exams/{fixture.exam.exam_id}/answers"
    headers = [client.auth_headers(token, json_body=True) for token in fixture.tokens]

    def save_batch(worker: int, n: int) -> tuple[str, str, bytes, bytes]:
        items = b",".join(
            b'{"question":%d,"choices":[%d]}' % (q, choices[(n + worker + i) % len(choices)])
            for i, (q, choices) in enumerate(questions)
        )
        return "PUT", path, b'{"answers":[' + items + b"]}", headers[worker]

    # The floor and the figure alternate in rounds, so that a noisy neighbour hurts both alike.
    driver = DriverFloor(fixture, concurrency=driver_concurrency)
    runs, floor_rounds = [], []
    try:
        for _ in range(rounds):
            driver.drive(warmup, measure=False)
            before = (driver.rows, driver.elapsed)
            driver.drive(seconds / rounds)
            floor_rounds.append((driver.rows - before[0]) / max(driver.elapsed - before[1], 1e-9))
            runs.append(
                asyncio.run(
                    client.run_load(
                        target,
                        concurrency=concurrency,
                        make_request=save_batch,
                        duration=seconds / rounds,
                        max_requests=max_requests // rounds,
                        warmup=warmup,
                    )
                )
            )
    finally:
        driver.close()
    saves = client.LoadResult.merge(runs)
    floor = driver.summary()

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
        # Errors make the run invalid rather than fast: an error answers quickly and is not an answer saved.
        "target": f"ratio >= {TARGET_RATIO}; 0 errors",
        "met": ratio >= TARGET_RATIO and saves.errors == 0,
        "met_detail": {"ratio": ratio >= TARGET_RATIO, "errors": saves.errors == 0},
        "p50_ms": reporting.ms(saves.p(50)),
        "p99_ms": reporting.ms(saves.p(99)),
        "errors": saves.errors,
        "requests_per_s": round(saves.ok_rps, 1),
        "per_round": [
            {"floor_answers_per_s": round(f, 1), "answers_per_s": round(r.ok * BATCH / r.elapsed, 1)}
            for f, r in zip(floor_rounds, runs, strict=True)
        ],
        "saves": saves.summary(),
        "floor_run": floor,
        "notes": (
            f"{concurrency} students x {BATCH} answers/request; {seconds:.0f} s each side in {rounds} alternating "
            f"rounds, each after {warmup:g} s warm-up; floor from one process at driver concurrency "
            f"{driver_concurrency}, "
            f"consistency {floor['consistency']}"
        ),
    }


if __name__ == "__main__":
    import json

    client.pin_generator()
    print(json.dumps(run(), indent=2))
