"""The faults the drills inject, each healed in a `finally` so that no server is ever left frozen or stopped.

Every server is found through supervisord, which runs them for scripts/services.sh: `services.sh pid NAME`
prints each supervised process of a service (a web instance's gunicorn master as `web-<port>`, the Celery
worker as `worker`, PostgreSQL's postmaster as `postgres`). A process that is killed is started again through
scripts/services.sh with the environment the killed process had (read from /proc/<pid>/environ before the
kill), so it comes back exactly as `make up` started it (ANSWER_STORE=cassandra, FILE_STORAGE=s3, ...).

Each nemesis is a context manager: entering injects the fault, leaving heals it (whatever happened inside), and
`times` records when each happened (time.monotonic()).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVICES = REPO / "scripts" / "services.sh"


def log(message: str) -> None:
    print(f"  [nemesis {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Times:
    """When the fault went in, when healing began, and when the healed server was ready again."""

    fault: float | None = None
    heal_started: float | None = None
    healed: float | None = None
    down: float | None = None  # when a stopped server had finished stopping
    notes: list[str] = field(default_factory=list)


# --- processes -------------------------------------------------------------------------------------


def pids_of(service: str) -> dict[str, int]:
    """The running processes of a service, by supervisord program name (`services.sh pid`): e.g. every web
    instance as {"web-8001": pid, "web-8002": pid}."""
    out = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [str(SERVICES), "pid", service], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    if out.returncode != 0:
        raise RuntimeError(f"services.sh pid {service} failed: {out.stderr[-2000:]}")
    found: dict[str, int] = {}
    for line in out.stdout.splitlines():
        name, _, pid = line.partition(" ")
        if pid.strip().isdigit():
            found[name] = int(pid)
    return found


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def children(pid: int) -> list[int]:
    """Direct children of a process (from /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def environ_of(pid: int) -> dict[str, str]:
    """The environment a running process was started with."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep:
            env[name.decode(errors="replace")] = value.decode(errors="replace")
    return env


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def services(action: str, *names: str, env: dict[str, str] | None = None, timeout: float = 180.0) -> str:
    """scripts/services.sh <action> <names...>; raises when it fails."""
    started = time.monotonic()
    out = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [str(SERVICES), action, *names],
        cwd=REPO,
        env=env if env is not None else os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    took = time.monotonic() - started
    last = (out.stdout.strip().splitlines() or [""])[-1]
    log(f"services.sh {action} {' '.join(names)}: rc {out.returncode} in {took:.1f} s ({last})")
    if out.returncode != 0:
        raise RuntimeError(f"services.sh {action} {' '.join(names)} failed: {out.stderr[-2000:]}")
    return out.stdout


def _restart_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    # The lock env var of services.sh must not leak into a fresh call (it would skip the lock).
    env = {k: v for k, v in env.items() if k != "SERVICES_LOCKED"}
    env.update(extra)
    return env


# --- 1. kill -9 one gunicorn instance ---------------------------------------------------------------


@contextlib.contextmanager
def kill_web_instance(port: int, times: Times) -> Iterator[None]:
    """kill -9 the gunicorn master on `port` and every one of its workers at once; on leaving, start the
    missing instance through services.sh (`start web` starts only the instances that do not answer)."""
    running = pids_of("web")
    master = running.get(f"web-{port}")
    if not alive(master):
        raise RuntimeError(f"web-{port} is not running (services.sh pid web: {running})")
    assert master is not None
    env = environ_of(master)
    instances = len(running)
    env.setdefault("WEB_INSTANCES", str(max(instances, 2)))
    victims = [master, *descendants(master)]
    try:
        signal_all(victims, signal.SIGKILL)
        times.fault = time.monotonic()
        log(f"kill -9 web-{port}: master {master} and workers {victims[1:]}")
        yield
    finally:
        times.heal_started = time.monotonic()
        # supervisord saw the master die (it restarts nothing itself); services.sh starts that instance again
        services("start", "web", env=_restart_env(env))
        times.healed = time.monotonic()


# --- 2. stop Cassandra ------------------------------------------------------------------------------


@contextlib.contextmanager
def stop_cassandra(times: Times) -> Iterator[None]:
    """Stop Cassandra (services.sh stop: SIGTERM, the JVM drains and exits); on leaving, start it and wait
    until it answers CQL (services.sh start waits, bounded)."""
    try:
        times.fault = time.monotonic()
        services("stop", "cassandra", env=_restart_env(os.environ.copy()))
        times.down = time.monotonic()
        times.notes.append(f"stopping took {times.down - times.fault:.1f} s")
        yield
    finally:
        times.heal_started = time.monotonic()
        out = services("start", "cassandra", env=_restart_env(os.environ.copy()), timeout=300)
        if "already running" in out:
            # another session sharing this stack (make up, make test) started it during the outage
            times.notes.append("Cassandra was started again by someone else during the outage (shared stack)")
        times.healed = time.monotonic()


@contextlib.contextmanager
def freeze_cassandra(times: Times) -> Iterator[None]:
    """SIGSTOP the one Cassandra node (frozen, not stopped: its sockets stay open and nothing answers, as in a long
    GC pause); SIGCONT on leaving."""
    pid = pids_of("cassandra").get("cassandra")
    if not alive(pid):
        raise RuntimeError("cassandra is not running as one node (services.sh pid cassandra)")
    assert pid is not None
    try:
        os.kill(pid, signal.SIGSTOP)
        times.fault = time.monotonic()
        log(f"SIGSTOP cassandra (pid {pid})")
        yield
    finally:
        times.heal_started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        times.healed = time.monotonic()
        log("SIGCONT cassandra")


# --- 3. freeze PostgreSQL ---------------------------------------------------------------------------


def postmaster_pid() -> int:
    pid = pids_of("postgres").get("postgres")
    if not alive(pid):
        raise RuntimeError("postgres is not running (services.sh pid postgres)")
    assert pid is not None
    return pid


@contextlib.contextmanager
def freeze_postgres(times: Times) -> Iterator[None]:
    """SIGSTOP the postmaster first (so it forks nothing new), then every backend and helper; on leaving,
    SIGCONT all of them (listed again, children first) and the postmaster."""
    postmaster = postmaster_pid()
    frozen: list[int] = []
    try:
        os.kill(postmaster, signal.SIGSTOP)
        frozen.append(postmaster)
        kids = descendants(postmaster)
        signal_all(kids, signal.SIGSTOP)
        frozen.extend(kids)
        times.fault = time.monotonic()
        log(f"SIGSTOP postgres: postmaster {postmaster} and {len(kids)} children")
        yield
    finally:
        times.heal_started = time.monotonic()
        kids = sorted(set(descendants(postmaster)) | set(frozen[1:]))
        signal_all(kids, signal.SIGCONT)
        with contextlib.suppress(ProcessLookupError):
            os.kill(postmaster, signal.SIGCONT)
        times.healed = time.monotonic()
        log(f"SIGCONT postgres: {len(kids)} children and the postmaster")


# --- 4. kill -9 the Celery worker -------------------------------------------------------------------


def worker_pid() -> int:
    pid = pids_of("worker").get("worker")
    if not alive(pid):
        raise RuntimeError("the Celery worker is not running (services.sh pid worker)")
    assert pid is not None
    return pid


@contextlib.contextmanager
def kill_worker(times: Times, *, visibility_timeout: int | None = None) -> Iterator[dict[str, str]]:
    """kill -9 the Celery worker (main process and its pool children). On leaving, start it again with its
    own environment (plus CELERY_VISIBILITY_TIMEOUT=`visibility_timeout` if given: Redis hands an unacked
    message out again only once it is older than the visibility timeout, about 70 minutes by default; grading
    does not wait for it, its chunks are redone after their lease). Yields the worker's original environment."""
    main = worker_pid()
    env = environ_of(main)
    victims = [main, *descendants(main)]
    try:
        signal_all(victims, signal.SIGKILL)
        times.fault = time.monotonic()
        log(f"kill -9 worker: {main} and pool children {victims[1:]}")
        yield env
    finally:
        times.heal_started = time.monotonic()
        for _ in range(50):  # until every killed process is gone
            if not any(alive(p) for p in victims):
                break
            time.sleep(0.1)
        extra = {} if visibility_timeout is None else {"CELERY_VISIBILITY_TIMEOUT": str(visibility_timeout)}
        services("start", "worker", env=_restart_env(env, **extra))
        times.healed = time.monotonic()


def restore_worker(env: dict[str, str]) -> None:
    """Restart the worker (warm stop, then start) with its original environment, visibility timeout included."""
    services("stop", "worker", env=_restart_env(env))
    services("start", "worker", env=_restart_env(env))


# --- 5. restart Redis -------------------------------------------------------------------------------


@contextlib.contextmanager
def restart_redis(times: Times) -> Iterator[None]:
    """services.sh restart redis (SIGTERM, then start; the AOF keeps the broker's queues). The restart is the
    fault and its own heal: entering stops Redis, leaving starts it again, whatever happened in between."""
    try:
        times.fault = time.monotonic()
        services("stop", "redis", env=_restart_env(os.environ.copy()))
        yield
    finally:
        times.heal_started = time.monotonic()
        out = services("start", "redis", env=_restart_env(os.environ.copy()))
        if "already running" in out:
            times.notes.append("Redis was started again by someone else (shared stack)")
        times.healed = time.monotonic()


def status() -> str:
    out = subprocess.run(  # noqa: S603
        [str(SERVICES), "status"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.strip()
