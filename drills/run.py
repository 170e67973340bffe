"""Failure drills against the running stack of `make up` (loopback only; bounded; every fault healed).

    .venv/bin/python -m drills.run                  # all six drills (make drills)
    .venv/bin/python -m drills.run --ci             # the reduced set for CI: web, cassandra, redis, smaller loads
    .venv/bin/python -m drills.run --only postgres redis --json drills.json

Prints one table: per drill, the saves acknowledged, refused (a non-2xx answer) and unanswered, the
acknowledged saves lost, the refused batches found half-applied, and the recovery time. Exits non-zero when a
drill failed. docs/drills.md explains each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

os.environ.setdefault("ANSWER_STORE", "cassandra")

from bench import client, seeding  # noqa: E402
from drills import cluster, drills, nemesis  # noqa: E402


def _fmt(value: object) -> str:
    return "-" if value is None else str(value)


def print_table(results: list[drills.DrillResult]) -> None:
    print()
    head = (
        f"{'drill':<10} {'result':<6} {'saves':>6} {'acked':>6} {'refused':>7} {'no-resp':>7} {'lost':>5} "
        f"{'half':>5} {'down s':>7} {'1st ok s':>8} {'rate s':>7} {'took s':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        rec = r.recovery
        first_ok = rec.get("first_ok_s", rec.get("job_done_s"))
        rate = rec.get("throughput_s", rec.get("redelivered_s"))
        if r.kind == "job":
            saves = f"{'-':>6} {'-':>6} {'-':>7} {'-':>7} {r.lost:>5} {'-':>5}"
        else:
            saves = f"{r.requests:>6} {r.acknowledged:>6} {r.refused:>7} {r.unknown:>7} {r.lost:>5} {r.half_applied:>5}"
        print(
            f"{r.name:<10} {'ok' if r.ok else 'FAIL':<6} {saves} {_fmt(r.fault_seconds):>7} {_fmt(first_ok):>8} "
            f"{_fmt(rate):>7} {r.seconds:>7}"
        )
    print()
    for r in results:
        print(f"{r.name}: {r.fault}")
        print(f"  statuses {r.statuses}; recovery {r.recovery}")
        if r.probe:
            print(f"  probe GET /api/exams: {r.probe}")
        if r.timeline:
            t = r.timeline
            print(f"  fault at {t['fault_at_s'][0]} s, healed at {t['healed_at_s'][0]} s")
            print(f"  2xx per s    {' '.join(map(str, t['ok_per_s']))}")
            print(f"  failed per s {' '.join(map(str, t['failed_per_s']))}")
        if r.refused:
            print(
                f"  refused batches: {r.refused_checked} of 2+ answers checkable, {r.refused_landed} found wholly "
                "applied (allowed)"
            )
        for note in r.notes:
            print(f"  {note}")
        for sample in r.samples:
            print(f"  sample {sample}")
        if r.error:
            print(f"  ERROR {r.error}")
    print(
        "\nsaves: PUT /answers requests; acked: 2xx; refused: a non-2xx answer; no-resp: no answer (timeout, reset);"
        "\nlost: acknowledged answers missing from the store or older there (worker: degrees missing, wrong or"
        " doubled);\nhalf: refused batches half-applied;"
        "\ndown s: fault to healed (server ready again); 1st ok s: heal to the first 2xx of a save sent after it"
        " (worker: kill to job done);\nrate s: heal to the first second at 80 % of the pre-fault rate"
        " (worker: kill to redelivery)."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default=client.DEFAULT_BASE_URL, help="loopback only (default %(default)s)")
    parser.add_argument("--ci", action="store_true", help="the reduced set with smaller loads")
    parser.add_argument(
        "--cluster", action="store_true", help="the drills of a three-node Cassandra cluster (CASSANDRA_NODES=3)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=[*drills.DRILLS, *cluster.CLUSTER_DRILLS], help="run only these drills"
    )
    parser.add_argument("--students", type=int, help="students of each load drill")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    client.loopback_target(args.base_url)  # refuse before anything else
    shape = cluster.CLUSTER if args.cluster else drills.CI if args.ci else drills.FULL
    if args.students:
        shape.students = args.students
    if args.cluster:
        names = args.only or list(cluster.CLUSTER_DRILLS)
    else:
        names = args.only or (list(drills.CI_DRILLS) if args.ci else list(drills.DRILLS))
    seeding.django_setup()
    if args.cluster and cluster.node_count() < 3:
        parser.error("--cluster needs the stack of CASSANDRA_NODES=3 make up (CASSANDRA_NODES=3 in the environment)")
    every = {**drills.DRILLS, **cluster.CLUSTER_DRILLS}

    # A SIGTERM (a CI timeout) unwinds like Ctrl-C, so that the nemeses' `finally` heal what they broke.
    def _terminate(signum: int, frame: object) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    results = []
    for name in names:
        results.append(every[name](shape, args.base_url))
        if len(names) > 1:  # each drill's figures as soon as it ends, so a run cut short keeps them
            print_table(results[-1:])
        if args.json:
            Path(args.json).write_text(json.dumps({"results": [asdict(r) for r in results]}, indent=2) + "\n")
    took = time.monotonic() - started
    print_table(results)
    print(f"\n{len(results)} drills in {took:.0f} s; services now:\n{nemesis.status()}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"seconds": round(took, 1), "results": [asdict(r) for r in results]}, indent=2) + "\n"
        )
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
