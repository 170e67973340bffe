"""Every write about hand-ins: registering a student, taking an upload, and retention."""

from __future__ import annotations

import logging
import re
import secrets
import string
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.accounts.models import Role, User
from core.common.errors import Conflict, DomainError, Invalid, NotFound
from core.common.uploads import HashedUploadedFile
from core.exams.models import Exam
from core.handins.models import HandIn, StorageFailure, Upload
from core.handins.sniffing import ALLOWED_DESCRIPTION, sniff_content_type
from core.handins.storage import FileStoreDown, file_delete, file_download_url, file_save

logger = logging.getLogger(__name__)

UPLOAD_CODE_ALPHABET = string.ascii_uppercase + string.digits
VERIFICATION_CODE_ALPHABET = string.ascii_lowercase + string.digits
UPLOAD_CODE_PATTERN = re.compile(r"[A-Z0-9]{8}")
VERIFICATION_CODE_PATTERN = re.compile(r"[a-z0-9]{9}")
# 36^8 and 36^9 codes: a collision is already rare; a few retries make failing practically impossible.
CODE_ATTEMPTS = 5
# Uploads expired per round of the retention task: one storage DELETE each, ~5 ms on SeaweedFS.
RETENTION_BATCH_SIZE = 200

_EXTENSIONS = {
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "text/plain": ".txt",
}


class NotAHandInExam(Conflict):
    code = "not_a_handin_exam"
    detail = "Hand-ins exist only for exams of kind `handin`."


class HandInExists(Conflict):
    code = "handin_exists"
    detail = "This student already has a hand-in for this exam."


class ExamClosed(Conflict):
    code = "exam_closed"
    detail = "The exam is closed; no more files are taken."


class UploadLimitReached(Invalid):
    code = "upload_limit_reached"
    detail = f"All {HandIn.MAX_UPLOADS} uploads of this hand-in are used."


class EmptyFile(Invalid):
    code = "empty_file"
    detail = "The file is empty."


class UnsupportedFileType(DomainError):
    status, code = 415, "unsupported_media_type"
    detail = f"This kind of file is not taken. Send {ALLOWED_DESCRIPTION}."


