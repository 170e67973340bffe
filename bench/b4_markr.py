"""B4: Markr import, synchronous.

POST /import of a generated 10,000-record document (20 <answer> elements per result, like the canonical
sample; about 17 MB) against a running server at BENCH_BASE_URL, with an API key (BENCH_API_KEY, or one made
here for a benchmark doctor through the ORM). Each repetition imports into a fresh test id (a new paper exam)
for the same 10,000 students, who are created by an unmeasured warm-up import, so every measured import does
the same work: parse, check, create one exam, insert 10,000 degrees.

Floor: parsing the same bytes with lxml `iterparse` and doing nothing else, in this process.
Target: median import time / median floor time <= 4.0.

Run: .venv/bin/python bench/b4_markr.py   (env: BENCH_BASE_URL, BENCH_API_KEY, BENCH_B4_REPS, BENCH_B4_RECORDS)
"""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lxml import etree

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from bench import client, reporting, seeding  # noqa: E402

ID = "B4"
WHAT = "Markr import, 10,000 records, synchronous"
TARGET_RATIO = 4.0
SEED = 4
BENCH_DOCTOR = "bench-markr@bench.example.com"


def build_document(test_id: str, *, records: int, seed: int = SEED) -> bytes:
    """A deterministic Markr document: `records` students, one result each, 20 answers per result."""
    rng = random.Random(seed)
    parts = ['<?xml version="1.0" encoding="UTF-8" ?>\n<mcq-test-results>\n']
    for n in range(records):
        awarded = [rng.random() < 0.6 for _ in range(20)]
        answers = "".join(
            f'\t\t<answer question="{q}" marks-available="1" marks-awarded="{int(a)}">{"ABCD"[rng.randrange(4)]}'
            "</answer>\n"
            for q, a in enumerate(awarded)
        )
        parts.append(
            '\t<mcq-test-result scanned-on="2017-12-04T12:12:10+11:00">\n'
            f"\t\t<first-name>First{n}</first-name>\n\t\t<last-name>Last{n}</last-name>\n"
            f"\t\t<student-number>B4{n:07d}</student-number>\n\t\t<test-id>{test_id}</test-id>\n"
            f'{answers}\t\t<summary-marks available="20" obtained="{sum(awarded)}" />\n'
            "\t</mcq-test-result>\n"
        )
    parts.append("</mcq-test-results>\n")
    return "".join(parts).encode()


def floor_seconds(body: bytes) -> float:
    started = time.perf_counter()
    for _event, _element in etree.iterparse(io.BytesIO(body)):
        pass
    return time.perf_counter() - started


def _api_key() -> tuple[str, Any]:
    """BENCH_API_KEY, or a fresh key for the benchmark doctor (revoked at the end)."""
    raw = os.environ.get("BENCH_API_KEY")
    if raw:
        return raw, None
    seeding.django_setup()
    from core.accounts.models import User
    from core.accounts.services import api_key_create, doctor_create

    doctor = User.objects.filter(email=BENCH_DOCTOR).first() or doctor_create(
        email=BENCH_DOCTOR, full_name="Benchmark Markr doctor", password="bench-markr-password-123"
    )
    key, raw = api_key_create(user=doctor, name="bench B4")
    return raw, key


def _post(connection: http.client.HTTPConnection, body: bytes, api_key: str) -> tuple[int, float, bytes]:
    headers = {"Content-Type": "text/xml+markr; charset=utf-8", "X-API-Key": api_key}
    started = time.perf_counter()
    connection.request("POST", "/import", body=body, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    return response.status, time.perf_counter() - started, payload


def _cleanup(run_prefix: str, key: Any) -> None:
    seeding.django_setup()
    from django.utils import timezone

    from core.exams.models import Exam

    Exam.objects.filter(code__startswith=run_prefix).delete()  # their degrees go with them
    if key is not None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])


def run() -> dict[str, Any]:
    base_url = os.environ.get("BENCH_BASE_URL", "http://127.0.0.1:8080")
    target = client.loopback_target(base_url)
    host, port = target.host, target.port
    reps = int(os.environ.get("BENCH_B4_REPS", "7"))
    records = int(os.environ.get("BENCH_B4_RECORDS", "10000"))
    api_key, key = _api_key()
    run_prefix = f"B4-{int(time.time())}-{os.getpid()}-"
    connection = http.client.HTTPConnection(host, port, timeout=120)
    imports: list[float] = []
    floors: list[float] = []
    try:
        status, _, payload = _post(connection, build_document(run_prefix + "warmup", records=records), api_key)
        if status != 201:
            raise RuntimeError(f"warm-up import: HTTP {status}: {payload[:300]!r}")
        for rep in range(reps):
            body = build_document(f"{run_prefix}{rep}", records=records)
            floors.append(statistics.median(floor_seconds(body) for _ in range(3)))
            status, seconds, payload = _post(connection, body, api_key)
            if status != 201 or json.loads(payload)["imported"] != records:
                raise RuntimeError(f"import {rep}: HTTP {status}: {payload[:300]!r}")
            imports.append(seconds)
    finally:
        connection.close()
        _cleanup(run_prefix, key)
    figure, floor = statistics.median(imports), statistics.median(floors)
    ratio = figure / floor
    result = {
        "id": ID,
        "what": WHAT,
        "figure": round(figure * 1000, 1),
        "floor": round(floor * 1000, 1),
        "unit": "ms per import (median)",
        "ratio": round(ratio, 2),
        "target": f"<= {TARGET_RATIO}",
        "met": ratio <= TARGET_RATIO,
        "p50_ms": round(reporting.percentile(imports, 50) * 1000, 1),
        "p99_ms": round(reporting.percentile(imports, 99) * 1000, 1),
        "repetitions": reps,
        "records": records,
        "document_bytes": len(build_document(run_prefix + "0", records=records)),
    }
    print(
        f"{ID} {WHAT}: import {result['figure']} ms, floor (iterparse) {result['floor']} ms, ratio "
        f"{result['ratio']} (target {result['target']}) {'met' if result['met'] else 'MISSED'}; "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms over {reps} imports of {result['document_bytes']} bytes",
        flush=True,
    )
    return result


if __name__ == "__main__":
    run()
