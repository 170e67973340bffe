"""Pieces of a B1 save measured in one process, against a running `make up` stack's Redis and Cassandra: CPU per
call (process time, the cassandra-driver's thread included), variants alternated in blocks, the first block of
each dropped. What is smaller than one B1 round's noise is measured here (docs/benchmarks.md, second pass).

    scripts/secrets.sh .venv/bin/python bench/b1_in_process.py middleware  # the lean road first, or last
    scripts/secrets.sh .venv/bin/python bench/b1_in_process.py store       # the driver: protocol v5 or v4
    scripts/secrets.sh .venv/bin/python bench/b1_in_process.py redis       # the save's MGET: redis-py, hiredis

`middleware` calls Django's WSGI handler directly with B1's PUTs (the students and exam of bench/seeding.py),
once with the settings' middleware and once with LeanAnswersMiddleware moved last, after every other middleware
(where the road used to start, in the view). `store` saves one answer at a time through the answer store. `redis` needs
hiredis installed in the venv. BENCH_BLOCKS (default 11) blocks of BENCH_BLOCK calls per variant.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for entry in (str(REPO), str(BENCH_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)
os.environ.update({"DJANGO_SETTINGS_MODULE": "core.settings.production", "ANSWER_STORE": "cassandra", "DEBUG": "false"})
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("FILE_STORAGE", "s3")

from bench import client, reporting, seeding  # noqa: E402

LEAN = "core.exams.hot_path.LeanAnswersMiddleware"


def middleware_variants(block: int) -> dict[str, Callable[[int], None]]:
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    fixture = seeding.answers_fixture(client.DEFAULT_BASE_URL, students=64)
    questions = list(fixture.exam.questions.items())
    path = f"/api/exams/{fixture.exam.exam_id}/answers"
    chains = {
        "lean-first": list(settings.MIDDLEWARE),
        "lean-last": [m for m in settings.MIDDLEWARE if m != LEAN] + [LEAN],
    }
    handlers = {}
    for name, chain in chains.items():
        settings.MIDDLEWARE = chain
        handlers[name] = WSGIHandler()

    def environ(n: int) -> dict[str, object]:
        student = n % len(fixture.tokens)
        question, choices = questions[(n + student * 7) % len(questions)]
        body = b'{"answers":[{"question":%d,"choices":[%d]}]}' % (question, choices[n % len(choices)])
        return {
            "REQUEST_METHOD": "PUT", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "HTTP_ACCEPT": "application/json",
            "HTTP_AUTHORIZATION": f"Bearer {fixture.tokens[student]}", "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        }  # fmt: skip

    def start_response(status: str, headers: object) -> None:
        if not status.startswith("200"):
            raise SystemExit(f"a save was refused: {status}")

    def run(handler: WSGIHandler) -> Callable[[int], None]:
        def one(n: int) -> None:
            handler(environ(n), start_response).close()

        return one

    return {name: run(handler) for name, handler in handlers.items()}


def store_variants(block: int) -> dict[str, Callable[[int], None]]:
    from core.answers.cassandra import CassandraAnswerStore
    from core.answers.store import SaveOrigin

    stores = {
        "v5": CassandraAnswerStore.from_settings(protocol_version=5),
        "v4": CassandraAnswerStore.from_settings(protocol_version=4),
        "v4-no-speculation": CassandraAnswerStore.from_settings(protocol_version=4, speculative_delay=0),
    }
    origin = SaveOrigin(client_ip="127.0.0.1", user_agent="bench")

    def run(store: CassandraAnswerStore) -> Callable[[int], None]:
        def one(n: int) -> None:
            now = datetime.now(UTC)
            store.save(exam_id=999_999, student_id=n % 64, answers=[(n % 100, [n % 4])], saved_at=now, origin=origin)

        return one

    return {name: run(store) for name, store in stores.items()}


def redis_variants(block: int) -> dict[str, Callable[[int], None]]:
    import redis
    from django.conf import settings
    from django.core.cache import cache
    from redis._parsers import _HiredisParser, _RESP3Parser

    from core.exams.hot_path import _hot_client

    keys = list(_hot_client().scan_iter(cache.make_key("*:key:*")))[:1]
    if not keys:
        raise SystemExit("no exam key in the cache: run B1 (or bench/b1_variants.py) on this stack first")
    names = [keys[0], b"absent-1", b"absent-2"]  # the save's MGET: the exam key and two small entries
    location = settings.CACHES["default"]["LOCATION"]
    location = location[0] if isinstance(location, list | tuple) else location
    clients = {
        name: redis.Redis(connection_pool=redis.ConnectionPool.from_url(location, protocol=3, parser_class=parser))
        for name, parser in (("redis-py", _RESP3Parser), ("hiredis", _HiredisParser))
    }
    return {name: (lambda n, c=c: c.mget(names)) for name, c in clients.items()}


def main(argv: list[str]) -> int:
    kinds = {"middleware": (middleware_variants, 300), "store": (store_variants, 400), "redis": (redis_variants, 2000)}
    if len(argv) != 1 or argv[0] not in kinds:
        print(__doc__)
        return 2
    make, default_block = kinds[argv[0]]
    seeding.django_setup()
    block = reporting.env_int("BENCH_BLOCK", default_block)
    blocks = max(2, reporting.env_int("BENCH_BLOCKS", 11))
    variants = make(block)
    spent: dict[str, list[float]] = {name: [] for name in variants}
    n = 0
    for b in range(blocks):
        for name in list(variants) if b % 2 == 0 else list(reversed(variants)):
            call = variants[name]
            started = time.process_time()
            for i in range(block):
                call(n + i)
            n += block
            if b:  # the first block of each warms up
                spent[name].append(1000 * (time.process_time() - started) / block)
    for name, values in spent.items():
        ordered = sorted(values)
        print(
            f"{name:>18}: {sum(values) / len(values):.3f} ms CPU per call (median {ordered[len(ordered) // 2]:.3f}; "
            f"blocks {', '.join(f'{v:.3f}' for v in values)})"
        )
    print(f"{blocks - 1} blocks of {block} per variant; load average {[round(x, 2) for x in os.getloadavg()]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
