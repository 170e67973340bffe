"""Reading one handed-in file from a multipart body, with its limit enforced while it arrives.

DATA_UPLOAD_MAX_MEMORY_SIZE does not cover files, so the per-file limit is this handler's job: it counts
bytes as they come and stops the request at the first byte past the limit, before the rest is read.
"""

from __future__ import annotations

import hashlib
import tempfile
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from rest_framework.exceptions import ValidationError

from core.common.errors import PayloadTooLarge

# Files up to this size stay in memory; larger ones spill to a temporary file.
_SPOOL_IN_MEMORY_BYTES = 1024 * 1024
# Room for the multipart boundaries and part headers around the file, for the Content-Length pre-check.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class FileTooLarge(PayloadTooLarge):
    code = "file_too_large"


def file_too_large(max_bytes: int) -> FileTooLarge:
    return FileTooLarge(f"The file is larger than the limit of {max_bytes} bytes.")


class HashedUploadedFile(UploadedFile):
    md5: str


class LimitedFileUploadHandler(FileUploadHandler):
    """Takes exactly one file, hashing it (md5) as it arrives; raises FileTooLarge past `max_bytes`."""

    def __init__(self, request: Any = None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.files_seen = 0

    def new_file(
        self, field_name: str, file_name: str, content_type: str, content_length: int | None, *args: Any, **kwargs: Any
    ) -> None:
        super().new_file(field_name, file_name, content_type, content_length, *args, **kwargs)
        self.files_seen += 1
        if self.files_seen > 1:
            raise ValidationError({"file": ["Send exactly one file, in the multipart field `file`."]})
        self.buffer = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
        self.digest = hashlib.md5(usedforsecurity=False)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.buffer.close()
            raise file_too_large(self.max_bytes)
        self.digest.update(raw_data)
        self.buffer.write(raw_data)

    def file_complete(self, file_size: int) -> HashedUploadedFile:
        self.buffer.seek(0)
        uploaded = HashedUploadedFile(
            file=self.buffer, name=self.file_name, content_type=self.content_type, size=file_size, charset=self.charset
        )
        uploaded.md5 = self.digest.hexdigest()
        return uploaded
