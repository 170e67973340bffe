"""Failure drills on the three-node Cassandra cluster (`CASSANDRA_NODES=3 make up`, then `make drills-cluster`).

Each drill runs the drills' exam load (drills/load.py: students saving batches through Nginx) while a node is
killed, two nodes are killed, every node is restarted in turn, or a node is frozen; then reads every student's
answers back with the driver at consistency ALL (every replica answers, the newest write wins) and checks every
acknowledged save against it. The node drill also checks that the restarted node caught up by hints and that,
after `nodetool repair`, a repair preview finds the three replicas in sync. docs/drills.md has the figures.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

from drills import nemesis
from drills.drills import DrillResult, Shape, load_drill
from loadgen import ACK, Load

# Small: the machine has 2 cores for three JVMs, the web tier, the load and everybody else's work.
# The load stops once the fault is healed and the save rate is back; max_seconds only caps it, and is large
# because a node that restarts while the machine is busy may take minutes to start (seen: 2 to 4 minutes at a load
# average of 19).
# 60 questions: each (student, question) has 63 distinct values (drills/load.py), which 30 students would use up
# in about 6 minutes on 30 questions, less than a drill that restarts two nodes on a busy machine may last.
CLUSTER = Shape(
    students=30, questions=60, think_ms=500.0, fault_after=5.0, settle=6.0, settle_max=25.0, max_seconds=420.0
)
NODETOOL = nemesis.REPO / "scripts" / "nodetool.sh"


def node_count() -> int:
    from django.conf import settings

    return int(settings.CASSANDRA_NODES)


def keyspace() -> str:
    from django.conf import settings

    return str(settings.CASSANDRA["KEYSPACE"])


def node_pid(node: int) -> int:
    pid = nemesis.pids_of("cassandra").get(f"cassandra-node{node}")
    if not nemesis.alive(pid):
        raise RuntimeError(f"cassandra-node{node} is not running (services.sh pid cassandra)")
    assert pid is not None
    return pid


def nodetool(*args: str, node: int | None = None, timeout: float = 240.0) -> str:
    """scripts/nodetool.sh [-n node] args; the output (raises when it fails)."""
    command = [str(NODETOOL), *(["-n", str(node)] if node else []), *args]
    out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=_env())  # noqa: S603
    if out.returncode != 0:
        raise RuntimeError(f"nodetool {' '.join(args)}: rc {out.returncode}: {(out.stdout + out.stderr)[-800:]}")
    return out.stdout


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SERVICES_LOCKED"}
    env["CASSANDRA_NODES"] = str(node_count())
    env.update(extra)
    return env


def node_start(node: int) -> None:
    """services.sh start cassandra for that node alone (it waits until the node answers CQL)."""
    env = _env(CASSANDRA_NODE=str(node), CASSANDRA_START_TIMEOUT=os.environ.get("CASSANDRA_START_TIMEOUT", "400"))
    nemesis.services("start", "cassandra", env=env, timeout=420)


def node_stop(node: int) -> None:
    nemesis.services("stop", "cassandra", env=_env(CASSANDRA_NODE=str(node)), timeout=120)


def ring_wait(*, up: int, seconds: float = 240.0, views: list[int] | None = None) -> None:
    """Until the ring shows `up` nodes Up and Normal: as the first node that answers sees it, or, with `views`, as
    each of these nodes sees it (a coordinator that still sees a restarted replica as down counts one replica
    less for LOCAL_QUORUM)."""
    deadline = time.monotonic() + seconds
    seen = ""
    pending = list(views) if views else [0]
    while time.monotonic() < deadline:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            seen = nodetool("status", node=pending[0] or None, timeout=60)
            if len(re.findall(r"^UN ", seen, re.M)) >= up:
                pending.pop(0)
                if not pending:
                    return
                continue
        time.sleep(2.0)
    raise RuntimeError(f"fewer than {up} nodes Up and Normal after {seconds:.0f} s:\n{seen}")


# --- the faults ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def kill_nodes(nodes: list[int], times: nemesis.Times) -> Iterator[None]:
    """kill -9 these nodes at once; on leaving, start them again one after another and wait for the ring."""
    victims = [node_pid(n) for n in nodes]
    try:
        nemesis.signal_all(victims, signal.SIGKILL)
        times.fault = time.monotonic()
        nemesis.log(f"kill -9 cassandra-node{nodes}: pids {victims}")
        yield
    finally:
        times.heal_started = time.monotonic()
        for n in nodes:
            node_start(n)
        ring_wait(up=node_count())
        times.healed = time.monotonic()


@contextlib.contextmanager
def freeze_node(node: int, times: nemesis.Times) -> Iterator[None]:
    """SIGSTOP the node (slow, not dead: its sockets stay open and gossip takes a while to notice); SIGCONT on
    leaving."""
    pid = node_pid(node)
    try:
        os.kill(pid, signal.SIGSTOP)
        times.fault = time.monotonic()
        nemesis.log(f"SIGSTOP cassandra-node{node} (pid {pid})")
        yield
    finally:
        times.heal_started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        nemesis.log(f"SIGCONT cassandra-node{node}")
        times.healed = time.monotonic()


@contextlib.contextmanager
def rolling_restart(times: nemesis.Times) -> Iterator[None]:
    """Every node in turn: `nodetool drain` (flushes, stops taking writes), stop, start, and wait until the ring
    shows every node Up and Normal again before the next one. The whole round is the fault."""
    times.fault = time.monotonic()
    try:
        for n in range(1, node_count() + 1):
            began = time.monotonic()
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                nodetool("drain", node=n, timeout=120)
            drained = time.monotonic()
            node_stop(n)
            stopped = time.monotonic()
            node_start(n)
            started = time.monotonic()
            ring_wait(up=node_count(), views=list(range(1, node_count() + 1)))
            step = (
                f"cassandra-node{n}: drain {drained - began:.0f} s, stop {stopped - drained:.0f} s, "
                f"start {started - stopped:.0f} s, ring {time.monotonic() - started:.0f} s "
                f"(load average {os.getloadavg()[0]:.1f})"
            )
            times.notes.append(step)
            nemesis.log(step)
        yield
    finally:
        times.heal_started = times.healed = time.monotonic()


# --- the check: hints, ALL, repair ------------------------------------------------------------------------


def hints_wait(result: DrillResult, *, seconds: float = 120.0) -> None:
    """Until no live node holds hints for another (the restarted node caught up by hinted handoff)."""
    started = time.monotonic()
    pending: list[int] = []
    while time.monotonic() - started < seconds:
        pending = []
        for n in range(1, node_count() + 1):
            out = nodetool("listpendinghints", node=n, timeout=60)
            if "does not have any pending hints" not in out:
                pending.append(n)
        if not pending:
            result.notes.append(f"hints: none pending on any node {time.monotonic() - started:.0f} s after the load")
            return
        time.sleep(3.0)
    result.notes.append(f"hints: still pending on nodes {pending} after {seconds:.0f} s")
    result.ok = False


def repair_preview(result: DrillResult, when: str) -> bool:
    """`nodetool repair --preview --full` of the answers table: True when the replicas are in sync."""
    out = nodetool("repair", "--preview", "--full", keyspace(), "answers", timeout=300)
    in_sync = "Previewed data was in sync" in out
    summary = "in sync" if in_sync else " ".join(out.split()[-30:])
    result.notes.append(f"repair preview {when}: {summary}")
    return in_sync


def read_back_all(load: Load, result: DrillResult) -> tuple[dict[int, dict[int, tuple[int, ...]]], int]:
    """Every student's answers read with the driver at consistency ALL (3 tries each): index -> question ->
    choices. A read at ALL needs every replica, so it runs once the ring is whole again."""
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    from bench.b3_grading import driver_session

    ring_wait(up=node_count())
    cluster, session, conf = driver_session()
    statement = SimpleStatement(
        f"SELECT question_id, choice_ids FROM {conf['KEYSPACE']}.answers WHERE exam_id = %s AND student_id = %s",  # noqa: S608 - the configured keyspace
        consistency_level=ConsistencyLevel.ALL,
    )
    stored: dict[int, dict[int, tuple[int, ...]]] = {}
    errors = 0
    try:
        for index, student_id in enumerate(load.fx.student_ids):
            for attempt in range(3):
                try:
                    rows = session.execute(statement, (load.fx.exam_id, student_id), timeout=20)
                except Exception as exc:
                    if attempt == 2:
                        errors += 1
                        result.notes.append(f"read at ALL of student {student_id} failed: {exc}")
                    time.sleep(1.0)
                    continue
                stored[index] = {q: tuple(sorted(choices or ())) for q, choices in rows}
                break
    finally:
        cluster.shutdown()
    result.notes.append(f"read back at ALL: {len(stored)} students, {errors} failed")
    return stored, errors


def _latency_note(load: Load, times: nemesis.Times, result: DrillResult) -> list[float]:
    if times.fault is None or times.heal_started is None:
        return []
    during = sorted(s.done - s.sent for s in load.sends if times.fault <= s.sent < times.heal_started and s.done)
    if during:
        p = lambda q: during[min(len(during) - 1, int(q * len(during)))]  # noqa: E731
        result.notes.append(
            f"{len(during)} saves sent during the fault: p50 {p(0.5) * 1000:.0f} ms, p99 {p(0.99) * 1000:.0f} ms, "
            f"max {during[-1] * 1000:.0f} ms"
        )
    return during


def _no_refusal(load: Load, times: nemesis.Times, result: DrillResult) -> None:
    if result.refused or result.unknown:
        result.ok = False
        result.notes.append(f"{result.refused} refused and {result.unknown} unanswered saves: expected none")
    _latency_note(load, times, result)


def _no_refusal_quiet(result: DrillResult) -> None:
    if result.refused or result.unknown:
        result.ok = False
        result.notes.append(f"{result.refused} refused and {result.unknown} unanswered saves: expected none")


# --- the drills ---------------------------------------------------------------------------------------------


def drill_node(shape: Shape, base_url: str) -> DrillResult:
    def check(load: Load, times: nemesis.Times, result: DrillResult) -> None:
        _no_refusal(load, times, result)
        nodetool("repair", "--full", keyspace(), "answers", node=2, timeout=600)
        if not repair_preview(result, "after nodetool repair"):
            result.ok = False

    def read_back(load: Load, result: DrillResult) -> tuple[dict[int, dict[int, tuple[int, ...]]], int]:
        hints_wait(result)
        repair_preview(result, "after hints, before repair")  # reported: hints alone should be enough
        return read_back_all(load, result)

    return load_drill(
        "node-kill",
        "kill -9 of cassandra-node2 under load, restarted after 10 s (hints), then nodetool repair",
        lambda t: kill_nodes([2], t),
        hold=10.0,
        shape=shape,
        base_url=base_url,
        extra_check=check,
        read_back=read_back,
    )


def drill_two_nodes(shape: Shape, base_url: str) -> DrillResult:
    def check(load: Load, times: nemesis.Times, result: DrillResult) -> None:
        # With two of three replicas gone no write can reach LOCAL_QUORUM: every save sent once both were dead
        # and answered before they came back must be refused with a 503 (a 2xx would be a lie, a 500 a bug).
        if times.fault is None or times.heal_started is None:
            return
        down = [s for s in load.sends if s.sent >= times.fault and s.done and s.done <= times.heal_started]
        codes: dict[str, int] = {}
        for s in down:
            codes[str(s.status or "no_response")] = codes.get(str(s.status or "no_response"), 0) + 1
        acked = sum(1 for s in down if s.outcome == ACK)
        others = sum(n for code, n in codes.items() if code != "503")
        result.notes.append(f"{len(down)} saves while two nodes were down: {acked} got 2xx; statuses {codes}")
        if others or not down:
            result.ok = False
        _latency_note(load, times, result)

    return load_drill(
        "two-nodes",
        "kill -9 of cassandra-node2 and -node3 for 10 s, then both started again (the web tier is not restarted)",
        lambda t: kill_nodes([2, 3], t),
        hold=10.0,
        shape=shape,
        base_url=base_url,
        extra_check=check,
        read_back=read_back_all,
    )


def drill_rolling(shape: Shape, base_url: str) -> DrillResult:
    # 100 questions (about 19 minutes of distinct values): three restarts on a busy machine take up to 10 minutes.
    rolling = Shape(**{**shape.__dict__, "questions": 100, "max_seconds": 1200.0, "settle": 5.0})
    return load_drill(
        "rolling",
        "rolling restart of every node (drain, stop, start, wait for the ring) under load",
        rolling_restart,
        hold=0.0,
        shape=rolling,
        base_url=base_url,
        extra_check=_no_refusal,
        read_back=read_back_all,
    )


def drill_freeze(shape: Shape, base_url: str) -> DrillResult:
    def check(load: Load, times: nemesis.Times, result: DrillResult) -> None:
        _no_refusal_quiet(result)
        from django.conf import settings

        during = _latency_note(load, times, result)
        bound = float(settings.CASSANDRA["DEADLINE"])
        if during and during[-1] > bound + 1.0:
            result.ok = False
            result.notes.append(f"a save took {during[-1]:.1f} s, more than the deadline {bound} s + 1 s")

    return load_drill(
        "node-freeze",
        "cassandra-node3 frozen with SIGSTOP for 15 s under load, then SIGCONT",
        lambda t: freeze_node(3, t),
        hold=15.0,
        shape=shape,
        base_url=base_url,
        extra_check=check,
        read_back=read_back_all,
    )


CLUSTER_DRILLS: dict[str, Any] = {
    "node-kill": drill_node,
    "two-nodes": drill_two_nodes,
    "node-freeze": drill_freeze,
    "rolling": drill_rolling,
}
