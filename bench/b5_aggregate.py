"""B5: aggregate.

GET /results/{test_id}/aggregate for a test with 100,000 degrees, against a running server at BENCH_BASE_URL,
with an API key of the exam's owner (made here through the ORM). The data (100,000 students and their
degrees, deterministic marks) is bulk-loaded with SQL once and reused by later runs.

Floor: the one SQL statement that computes the same numbers (captured from the selector the view calls, so it
is exactly the view's statement), run directly with psycopg on one open connection.
Figure and floor are the medians of BENCH_B5_CALLS calls each, interleaved. Target: ratio <= 1.5.

Run: .venv/bin/python bench/b5_aggregate.py   (env: BENCH_BASE_URL, BENCH_B5_CALLS)
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
from bench import client, reporting, seeding  # noqa: E402

ID = "B5"
WHAT = "Aggregate of a test with 100,000 degrees"
TARGET_RATIO = 1.5
DEGREES = 100_000
TEST_ID = "B5-AGGREGATE-100K"
STUDENT_PREFIX = "B5S"
BENCH_DOCTOR = "bench-aggregate@bench.example.com"


def ensure_data(*, test_id: str = TEST_ID, degrees: int = DEGREES) -> Any:
    """The benchmark doctor, owning a paper exam `test_id` with exactly `degrees` degrees (of the first `degrees`
    benchmark students). Returns the doctor."""
    seeding.django_setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from core.accounts.models import Role, User
    from core.accounts.services import doctor_create, subject_get_or_create
    from core.exams.models import Exam
    from core.grading.models import Degree

    doctor = User.objects.filter(email=BENCH_DOCTOR).first() or doctor_create(
        email=BENCH_DOCTOR, full_name="Benchmark aggregate doctor", password="bench-aggregate-password-123"
    )
    exam, _ = Exam.objects.get_or_create(
        code=test_id,
        defaults={
            "title": f"B5 aggregate, {degrees:,} degrees",
            "subject": subject_get_or_create(name="Benchmarks"),
            "owner": doctor,
            "kind": Exam.Kind.PAPER,
            "status": Exam.Status.GRADED,
        },
    )
    if exam.owner_id != doctor.id:
        raise RuntimeError(f"{test_id} exists and belongs to someone else")
    if Degree.objects.filter(exam=exam).count() == degrees:
        return doctor
    user_table, degree_table = User._meta.db_table, Degree._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        Degree.objects.filter(exam=exam).delete()
        cursor.execute(
            f"""
            INSERT INTO {user_table} (password, is_superuser, role, full_name, student_number,
                                      is_active, is_staff, date_joined)
            SELECT '!', false, %s, 'Benchmark student ' || n, %s || lpad(n::text, 6, '0'), true, false, %s
            FROM generate_series(1, %s) AS n
            ON CONFLICT (student_number) DO NOTHING
            """,
            [Role.STUDENT.value, STUDENT_PREFIX, timezone.now(), degrees],
        )
        # Deterministic marks: out of 40 or 50, spread by a multiplicative hash of the student's number.
        cursor.execute(
            f"""
            INSERT INTO {degree_table} (student_id, exam_id, marks_obtained, marks_available, source, graded_at)
            SELECT u.id, %s,
                   (substr(u.student_number, 4)::bigint * 2654435761 %% 4294967296) %% (available + 1),
                   available, 'markr', %s
            FROM {user_table} u,
                 LATERAL (SELECT CASE WHEN substr(u.student_number, 4)::int %% 3 = 0 THEN 40 ELSE 50 END)
                     AS a(available)
            WHERE u.student_number LIKE %s AND length(u.student_number) = 9
              AND substr(u.student_number, 4)::int <= %s
            """,
            [exam.id, timezone.now(), STUDENT_PREFIX + "%", degrees],
        )
        cursor.execute(f"ANALYZE {degree_table}")
    count = Degree.objects.filter(exam=exam).count()
    if count != degrees:
        raise RuntimeError(f"{test_id} has {count} degrees, expected {degrees}")
    return doctor


def floor_statement(doctor: Any, test_id: str = TEST_ID) -> str:
    """The statement the view runs for this doctor, as executed (parameters inlined by psycopg)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.gradebook.selectors import test_aggregate

    test_aggregate(user=doctor, test_id=test_id)  # the first call in a process also compiles the statement
    with CaptureQueriesContext(connection) as queries:
        test_aggregate(user=doctor, test_id=test_id)
    statements = [q["sql"] for q in queries if "percentile_cont" in q["sql"]]
    if len(queries) != 1 or len(statements) != 1:
        raise RuntimeError(f"expected the aggregate to be one statement, saw {len(queries)}")
    return statements[0]


def floor_connection() -> Any:
    """A psycopg connection (autocommit) to the database of Django's settings: the floor's, beside Django's."""
    import psycopg
    from django.db import connection as django_connection

    settings = django_connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        autocommit=True,
    )


def run() -> dict[str, Any]:
    base_url = os.environ.get("BENCH_BASE_URL", "http://127.0.0.1:8080")
    target = client.loopback_target(base_url)
    host, port = target.host, target.port
    calls = int(os.environ.get("BENCH_B5_CALLS", "30"))
    doctor = ensure_data()
    from django.utils import timezone

    from core.accounts.services import api_key_create

    sql = floor_statement(doctor)
    key, raw_key = api_key_create(user=doctor, name="bench B5")
    database = floor_connection()
    connection = http.client.HTTPConnection(host, port, timeout=60)
    headers = {"X-API-Key": raw_key}
    path = f"/results/{TEST_ID}/aggregate"
    floors: list[float] = []
    figures: list[float] = []
    try:
        for call in range(calls + 3):  # the first 3 of each warm caches and connections, unmeasured
            started = time.perf_counter()
            row = database.execute(sql).fetchone()
            floor = time.perf_counter() - started
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            figure = time.perf_counter() - started
            if response.status != 200 or json.loads(body)["count"] != DEGREES or row is None:
                raise RuntimeError(f"GET {path}: HTTP {response.status}: {body[:300]!r}")
            if call >= 3:
                floors.append(floor)
                figures.append(figure)
    finally:
        connection.close()
        database.close()
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    figure, floor = statistics.median(figures), statistics.median(floors)
    ratio = figure / floor
    result = {
        "id": ID,
        "what": WHAT,
        "figure": round(figure * 1000, 2),
        "floor": round(floor * 1000, 2),
        "unit": "ms per call (median)",
        "ratio": round(ratio, 2),
        "target": f"<= {TARGET_RATIO}",
        "met": ratio <= TARGET_RATIO,
        "p50_ms": round(reporting.percentile(figures, 50) * 1000, 2),
        "p99_ms": round(reporting.percentile(figures, 99) * 1000, 2),
        "calls": calls,
        "degrees": DEGREES,
    }
    print(
        f"{ID} {WHAT}: GET {result['figure']} ms, floor (the SQL via psycopg) {result['floor']} ms, ratio "
        f"{result['ratio']} (target {result['target']}) {'met' if result['met'] else 'MISSED'}; "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms over {calls} calls",
        flush=True,
    )
    return result


if __name__ == "__main__":
    run()
