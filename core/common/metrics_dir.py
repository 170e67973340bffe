"""The multiprocess folder of prometheus-client (PROMETHEUS_MULTIPROC_DIR): its upkeep, without importing the
metrics themselves (gunicorn's master uses it, and must not write values of its own)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_PID_IN_NAME = re.compile(r"_(\d+)\.db$")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pids_in(folder: Path) -> set[int]:
    pids = set()
    for entry in folder.glob("*.db"):
        found = _PID_IN_NAME.search(entry.name)
        if found:
            pids.add(int(found.group(1)))
    return pids


def metrics_dir_prepare(folder: str | os.PathLike[str]) -> bool:
    """Make the multiprocess folder ready for a process that starts. When no process that wrote there is
    alive (a stack that starts), the folder is emptied, so counters start from zero with the stack. When some
    are (one web instance restarted while the others run), it is left alone: the files of dead processes keep
    their counts, so the host's totals never go backwards. Returns True when it emptied the folder."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    if any(alive(pid) for pid in pids_in(path) if pid != os.getpid()):
        return False
    for entry in path.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return True


def process_dead(pid: int) -> None:
    """A worker of this host ended (gunicorn's child_exit, Celery's worker_process_shutdown)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
