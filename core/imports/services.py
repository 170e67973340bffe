"""Background imports of grade files (POST /api/imports): the file is stored, a job is queued, and a task
reads the file as a stream and writes it in batches, keeping every good row and listing every bad one.

Kinds and their rules:
- `subject_grades` (student_id, subject, grade): upsert per (student, subject), the last write wins, as
  POST /grades/submit. Unknown students and subjects are created; a doctor cannot write into another
  doctor's subject (that row fails).
- `degrees` (student_number, marks_obtained, marks_available) into the `exam` named at submit: merged with the
  max rule of docs/product.md rule 4 (highest obtained and highest available, each on its own), source `upload`.
  An online exam is refused at submit (409). Unknown students are created from their number.
- `markr` (Markr XML): the same merge as POST /import (source `markr`), creating unknown tests as paper exams.
- `students` (student_number, full_name, email, level): upsert by student_number (core.imports.students).
Running the same file twice leaves the same data: every write is an upsert or a max-merge.
"""

from __future__ import annotations

import gc
import logging
import tempfile
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from itertools import islice
from typing import IO, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import connection, connections, transaction
from django.utils import timezone

from core.accounts.models import Role, User
from core.accounts.services import StudentFields, students_ensure, subject_refusal, subjects_for_writer
from core.accounts.validators import STUDENT_NUMBER_MESSAGE, STUDENT_NUMBER_RE
from core.common.db import server_bound_cursor as _binary_cursor
from core.common.errors import Conflict, DomainError, Invalid, NotFound, StoreUnavailable
from core.exams.models import Exam
from core.gradebook.models import SubjectGrade
from core.grading.models import Degree
from core.grading.services import degrees_merge
from core.imports.files import (
    CSV,
    XLSX,
    FileBroken,
    count_lines,
    count_occurrences,
    csv_rows,
    file_kind_check,
    markr_elements,
    xlsx_row_estimate,
    xlsx_rows,
)
from core.imports.students import StudentRow, students_import
from core.jobs.models import Job
from core.jobs.services import job_advance, job_begin, job_create, job_finish

logger = logging.getLogger(__name__)

# Rows per batch of a subject_grades file (one transaction: COPY then one upsert). Measured in-process on the B6
# file (1,000,000 rows, 2 shared cores): 5,000 to 100,000 all ran at 48-52k rows/s, PostgreSQL spending 11.8-12.8 s
# of CPU either way; the process's peak RSS grew with the batch (154 MB at 5,000, 168 at 20,000, 205 at 50,000, 255
# at 100,000). 20,000 keeps well under the worker's 300 MB and gives 50 progress steps per million rows.
GRADE_BATCH_SIZE = 20_000
# Batches read ahead of the slowest parallel grade writer (settings.IMPORT_GRADE_WRITERS): each holds its rows
# in memory until written, ~5 MB for 20,000 rows.
GRADE_BATCHES_AHEAD = 2
# New objects between two collections of Python's youngest generation while a grade file is read (default 700).
GC_THRESHOLD_WHILE_READING = 100_000
# The valid grade texts: one dict lookup instead of isdigit/isascii/int per row ("007" takes the slow path).
GRADE_TEXTS = {str(grade): grade for grade in range(101)}
# Subject name -> id or row error kept by one job: a file naming a million subjects must not fill the memory.
SUBJECT_CACHE_MAX = 10_000
# Rows per batch: one transaction, one student lookup and one upsert each. Measured on 300,000 rows of the B6
# file (2 shared cores): 1,000 to 50,000 all ran at 40-50k rows/s (run-to-run noise is +-10%); 50,000 cost
# ~14 MB more RSS. 20,000 keeps a batch near half a second and gives 50 progress steps per million rows.
BATCH_SIZE = 20_000
# A file of bad rows could list a million errors; the job keeps the first ones and counts the rest.
MAX_REPORTED_ERRORS = 1_000
# Student number -> id pairs kept by one job: ~100 bytes each, so at most ~20 MB of the worker's memory.
STUDENT_CACHE_MAX = 200_000

