"""Run every benchmark of docs/benchmarks.md that exists (bench/b1_*.py ... bench/b7_*.py), in order, each against
its floor; print a table and write bench/results/latest.json.

    .venv/bin/python bench/run.py            # all of them (make bench starts the stack first)
    .venv/bin/python bench/run.py B1 B3      # only those

A benchmark that fails is reported as a failed row; the others still run. The generator (this process and its
threads) is pinned to one CPU, the same one every run (bench/client.py: GENERATOR_CPU).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for entry in (str(REPO), str(BENCH_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench import client, reporting  # noqa: E402

COLUMNS = (
    ("id", 3),
    ("what", 44),
    ("figure", 10),
    ("floor", 10),
    ("ratio", 6),
    ("target", 30),
    ("met", 4),
    ("errors", 6),
    ("p50 ms", 8),
    ("p99 ms", 8),
    ("peak RSS MB", 11),
)


def discover() -> list[str]:
    """Module names bench.b1_* ... bench.b8_*, in order (one per number; the first name wins)."""
    found = []
    for number in range(1, 9):
        names = sorted(p.stem for p in BENCH_DIR.glob(f"b{number}_*.py"))
        if names:
            found.append(f"bench.{names[0]}")
    return found


def run_one(module_name: str) -> dict[str, Any]:
    short = module_name.split(".")[-1].split("_")[0].upper()
    started = time.monotonic()
    try:
        module = importlib.import_module(module_name)
        row = dict(module.run())
    except BaseException as exc:  # one failure is a row of the table, not the end of the run
        if isinstance(exc, KeyboardInterrupt):
            raise
        traceback.print_exc()
        row = {
            "id": short,
            "what": f"{module_name} failed",
            "met": False,
            "error": f"{type(exc).__name__}: {exc}",
        }
    row.setdefault("id", short)
    row["wall_seconds"] = round(time.monotonic() - started, 1)
    return row


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,d}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    keys = ("id", "what", "figure", "floor", "ratio", "target", "met", "errors", "p50_ms", "p99_ms", "peak_rss_mb")
    values = [[cell(row.get(k)) for k in keys] for row in rows]
    widths = [max([w, len(title), *(len(v[i]) for v in values)]) for i, (title, w) in enumerate(COLUMNS)]
    widths[1] = min(widths[1], 60)
    widths[5] = min(widths[5], 40)

    def line(cells: list[str]) -> str:
        out = []
        for i, text in enumerate(cells):
            text = text if len(text) <= widths[i] else text[: widths[i] - 1] + "…"
            out.append(text.ljust(widths[i]) if i in (0, 1, 5, 6) else text.rjust(widths[i]))
        return " | ".join(out)

    lines = [line([t for t, _ in COLUMNS]), "-+-".join("-" * w for w in widths)]
    lines += [line(v) for v in values]
    for row in rows:
        if row.get("error"):
            failed = "" if str(row["error"]).startswith("skipped") else "FAILED: "
            lines.append(f"{row['id']}: {failed}{row['error']}")
        elif row.get("notes"):
            lines.append(f"{row['id']}: {row['notes']}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    os.chdir(REPO)
    # `make bench` must finish within 10 minutes on 2 cores, `make up` included: benchmarks can read the time
    # left with reporting.seconds_left(), and one that would start after the deadline is skipped (and says so).
    budget = float(os.environ.get("BENCH_BUDGET_SECONDS", "570"))
    os.environ["BENCH_DEADLINE"] = str(time.time() + budget)
    pinning = client.pin_generator()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    wanted = {a.upper() for a in argv}
    modules = [m for m in discover() if not wanted or m.split(".")[-1].split("_")[0].upper() in wanted]
    print(f"benchmarks: {', '.join(modules) or 'none found'}; {pinning}", flush=True)
    started = time.monotonic()
    rows = []
    for name in modules:
        print(f"\n== {name} ==", flush=True)
        if reporting.seconds_left() <= 0:
            short = name.split(".")[-1].split("_")[0].upper()
            row = {
                "id": short,
                "what": f"{name} skipped",
                "met": False,
                "wall_seconds": 0.0,
                "error": f"skipped: the run's time budget ({budget:.0f} s, BENCH_BUDGET_SECONDS) was spent",
            }
            rows.append(row)
            print(f"   {row['error']}", flush=True)
            continue
        row = run_one(name)
        rows.append(row)
        print(
            f"   {row['id']}: figure={cell(row.get('figure'))} floor={cell(row.get('floor'))} "
            f"ratio={cell(row.get('ratio'))} met={cell(row.get('met'))} ({row['wall_seconds']} s)",
            flush=True,
        )
    total = round(time.monotonic() - started, 1)
    path = reporting.write_results(
        rows,
        extra={
            "cpu_sharing": pinning,
            "base_url": client.DEFAULT_BASE_URL,
            "total_seconds": total,
            "budget_seconds": budget,
            "load_average_at_start": load_at_start,
        },
    )
    print()
    print(table(rows))
    over = " (OVER the time budget)" if total > budget else ""
    print(f"\nLoad average (1, 5, 15 min) at start {load_at_start}, at end {[round(x, 2) for x in os.getloadavg()]}.")
    print(f"{pinning}. Total {total} s of a {budget:.0f} s budget{over}. Written to {path.relative_to(REPO)}.")
    return 0 if rows and all(not r.get("error") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
