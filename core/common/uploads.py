"""Request bodies with their size limits: the one place that refuses a body by its declared Content-Length,
reads a raw body up to a limit, and reads one uploaded file up to a limit.

DATA_UPLOAD_MAX_MEMORY_SIZE does not cover files, so a file's limit is the upload handler's job: it counts bytes
as they come and stops the request at the first byte past the limit, before the rest is read."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from typing import IO, Any

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from core.common.errors import PayloadTooLarge

# Room for the multipart boundaries, part headers and small form fields around the file, for the pre-check.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
ONE_FILE = "Send exactly one file, in the multipart field `file`."


class FileTooLarge(PayloadTooLarge):
    code = "file_too_large"


def file_too_large(max_bytes: int) -> FileTooLarge:
    return FileTooLarge(f"The file is larger than the limit of {max_bytes} bytes.")


def body_size_check(*, meta: Mapping[str, Any], limit: int, error: PayloadTooLarge) -> None:
    """Raise `error` when the declared Content-Length is above `limit`, before any of the body is read. A missing
    or malformed length passes: the bounded reads below still count what arrives."""
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise error


def body_read(*, stream: IO[bytes] | Any, limit: int | None, error: PayloadTooLarge) -> bytes:
    """The body from `stream`, reading at most `limit` + 1 bytes; raises `error` when there are more."""
    if limit is None:
        return stream.read()
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise error
    return body


class HashedUploadedFile(UploadedFile):
    md5: str  # the hex digest, or "" when the handler was not asked to hash


class LimitedUploadHandler(FileUploadHandler):
    """Takes exactly one file (400 at the second), spooled to a temporary file past `spool_bytes`, hashed (md5)
    as it arrives when `md5` is set; raises FileTooLarge at the first byte past `max_bytes`."""

    def __init__(self, request: Any = None, *, max_bytes: int, spool_bytes: int, md5: bool = False) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.spool_bytes = spool_bytes
        self.md5 = md5
        self.files_seen = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.files_seen += 1
        if self.files_seen > 1:
            raise ValidationError({"file": [ONE_FILE]})
        self.buffer = tempfile.SpooledTemporaryFile(max_size=self.spool_bytes)  # noqa: SIM115 - the file owns it
        self.digest = hashlib.md5(usedforsecurity=False) if self.md5 else None
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.buffer.close()
            raise file_too_large(self.max_bytes)
        if self.digest is not None:
            self.digest.update(raw_data)
        self.buffer.write(raw_data)

    def file_complete(self, file_size: int) -> HashedUploadedFile:
        self.buffer.seek(0)
        uploaded = HashedUploadedFile(
            file=self.buffer, name=self.file_name, content_type=self.content_type, size=file_size, charset=self.charset
        )
        uploaded.md5 = self.digest.hexdigest() if self.digest is not None else ""
        return uploaded


def upload_limit_set(*, request: Request, max_bytes: int, spool_bytes: int, md5: bool = False) -> None:
    """Before a multipart body is parsed: refuse it by its declared length (413), and read its one file through
    LimitedUploadHandler."""
    body_size_check(meta=request.META, limit=max_bytes + MULTIPART_OVERHEAD_BYTES, error=file_too_large(max_bytes))
    request._request.upload_handlers = [
        LimitedUploadHandler(request._request, max_bytes=max_bytes, spool_bytes=spool_bytes, md5=md5)
    ]


def upload_file(*, request: Request) -> HashedUploadedFile:
    """The one file of the multipart field `file` (after upload_limit_set); 400 otherwise."""
    files = request.FILES.getlist("file")
    if len(files) != 1 or len(request.FILES) != 1:
        raise ValidationError({"file": [ONE_FILE]})
    return files[0]