COLUMNS: dict[str, tuple[str, ...]] = {
    Job.Kind.IMPORT_SUBJECT_GRADES: ("student_id", "subject", "grade"),
    Job.Kind.IMPORT_DEGREES: ("student_number", "marks_obtained", "marks_available"),
    Job.Kind.IMPORT_STUDENTS: ("student_number", "full_name", "email", "level"),
}
IMPORT_KINDS = (*COLUMNS, Job.Kind.IMPORT_MARKR)

SUBJECT_NAME_MAX = 100
MARKS_MAX = 2_147_483_647
_STORE_ERRORS = (BotoCoreError, ClientError, OSError)

RowError = dict[str, Any]


class ExamNotImportable(Conflict):
    code = "exam_not_importable"


def _file_store() -> Any:
    return storages["default"]


def import_exam_get(*, user: User, exam_id: int | None) -> Exam:
    """The exam a `degrees` import writes into: one the caller manages, and not an online exam (rule 4)."""
    if exam_id is None:
        raise Invalid("A degrees import needs `exam`.", fields={"exam": ["This field is required for degrees."]})
    exams = Exam.objects.all() if user.role == Role.ADMIN else Exam.objects.filter(owner=user)
    exam = exams.filter(pk=exam_id).first()
    if exam is None:
        raise NotFound("No such exam.")
    if exam.kind == Exam.Kind.ONLINE:
        raise ExamNotImportable("An online exam's degrees come only from grading its answers; it takes no imports.")
    return exam


def import_start(*, user: User, kind: str, file: IO[bytes], file_name: str, exam_id: int | None = None) -> Job:
    """Check the file's kind, store it under imports/<uuid>, and queue the job that reads it."""
    from core.imports.tasks import import_run_task

    if kind not in IMPORT_KINDS:
        raise Invalid(f"Unknown import kind {kind!r}.", fields={"kind": [f"One of {', '.join(IMPORT_KINDS)}."]})
    if kind == Job.Kind.IMPORT_DEGREES:
        exam_id = import_exam_get(user=user, exam_id=exam_id).pk
    file_format = file_kind_check(file=file, markr=kind == Job.Kind.IMPORT_MARKR)
    key = f"imports/{uuid.uuid4().hex}"
    stored = File(file, name=key)
    stored.content_type = "application/octet-stream"  # type: ignore[attr-defined]
    try:
        key = _file_store().save(key, stored)
    except _STORE_ERRORS as exc:
        raise StoreUnavailable("The file store is unavailable; nothing was queued. Try again shortly.") from exc
    params = {"file": key, "format": file_format, "name": file_name[:200]}
    if exam_id is not None:
        params["exam_id"] = exam_id
    job = job_create(kind=kind, created_by=user, params=params)
    import_run_task.delay_on_commit(job.pk)
    return job


