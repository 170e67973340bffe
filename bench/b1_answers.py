"""B1: answer saves, one answer per request.

PUT /api/exams/{id}/answers with one answer, 64 concurrent simulated students, each with its own token and
keep-alive connection, through Nginx -> 2 gunicorn instances -> Cassandra, for a bounded run.
Floor: GET / (the welcome view) through the same Nginx and gunicorn instances, same concurrency and duration.
Targets: answers/s / floor req/s >= 0.6, p99 <= 100 ms, zero errors.
"""

from __future__ import annotations

import asyncio
from typing import Any

try:
    from bench import client, reporting, seeding
except ImportError:  # run as a script from bench/
    import client  # type: ignore[no-redef]
    import reporting  # type: ignore[no-redef]
    import seeding  # type: ignore[no-redef]

ID = "B1"
WHAT = "Answer saves, 1 answer/request, 64 students, via Nginx"
TARGET_RATIO = 0.6
TARGET_P99_MS = 100.0


def run() -> dict[str, Any]:
    seconds = reporting.env_float("BENCH_B1_SECONDS", 20.0)
    warmup = reporting.env_float("BENCH_WARMUP_SECONDS", 2.0)
    max_requests = reporting.env_int("BENCH_B1_MAX_REQUESTS", 400_000)
    concurrency = reporting.env_int("BENCH_CONCURRENCY", 64)
    rounds = max(1, reporting.env_int("BENCH_ROUNDS", 2))
    fixture = seeding.answers_fixture(client.DEFAULT_BASE_URL, students=concurrency)
    target = fixture.target

    questions = list(fixture.exam.questions.items())
    path = f"/api/exams/{fixture.exam.exam_id}/answers"
    headers = [client.auth_headers(token, json_body=True) for token in fixture.tokens]

    def welcome(worker: int, n: int) -> tuple[str, str, None, bytes]:
        return "GET", "/", None, b""

    def save_one(worker: int, n: int) -> tuple[str, str, bytes, bytes]:
        question, choices = questions[(n + worker * 7) % len(questions)]
        choice = choices[(n // len(questions) + worker) % len(choices)]
        body = b'{"answers":[{"question":%d,"choices":[%d]}]}' % (question, choice)
        return "PUT", path, body, headers[worker]

    # The floor and the figure alternate in rounds, so that a noisy neighbour hurts both alike.
    floors, runs = [], []
    for _ in range(rounds):
        for make, into in ((welcome, floors), (save_one, runs)):
            into.append(
                asyncio.run(
                    client.run_load(
                        target,
                        concurrency=concurrency,
                        make_request=make,
                        duration=seconds / rounds,
                        max_requests=max_requests // rounds,
                        warmup=warmup,
                    )
                )
            )
    floor = client.LoadResult.merge(floors)
    saves = client.LoadResult.merge(runs)

    figure = saves.ok_rps  # one answer per acknowledged request
    floor_rps = floor.ok_rps
    ratio = figure / floor_rps if floor_rps else 0.0
    p99 = reporting.ms(saves.p(99))
    met_ratio = ratio >= TARGET_RATIO
    met_p99 = p99 is not None and p99 <= TARGET_P99_MS
    met_errors = saves.errors == 0
    return {
        "id": ID,
        "what": WHAT,
        "figure": round(figure, 1),
        "unit": "answers/s",
        "floor": round(floor_rps, 1),
        "floor_unit": "req/s of GET /",
        "ratio": round(ratio, 3),
        "target": f"ratio >= {TARGET_RATIO}; p99 <= {TARGET_P99_MS:.0f} ms; 0 errors",
        "met": met_ratio and met_p99 and met_errors,
        "met_detail": {"ratio": met_ratio, "p99": met_p99, "errors": met_errors},
        "p50_ms": reporting.ms(saves.p(50)),
        "p99_ms": p99,
        "errors": saves.errors,
        "floor_p50_ms": reporting.ms(floor.p(50)),
        "floor_p99_ms": reporting.ms(floor.p(99)),
        "floor_errors": floor.errors,
        "per_round": [
            {"floor_rps": round(f.ok_rps, 1), "answers_per_s": round(r.ok_rps, 1)}
            for f, r in zip(floors, runs, strict=True)
        ],
        "saves": saves.summary(),
        "floor_run": floor.summary(),
        "notes": (
            f"{concurrency} students; {seconds:.0f} s each side in {rounds} alternating rounds, each after "
            f"{warmup:g} s warm-up; "
            f"exam {fixture.exam.exam_id} with {len(questions)} questions"
        ),
    }


if __name__ == "__main__":
    import json

    client.pin_generator()
    print(json.dumps(run(), indent=2))
