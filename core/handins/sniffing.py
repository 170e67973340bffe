"""What a handed-in file really is, from its first bytes. The declared type is never trusted.

The allow-list (decided here, see docs/decisions/0003-handins-storage.md):
- PDF (`%PDF-`);
- ZIP containers, which include DOCX, XLSX, PPTX and ODF documents (`PK\\x03\\x04`, or an empty `PK\\x05\\x06`);
- PNG, JPEG and GIF images;
- plain text: valid UTF-8 without NUL bytes (source code, CSV, Markdown).
Anything else is refused with 415. Downloads are always served as an attachment of type
application/octet-stream, so an allowed type is still never rendered by a browser.
"""

from __future__ import annotations

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)

ALLOWED_DESCRIPTION = "PDF, ZIP (including DOCX/XLSX/PPTX/ODT), PNG, JPEG, GIF or UTF-8 plain text"


def sniff_content_type(data: bytes) -> str | None:
    """The type of `data` if it is on the allow-list, else None. `data` is the whole file (at most a few MiB)."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    if b"\x00" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/plain"