class _Progress:
    """Advances the job after each batch: `processed` counts data rows read, good and bad."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.processed = 0
        self.reported = 0
        self.unreported = 0

    def add(self, rows: int, errors: list[RowError]) -> None:
        self.processed += rows
        room = max(MAX_REPORTED_ERRORS - self.reported, 0)
        kept = errors[:room]
        self.reported += len(kept)
        self.unreported += len(errors) - len(kept)
        job_advance(job_id=self.job_id, processed=self.processed, errors=kept)

    def closing_errors(self) -> list[RowError]:
        if not self.unreported:
            return []
        return [
            {"row": None, "message": f"{self.unreported} more rows failed; only the first {self.reported} are listed."}
        ]


def import_run(*, job_id: int) -> None:
    """The job's work, safe to run again: a finished job is left alone, and a re-claimed one starts over
    (its writes are upserts). A file that cannot be read on fails the job with one clear error."""
    job = job_begin(job_id=job_id)
    if job is None:
        return
    progress = _Progress(job.pk)
    key = job.params["file"]
    try:
        with _local_copy(key) as handle:
            _RUNNERS[job.kind](job=job, handle=handle, progress=progress)
    except FileBroken as exc:
        job_finish(
            job_id=job.pk,
            status=Job.Status.FAILED,
            processed=progress.processed,
            errors=[*progress.closing_errors(), {"row": None, "message": str(exc)}],
        )
    except _STORE_ERRORS as exc:
        raise StoreUnavailable("The file store is unavailable.") from exc
    else:
        job_finish(
            job_id=job.pk,
            status=Job.Status.DONE,
            processed=progress.processed,
            total=progress.processed,
            errors=progress.closing_errors(),
        )
    _forget_file(key)


def _local_copy(key: str) -> IO[bytes]:
    """The stored file, readable and seekable, without holding it in memory: S3 objects are downloaded in chunks
    to a temporary file (django-storages' S3File would buffer the whole object in memory by default)."""
    storage = _file_store()
    bucket = getattr(storage, "bucket", None)
    if bucket is None:
        return storage.open(key, "rb")
    copy = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    try:
        bucket.download_fileobj(key, copy)
    except ClientError as exc:
        copy.close()
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            raise FileBroken("The uploaded file is no longer in the file store; send it again.") from exc
        raise
    except BaseException:
        copy.close()
        raise
    copy.seek(0)
    return copy


def _forget_file(key: str) -> None:
    try:
        _file_store().delete(key)
    except _STORE_ERRORS:
        logger.warning("could not delete the imported file %s", key)


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _table_rows(job: Job, handle: IO[bytes]) -> Iterator[tuple[int, list[str] | None]]:
    columns = COLUMNS[job.kind]
    if job.params.get("format") == XLSX:
        job_advance(job_id=job.pk, processed=0, total=xlsx_row_estimate(handle))
        return xlsx_rows(handle, columns)
    if job.params.get("format") != CSV:
        raise FileBroken("The stored file is neither CSV nor XLSX.")
    job_advance(job_id=job.pk, processed=0, total=max(count_lines(handle) - 1, 0))
    return csv_rows(handle, columns)


def _too_short(line: int) -> RowError:
    return {"row": line, "message": "The row has fewer columns than the header."}


# --- subject_grades ---------------------------------------------------------------------------
#
# Per batch, in one transaction: the rows are checked in Python; the subjects new to this job are resolved set-based
# (the rule of POST /grades/submit) and the students new to this job found or created set-based; the grades are
# deduplicated in Python (a later line wins: the dict keeps the last assignment), COPYed into a temporary table and
# merged with one INSERT ... ON CONFLICT DO UPDATE. Where the time goes: docs/decisions/0004-background-imports.md.


class _GradeBatch(NamedTuple):
    rows: int  # data rows read, good and bad
    errors: list[RowError]  # in line order
    good: list[tuple[int, str, str, int]]  # (line, student number, subject, grade), in line order


def _grade_batches(rows: Iterable[tuple[int, list[str] | None]], size: int) -> Iterator[_GradeBatch]:
    """The file's rows checked in batches of `size`, without the database."""
    fullmatch = STUDENT_NUMBER_RE.fullmatch
    grades = GRADE_TEXTS
    for batch in _batches(rows, size):
        errors: list[RowError] = []
        good: list[tuple[int, str, str, int]] = []
        for line, values in batch:
            if values is None:
                errors.append(_too_short(line))
                continue
            number, subject, text = values[0].strip(), values[1].strip(), values[2].strip()
            grade = grades.get(text)
            if grade is None and text.isdigit() and text.isascii() and len(text.lstrip("0")) <= 3 and int(text) <= 100:
                grade = int(text)  # "007": valid, but not in GRADE_TEXTS
            if not fullmatch(number):
                errors.append({"row": line, "message": "student_id must be 1 to 64 letters, digits, '-' or '_'."})
            elif grade is None:
                errors.append({"row": line, "message": f"grade {text!r} is not an integer from 0 to 100."})
            elif not subject or len(subject) > SUBJECT_NAME_MAX:
                errors.append({"row": line, "message": f"subject must be 1 to {SUBJECT_NAME_MAX} characters."})
            else:
                good.append((line, number, subject, grade))
        yield _GradeBatch(len(batch), errors, good)


def _run_subject_grades(*, job: Job, handle: IO[bytes], progress: _Progress) -> None:
    user = _starter(job)
    batches = _grade_batches(_table_rows(job, handle), GRADE_BATCH_SIZE)
    writers = settings.IMPORT_GRADE_WRITERS
    with _fewer_collections():
        if writers <= 1 or connection.in_atomic_block:  # inside a caller's transaction (a test's): one connection
            writer = _GradeWriter(user)
            for batch in batches:
                progress.add(batch.rows, _batch_errors(batch, [writer.write(batch.good)]))
            return
        _grades_write_in_parallel(batches, user=user, writers=writers, progress=progress)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Python's cyclic garbage collector less often while a grade file is read: every row makes a list and two
    tuples that live until their batch is written, so with the default threshold (a collection every 700 new
    objects) the collector kept re-scanning the batches in flight and the worker's whole heap. Measured on the
    B6 file: checking the rows took 7.8 us a row, 2.7 with this threshold. Rows hold no reference cycles, and
    the old threshold comes back when the file is done."""
    before = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD_WHILE_READING, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _batch_errors(batch: _GradeBatch, refusals: list[list[RowError]]) -> list[RowError]:
    """The batch's row errors in line order: its checks' and its writers' (subjects the person may not write)."""
    refused = [error for errors in refusals for error in errors]
    if not refused:
        return batch.errors
    return sorted([*batch.errors, *refused], key=lambda error: error["row"])


class _GradeWriter:
    """Writes checked grade rows, one transaction per call, on the calling thread's connection, with its own
    subject and student maps (so each parallel writer keeps its own)."""

    def __init__(self, user: User) -> None:
        self.subjects = _SubjectIds(user)
        self.students = _StudentIds()

    def write(self, good: list[tuple[int, str, str, int]]) -> list[RowError]:
        """Resolve subjects and students, dedupe (a later line wins) and merge; the rows refused for their subject."""
        errors: list[RowError] = []
        with transaction.atomic():
            subject_ids = self.subjects.ids({subject for _, _, subject, _ in good})
            latest: dict[tuple[str, int], int] = {}
            for line, number, subject, grade in good:
                subject_id = subject_ids[subject]
                if subject_id.__class__ is str:
                    errors.append({"row": line, "message": subject_id})
                else:
                    latest[(number, subject_id)] = grade  # type: ignore[index]  # a later line wins
            ids = self.students.ids(dict.fromkeys([number for number, _ in latest], ""))
            _subject_grades_merge(ids, latest)
        return errors


def _grades_write_in_parallel(batches: Iterator[_GradeBatch], *, user: User, writers: int, progress: _Progress) -> None:
    """This thread reads and checks the file while `writers` threads, each on its own connection, write the
    batches before. A student's rows always go to the same writer (by the hash of the student number), in file
    order, so a later line still wins and no two writers ever touch the same grade or student. A batch's progress
    is recorded once all its writers have committed, in file order. At most GRADE_BATCHES_AHEAD batches are in
    flight, which bounds the memory. Why: docs/decisions/0019-parallel-grade-writers.md."""
    lanes = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"grades-{n}") for n in range(writers)]
    lane_writers = [_GradeWriter(user) for _ in range(writers)]
    pending: deque[tuple[_GradeBatch, list[Future[list[RowError]]]]] = deque()

    def report_oldest() -> None:
        batch, futures = pending.popleft()
        progress.add(batch.rows, _batch_errors(batch, [future.result() for future in futures]))

    try:
        for batch in batches:
            parts: list[list[tuple[int, str, str, int]]] = [[] for _ in range(writers)]
            for row in batch.good:
                parts[hash(row[1]) % writers].append(row)
            lanes_parts = zip(lanes, lane_writers, parts, strict=True)
            futures = [lane.submit(writer.write, part) for lane, writer, part in lanes_parts if part]
            pending.append((batch, futures))
            while len(pending) > GRADE_BATCHES_AHEAD:
                report_oldest()
        while pending:
            report_oldest()
    except FileBroken:  # the batches read before stay written and counted, as with one writer
        while pending:
            report_oldest()
        raise
    finally:
        for _, futures in pending:
            for future in futures:
                future.cancel()
        for lane in lanes:
            lane.submit(connections.close_all)
            lane.shutdown(wait=True)


