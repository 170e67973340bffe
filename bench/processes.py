"""The running stack's processes and what they cost, for the benchmarks that measure the servers themselves.

Every server runs under supervisord (docs/services.md), so there are no pidfiles to read: the processes come
from `scripts/services.sh pid NAME...` ("<program> <pid>" lines, e.g. `web-8001 1234`, `cassandra 999`), each
with its descendants (gunicorn's workers, Nginx's workers, PostgreSQL's backends, Celery's pool) where asked,
and their CPU seconds and peak memory from /proc. A part that has no running process is an error, not a zero:
a benchmark that finds nothing to measure must not report that it cost nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVICES = REPO / "scripts" / "services.sh"
TICKS = os.sysconf("SC_CLK_TCK")
STACK = ("web", "nginx", "cassandra", "redis", "postgres")


def part_of(program: str) -> str:
    """The service a supervised program belongs to: web-8001 -> web, worker-2 -> worker, cassandra-node1 ->
    cassandra."""
    return re.sub(r"-(node)?[0-9]+$", "", program)


def parse_pids(text: str) -> dict[str, int]:
    """`services.sh pid` output as {program: pid}."""
    programs = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].isdigit():
            programs[fields[0]] = int(fields[1])
    return programs


def program_pids(*names: str) -> dict[str, int]:
    """{program: pid} of the running programs of these services (scripts/services.sh pid; all when none)."""
    out = subprocess.run([str(SERVICES), "pid", *names], cwd=REPO, check=True, capture_output=True, text=True)
    return parse_pids(out.stdout)


def tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in task.read_text().split())
            except OSError:
                continue
    return found


def processes(*names: str, children: bool = True) -> dict[str, list[int]]:
    """The processes of each named service (each program's main process, with its descendants unless
    `children` is false), by service. Raises when a named service has none running."""
    parts: dict[str, list[int]] = {name: [] for name in names}
    for program, pid in program_pids(*names).items():
        parts.setdefault(part_of(program), []).extend(tree(pid) if children else [pid])
    missing = [name for name, pids in parts.items() if not pids]
    if missing:
        raise RuntimeError(f"no running {', '.join(missing)} under scripts/services.sh (is the stack up?)")
    return parts


def web_ports() -> list[int]:
    """The ports of the running web instances."""
    return sorted(int(program.split("-", 1)[1]) for program in program_pids("web"))


def web_master(port: int) -> int:
    """The gunicorn master's pid of the web instance on this port."""
    pid = program_pids("web").get(f"web-{port}")
    if pid is None:
        raise RuntimeError(f"no web instance on port {port} under scripts/services.sh")
    return pid


def cpu_seconds(pids: Iterable[int]) -> float:
    """user + system CPU seconds these processes have used so far (each with all its threads; one that has
    exited counts nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def cpu_by_part(parts: dict[str, list[int]]) -> dict[str, float]:
    return {part: cpu_seconds(pids) for part, pids in parts.items()}


def peak_rss_mb(pids: Iterable[int]) -> dict[int, float]:
    """Each process's high-water mark of resident memory (VmHWM, over its whole life), in MB."""
    peaks = {}
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("VmHWM:"):
                peaks[pid] = round(int(line.split()[1]) / 1024.0, 1)
    return peaks
