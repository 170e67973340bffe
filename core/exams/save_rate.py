"""Saves per minute of each exam, for its dashboard, at no measurable cost to the answer-saving hot path.

An acknowledged save adds 1 to an in-process count of (exam, minute) under a lock: no I/O, well under a
microsecond (`save_rate_record`, called once by `services.answers_save` after the store accepted the save).
A daemon thread per process sends whatever was counted to Redis at most once a second, in one pipelined
round trip (INCRBY and EXPIRE per (exam, minute) key), and sends nothing when nothing was counted. Every
gunicorn worker of every web instance adds to the same keys, so the dashboard reads the exam's last minutes
with one MGET (`save_rate_read`). Counts reach Redis within about a second; a process that dies loses at most
its last second, which is good enough for a figure people watch (the answers themselves are never at stake).
Redis is reached through the hot path's process-wide client (`hot_path._hot_client`, the cache's server).
See docs/decisions/0020-saves-per-minute.md.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from datetime import UTC, datetime

from django.core.cache import cache
from redis.exceptions import RedisError

from core.exams import hot_path

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
# Long enough for any dashboard window; a key then expires on its own.
KEY_TTL_SECONDS = 2 * 60 * 60
# Counts that could not be sent (Redis down) are kept for a retry, but no older than this many minutes.
KEEP_UNSENT_MINUTES = 60

_lock = threading.Lock()
_pending: dict[tuple[int, int], int] = {}  # (exam id, minute since the epoch) -> saves not yet sent
_flusher: threading.Thread | None = None


def save_rate_name(exam_id: int, minute: int) -> str:
    return f"exams:saves:{exam_id}:{minute}"


def save_rate_record(*, exam_id: int) -> None:
    """Count one acknowledged save of this exam in this minute (in memory; the flusher sends it)."""
    bucket = (exam_id, int(time.time()) // 60)
    with _lock:
        _pending[bucket] = _pending.get(bucket, 0) + 1
    if _flusher is None:
        _flusher_start()


def save_rate_flush() -> int:
    """Send the counts of this process to Redis in one pipelined round trip; returns how many keys were sent.
    On a Redis error the counts are kept for the next flush (the recent ones only)."""
    global _pending
    with _lock:
        if not _pending:
            return 0
        sending, _pending = _pending, {}
    try:
        pipe = hot_path._hot_client().pipeline(transaction=False)
        for (exam_id, minute), count in sending.items():
            name = cache.make_key(save_rate_name(exam_id, minute))
            pipe.incrby(name, count)
            pipe.expire(name, KEY_TTL_SECONDS)
        pipe.execute()
    except RedisError:
        logger.warning("cache down: %d saves-per-minute counts kept for the next flush", len(sending))
        oldest = int(time.time()) // 60 - KEEP_UNSENT_MINUTES
        with _lock:
            for bucket, count in sending.items():
                if bucket[1] >= oldest:
                    _pending[bucket] = _pending.get(bucket, 0) + count
        return 0
    return len(sending)


def save_rate_read(*, exam_id: int, now: datetime, minutes: int = 10) -> list[tuple[datetime, int]]:
    """The exam's saves in each of the last `minutes` minutes, oldest first, the current (partial) minute last:
    one MGET, summed over every process that saved. A cache that is down reads as no saves."""
    current = int(now.timestamp()) // 60
    wanted = list(range(current - minutes + 1, current + 1))
    try:
        raws = hot_path._hot_client().mget([cache.make_key(save_rate_name(exam_id, minute)) for minute in wanted])
    except RedisError:
        logger.warning("cache down: saves per minute of exam %s not read", exam_id)
        raws = [None] * len(wanted)
    return [
        (datetime.fromtimestamp(minute * 60, tz=UTC), int(raw) if raw is not None else 0)
        for minute, raw in zip(wanted, raws, strict=True)
    ]


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        try:
            save_rate_flush()
        except Exception:  # the thread must live on; the next second tries again
            logger.exception("saves per minute: flush failed")


def _flusher_start() -> None:
    global _flusher
    with _lock:
        if _flusher is not None:
            return
        _flusher = threading.Thread(target=_flush_forever, name="save-rate-flusher", daemon=True)
        _flusher.start()


def _after_fork_in_child() -> None:
    """A forked child (a gunicorn worker) has no flusher thread and must not send its parent's counts."""
    global _lock, _pending, _flusher
    _lock, _pending, _flusher = threading.Lock(), {}, None


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(save_rate_flush)  # a worker that stops cleanly sends its last second