def _subject_grades_merge(ids: dict[str, int], latest: dict[tuple[str, int], int]) -> None:
    """COPY (student id, subject id, grade) into a temporary table, then one upsert; an unchanged grade is not
    rewritten. Call inside the batch's transaction. `latest` holds one grade per (student, subject), so the
    upsert never meets a key twice (ON CONFLICT DO UPDATE would refuse that)."""
    if not latest:
        return
    block = "".join([f"{ids[number]}\t{subject_id}\t{grade}\n" for (number, subject_id), grade in latest.items()])
    with _binary_cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_GRADES_TMP} (student_id bigint, subject_id bigint, grade smallint) "
            "ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY {_GRADES_TMP} (student_id, subject_id, grade) FROM STDIN") as copy:
            copy.write(block)
        cursor.execute(  # the table names come from model _meta and a constant; values are parameters
            f"""
            INSERT INTO {SubjectGrade._meta.db_table} AS g (student_id, subject_id, grade, updated_at)
            SELECT t.student_id, t.subject_id, t.grade, %b FROM {_GRADES_TMP} AS t
            ON CONFLICT (student_id, subject_id) DO UPDATE SET grade = EXCLUDED.grade, updated_at = EXCLUDED.updated_at
            WHERE g.grade IS DISTINCT FROM EXCLUDED.grade
            """,  # noqa: S608
            [timezone.now()],
        )
        if connection.savepoint_ids:  # inside an outer transaction (a test's): this batch's commit is not the end
            cursor.execute(f"DELETE FROM {_GRADES_TMP}")  # noqa: S608