def _new_code(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def handin_exam_get(*, user: User, exam_id: int) -> Exam:
    """The exam, if `user` may manage it (its owner, or an admin); another doctor's exam is not found."""
    exams = Exam.objects.all()
    if user.role != Role.ADMIN:
        exams = exams.filter(owner=user)
    exam = exams.filter(pk=exam_id).first()
    if exam is None:
        raise NotFound("No such exam.")
    return exam


def handin_create(*, user: User, exam_id: int, student_number: str) -> HandIn:
    """Register a student for a hand-in exam and give them an upload code."""
    exam = handin_exam_get(user=user, exam_id=exam_id)
    if exam.kind != Exam.Kind.HANDIN:
        raise NotAHandInExam()
    student = User.objects.filter(role=Role.STUDENT, student_number=student_number).first()
    if student is None:
        raise Invalid("No student has this number.", fields={"student_number": ["No student has this number."]})
    for _ in range(CODE_ATTEMPTS):
        if HandIn.objects.filter(exam=exam, student=student).exists():
            raise HandInExists()
        try:
            with transaction.atomic():
                return HandIn.objects.create(exam=exam, student=student, upload_code=_new_code(UPLOAD_CODE_ALPHABET, 8))
        except IntegrityError:
            continue  # a code collision, or a concurrent registration of the same student (checked above)
    raise Conflict("Could not register the hand-in; try again.")


def handin_by_code(*, upload_code: str) -> HandIn:
    if not UPLOAD_CODE_PATTERN.fullmatch(upload_code or ""):
        raise NotFound("No hand-in has this upload code.")
    handin = HandIn.objects.select_related("exam").filter(upload_code=upload_code).first()
    if handin is None:
        raise NotFound("No hand-in has this upload code.")
    return handin


def _ensure_open(exam: Exam, now: datetime) -> None:
    closed = exam.status in (Exam.Status.CLOSED, Exam.Status.GRADED) or (exam.closes_at and now >= exam.closes_at)
    if closed:
        raise ExamClosed()


def submission_create(*, upload_code: str, file: HashedUploadedFile, now: datetime) -> HandIn:
    """Take one upload for a hand-in, then delete the hand-in's previous file from storage.

    The counter is checked and raised under the hand-in's row lock, in the same transaction that records the
    upload, after the file is safely in storage. So two concurrent uploads cannot both pass the limit, and a
    store that is down (FileStoreDown, 503) leaves the counter as it was; that event is recorded.
    """
    handin = handin_by_code(upload_code=upload_code)
    _ensure_open(handin.exam, now)
    if handin.uploads_used >= HandIn.MAX_UPLOADS:
        raise UploadLimitReached()
    if file.size == 0:
        raise EmptyFile()
    file.seek(0)
    content_type = sniff_content_type(file.read())
    if content_type is None:
        raise UnsupportedFileType()
    file.seek(0)
    key = f"handins/{handin.exam_id}/{uuid.uuid4().hex}"
    try:
        replaced = _submission_record(handin_id=handin.pk, key=key, file=file, content_type=content_type, now=now)
    except FileStoreDown as exc:
        StorageFailure.objects.create(operation="upload", hand_in_id=handin.pk, error=repr(exc.__cause__)[:500])
        logger.warning("hand-in upload refused: file store down (hand-in %s)", handin.pk)
        raise
    for upload_id, old_key in replaced:
        try:
            file_delete(key=old_key)
        except FileStoreDown:
            # The retention task sweeps replaced uploads whose file is still there.
            logger.warning("could not delete replaced hand-in file %s; retention will retry", old_key)
            continue
        Upload.objects.filter(pk=upload_id).update(file_deleted_at=timezone.now())
    return HandIn.objects.select_related("exam", "student").get(pk=handin.pk)


def _submission_record(
    *, handin_id: int, key: str, file: HashedUploadedFile, content_type: str, now: datetime
) -> list[tuple[int, str]]:
    with transaction.atomic():
        handin = HandIn.objects.select_for_update().select_related("exam").get(pk=handin_id)
        _ensure_open(handin.exam, now)
        if handin.uploads_used >= HandIn.MAX_UPLOADS:
            raise UploadLimitReached()
        stored_key = file_save(key=key, content=file)
        try:
            replaced = list(
                Upload.objects.filter(hand_in=handin, state=Upload.State.STORED).values_list("pk", "storage_key")
            )
            Upload.objects.filter(pk__in=[pk for pk, _ in replaced]).update(state=Upload.State.REPLACED)
            _upload_create(handin=handin, key=stored_key, file=file, content_type=content_type)
            HandIn.objects.filter(pk=handin.pk).update(uploads_used=F("uploads_used") + 1)
        except BaseException:
            _forget_file(stored_key)
            raise
    return replaced


def _upload_create(*, handin: HandIn, key: str, file: HashedUploadedFile, content_type: str) -> Upload:
    for _ in range(CODE_ATTEMPTS):
        try:
            with transaction.atomic():
                return Upload.objects.create(
                    hand_in=handin,
                    storage_key=key,
                    md5=file.md5,
                    size_bytes=file.size or 0,
                    content_type=content_type,
                    verification_code=_new_code(VERIFICATION_CODE_ALPHABET, 9),
                )
        except IntegrityError:
            continue  # a verification code collision
    raise Conflict("Could not record the upload; try again.")


def _forget_file(key: str) -> None:
    try:
        file_delete(key=key)
    except FileStoreDown:
        logger.warning("could not delete orphan hand-in file %s", key)


def upload_download_url(*, verification_code: str, now: datetime) -> str:
    """A 10-minute download link for the upload with this verification code. Not found once the file is
    replaced or past retention (even if the retention task has not run yet)."""
    if not VERIFICATION_CODE_PATTERN.fullmatch(verification_code or ""):
        raise NotFound("No file has this verification code.")
    cutoff = now - timedelta(days=settings.HANDIN_RETENTION_DAYS)
    upload = (
        Upload.objects.select_related("hand_in__exam", "hand_in__student")
        .filter(verification_code=verification_code, state=Upload.State.STORED, created_at__gt=cutoff)
        .first()
    )
    if upload is None:
        raise NotFound("No file has this verification code, or it has expired.")
    return file_download_url(key=upload.storage_key, filename=upload_filename(upload=upload))


def upload_filename(*, upload: Upload) -> str:
    """The name a download is saved under: made by the server from safe parts, never the client's name."""
    exam_code = re.sub(r"[^A-Za-z0-9_-]", "_", upload.hand_in.exam.code)[:64]
    number = re.sub(r"[^A-Za-z0-9_-]", "_", upload.hand_in.student.student_number or "")[:64]
    return f"{exam_code}-{number}-{upload.verification_code}{_EXTENSIONS.get(upload.content_type, '')}"


def uploads_expire(*, now: datetime) -> int:
    """Delete from storage every file past the retention period, and every replaced file still there;
    the metadata stays, marked expired. Returns how many files were deleted. Safe to run twice."""
    cutoff = now - timedelta(days=settings.HANDIN_RETENTION_DAYS)
    due = Upload.objects.filter(file_deleted_at__isnull=True).filter(
        Q(created_at__lte=cutoff) | Q(state=Upload.State.REPLACED)
    )
    deleted = 0
    while batch := list(due.order_by("pk").values_list("pk", "storage_key")[:RETENTION_BATCH_SIZE]):
        for _, key in batch:
            file_delete(key=key)  # FileStoreDown stops the round; the task retries later
        ids = [pk for pk, _ in batch]
        with transaction.atomic():
            Upload.objects.filter(pk__in=ids, state=Upload.State.STORED).update(state=Upload.State.EXPIRED)
            Upload.objects.filter(pk__in=ids).update(file_deleted_at=now)
        deleted += len(ids)
    return deleted
