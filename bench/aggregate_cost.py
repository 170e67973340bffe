"""The aggregate's fixed cost: GET /results/{id}/aggregate for tests of 100, 10,000 and 100,000 results, on
several running web servers in the same run (say, the code before a change and after it), calls interleaved.

    scripts/secrets.sh .venv/bin/python bench/aggregate_cost.py \\
        before=http://127.0.0.1:8511 after=http://127.0.0.1:8512 nginx=http://127.0.0.1:8580

Each server gets the same calls in turn (one keep-alive connection each, with an API key of the tests' owner),
and beside them the floor: the aggregate's one SQL statement run directly with psycopg. Reported: the median
and p90 of BENCH_AGGREGATE_CALLS calls (default 200) per size and server, and the ratio to the floor (B5's for
100,000). Results go to bench/results/aggregate_cost.json.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from bench import b5_aggregate, client, reporting, seeding  # noqa: E402

SIZES = (100, 10_000, 100_000)


def test_id(size: int) -> str:
    return b5_aggregate.TEST_ID if size == b5_aggregate.DEGREES else f"B5-AGGREGATE-{size}"


def main(argv: list[str]) -> int:
    servers = dict(arg.split("=", 1) for arg in argv)
    if not servers:
        print(__doc__)
        return 2
    for url in servers.values():
        client.loopback_target(url)
    seeding.django_setup()
    from django.utils import timezone

    from core.accounts.services import api_key_create

    calls = reporting.env_int("BENCH_AGGREGATE_CALLS", 200)
    doctor = None
    for size in SIZES:
        doctor = b5_aggregate.ensure_data(test_id=test_id(size), degrees=size)
    statements = {size: b5_aggregate.floor_statement(doctor, test_id(size)) for size in SIZES}
    key, raw_key = api_key_create(user=doctor, name="bench aggregate cost")
    database = b5_aggregate.floor_connection()
    connections = {}
    for name, url in servers.items():
        target = client.loopback_target(url)
        connections[name] = http.client.HTTPConnection(target.host, target.port, timeout=60)
    times: dict[str, dict[int, list[float]]] = {name: {size: [] for size in SIZES} for name in [*servers, "floor"]}
    try:
        for size in SIZES:
            path = f"/results/{test_id(size)}/aggregate"
            for call in range(calls + 5):  # the first 5 warm caches and connections, unmeasured
                started = time.perf_counter()
                database.execute(statements[size]).fetchone()
                if call >= 5:
                    times["floor"][size].append(time.perf_counter() - started)
                for name, connection in connections.items():
                    started = time.perf_counter()
                    connection.request("GET", path, headers={"X-API-Key": raw_key})
                    response = connection.getresponse()
                    body = response.read()
                    elapsed = time.perf_counter() - started
                    if response.status != 200 or json.loads(body)["count"] != size:
                        raise RuntimeError(f"{name} GET {path}: HTTP {response.status}: {body[:300]!r}")
                    if call >= 5:
                        times[name][size].append(elapsed)
    finally:
        for connection in connections.values():
            connection.close()
        database.close()
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    rows: dict[str, Any] = {}
    for name, by_size in times.items():
        rows[name] = {}
        for size, values in by_size.items():
            median = statistics.median(values)
            floor = statistics.median(times["floor"][size])
            rows[name][size] = {
                "median_ms": round(median * 1000, 3),
                "p90_ms": round(reporting.percentile(values, 90) * 1000, 3),  # type: ignore[operator]
                "ratio_to_floor": round(median / floor, 2),
            }
            print(
                f"{name:>8} {size:>7,} results: median {median * 1000:7.3f} ms, "
                f"p90 {rows[name][size]['p90_ms']:7.3f} ms, ratio to the SQL {median / floor:5.2f}",
                flush=True,
            )
    document = {
        "servers": servers,
        "calls": calls,
        "results": rows,
        "commit": reporting.git_commit(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    path = reporting.RESULTS_DIR / "aggregate_cost.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"load average {document['load_average_at_end']}. Written to {path.relative_to(REPO)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