_GRADES_TMP = "import_subject_grades"


class _SubjectIds:
    """Subject name -> id, or the row error for a subject this person may not write into, for one job. The rule
    is accounts' one rule for writing into subjects (core.accounts.services.subjects_for_writer), applied to each
    batch's names that are new to the job: a subject the person teaches (any subject, for an admin) is written; an
    unknown one is created and a doctor teaches it; an existing one they do not teach is refused. The map is
    dropped past SUBJECT_CACHE_MAX entries to keep the worker's memory flat."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.known: dict[str, int | str] = {}

    def ids(self, names: set[str]) -> dict[str, int | str]:
        """Call inside the batch's transaction."""
        if len(self.known) > SUBJECT_CACHE_MAX:
            self.known.clear()
        new = sorted(names.difference(self.known))
        if new:
            self.known.update(self._resolve(new))
        return self.known

    def _resolve(self, names: list[str]) -> dict[str, int | str]:
        allowed = subjects_for_writer(user=self.user, names=names)
        found: dict[str, int | str] = {}
        for name in names:
            subject = allowed.get(name)
            # the same sentence as POST /grades/submit's 404
            found[name] = subject.pk if subject is not None else f"subject {name!r}: {subject_refusal(name=name)}"
        return found


# --- degrees and markr ------------------------------------------------------------------------


def _count(raw: str) -> int | None:
    text = raw.strip()
    if not (text.isdigit() and text.isascii()) or int(text) > MARKS_MAX:
        return None
    return int(text)


def _run_degrees(*, job: Job, handle: IO[bytes], progress: _Progress) -> None:
    exam_id = int(job.params["exam_id"])
    students = _StudentIds()
    for batch in _batches(_table_rows(job, handle), BATCH_SIZE):
        errors: list[RowError] = []
        merged: dict[tuple[str, int], list[int]] = {}
        for line, values in batch:
            if values is None:
                errors.append(_too_short(line))
                continue
            number = values[0].strip()
            obtained, available = _count(values[1]), _count(values[2])
            if not STUDENT_NUMBER_RE.fullmatch(number):
                errors.append({"row": line, "message": STUDENT_NUMBER_MESSAGE})
            elif obtained is None or available is None:
                errors.append(
                    {"row": line, "message": "marks_obtained and marks_available must be non-negative integers."}
                )
            elif available == 0:
                errors.append({"row": line, "message": "marks_available is 0."})
            elif obtained > available:
                errors.append(
                    {
                        "row": line,
                        "message": f"marks_obtained ({obtained}) is greater than marks_available ({available}).",
                    }
                )
            else:
                _merge(merged, (number, exam_id), obtained, available)
        with transaction.atomic():
            ids = students.ids({number: "" for number, _ in merged})
            degrees_merge(marks={(ids[n], e): marks for (n, e), marks in merged.items()}, source=Degree.Source.UPLOAD)
        progress.add(len(batch), errors)


def _merge(merged: dict[tuple[str, int], list[int]], key: tuple[str, int], obtained: int, available: int) -> None:
    current = merged.get(key)
    if current is None:
        merged[key] = [obtained, available]
    else:
        current[0], current[1] = max(current[0], obtained), max(current[1], available)


def _run_markr(*, job: Job, handle: IO[bytes], progress: _Progress) -> None:
    from core.gradebook.markr import markr_result
    from core.gradebook.services import markr_scans_save

    user = _starter(job)
    total = count_occurrences(handle, b"<mcq-test-result") - count_occurrences(handle, b"<mcq-test-results")
    job_advance(job_id=job.pk, processed=0, total=max(total, 0))
    exams: dict[str, int | str] = {}  # test id -> exam id, or why it takes no import
    students = _StudentIds()
    for batch in _batches(_markr_results(handle, markr_result), BATCH_SIZE):
        errors: list[RowError] = []
        merged: dict[tuple[str, int], list[int]] = {}
        names: dict[str, str] = {}
        scanned: list[tuple[Any, int]] = []  # (result, exam id), for GET /results
        for line, index, result, problem in batch:
            if problem is not None:
                errors.append({"row": line, "message": f"Result {index}: {problem}"})
                continue
            exam_id = exams.get(result.test_id)
            if exam_id is None:
                exam_id = exams[result.test_id] = _markr_exam_resolve(user=user, test_id=result.test_id, index=index)
            if isinstance(exam_id, str):
                errors.append({"row": line, "message": f"Result {index}: {exam_id}"})
                continue
            _merge(merged, (result.student_number, exam_id), result.marks_obtained, result.marks_available)
            scanned.append((result, exam_id))
            if not names.get(result.student_number):
                names[result.student_number] = result.full_name
        with transaction.atomic():
            ids = students.ids(names)
            degrees_merge(marks={(ids[n], e): marks for (n, e), marks in merged.items()}, source=Degree.Source.MARKR)
            markr_scans_save(results=scanned)
        progress.add(len(batch), errors)


def _markr_results(
    handle: IO[bytes], read: Callable[[int, Any], tuple[Any, str | None]]
) -> Iterator[tuple[int, int, Any, str | None]]:
    for index, line, element in markr_elements(handle):
        result, problem = read(index, element)
        yield line, index, result, problem


def _markr_exam_resolve(*, user: User, test_id: str, index: int) -> int | str:
    from core.gradebook.services import exams_for_import  # the rules POST /import applies

    try:
        with transaction.atomic():
            return exams_for_import(user=user, test_ids=[test_id], first_index={test_id: index})[test_id]
    except DomainError as exc:
        return exc.detail


# --- students ---------------------------------------------------------------------------------


def _run_students(*, job: Job, handle: IO[bytes], progress: _Progress) -> None:
    user = _starter(job)
    for batch in _batches(_table_rows(job, handle), BATCH_SIZE):
        errors: list[RowError] = []
        rows: list[StudentRow] = []
        for line, values in batch:
            if values is None:
                errors.append(_too_short(line))
            else:
                rows.append(StudentRow(line, *(value.strip() for value in values)))
        errors.extend(students_import(rows=rows, user=user))
        errors.sort(key=lambda error: error["row"])
        progress.add(len(batch), errors)


# --- shared -----------------------------------------------------------------------------------


def _starter(job: Job) -> User:
    if job.created_by_id is None:
        raise FileBroken("The person who started this import no longer exists.")
    return User.objects.get(pk=job.created_by_id)


class _StudentIds:
    """Student number -> user id for one job, creating unknown students (accounts' students_ensure).
    A file names the same students again and again (10 subjects each, say), so most rows are answered from
    memory; the map is dropped past STUDENT_CACHE_MAX entries to keep the worker's memory flat."""

    def __init__(self) -> None:
        self.known: dict[str, int] = {}

    def ids(self, names: dict[str, str]) -> dict[str, int]:
        """The ids of these numbers; call inside the batch's transaction. `names` gives new students' names."""
        if len(self.known) > STUDENT_CACHE_MAX:
            self.known.clear()
        missing = [number for number in names if number not in self.known]
        if missing:
            self.known.update(students_ensure(rows=[StudentFields(number, names[number]) for number in missing]))
        return self.known


_RUNNERS: dict[str, Callable[..., None]] = {
    Job.Kind.IMPORT_SUBJECT_GRADES: _run_subject_grades,
    Job.Kind.IMPORT_DEGREES: _run_degrees,
    Job.Kind.IMPORT_MARKR: _run_markr,
    Job.Kind.IMPORT_STUDENTS: _run_students,
}
