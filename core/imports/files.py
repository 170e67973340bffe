"""Grade files: what kind a file really is, checked when it is submitted, and streaming readers for the job.

- CSV: UTF-8 (a BOM is accepted), read with the csv module over a text wrapper of the stored file.
- XLSX: a ZIP whose directory names xl/workbook.xml; its uncompressed sizes are checked against
  XLSX_MAX_UNCOMPRESSED_BYTES and XLSX_MAX_RATIO before openpyxl opens it (zip bombs), then read in
  openpyxl's read-only mode, row by row.
- Markr XML: lxml iterparse over <mcq-test-result> elements, each cleared once read; no DTD, no entities.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from lxml import etree

from core.common.errors import DomainError, Invalid

CSV, XLSX, XML = "csv", "xlsx", "xml"
# The first bytes read to tell a file's kind and check its encoding.
SNIFF_BYTES = 64 * 1024
# An XLSX of IMPORT_MAX_BYTES compressed is at most this big inside; real sheets compress ~5-10x.
XLSX_MAX_UNCOMPRESSED_BYTES = 2 * 1024 * 1024 * 1024
XLSX_MAX_RATIO = 200

csv.field_size_limit(min(sys.maxsize, 1024 * 1024))


class UnsupportedFileType(DomainError):
    status, code = 415, "unsupported_media_type"


class NotUtf8(Invalid):
    code = "not_utf8"
    detail = "The file is not UTF-8 text; save it as CSV UTF-8 and send it again."


class FileBroken(Exception):
    """The stored file cannot be read on: the job fails with this message."""


def file_kind_check(*, file: IO[bytes], markr: bool) -> str:
    """CSV, XLSX or XML, from the content (the declared type and name are not trusted). Raises 415 for any
    other kind and 422 `not_utf8` for text that is not UTF-8. Leaves the file at position 0."""
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    if markr:
        text = head.removeprefix(codecs.BOM_UTF8).lstrip()
        if not text.startswith(b"<"):
            raise UnsupportedFileType("A markr import takes a Markr XML document.")
        return XML
    if head.startswith(b"PK\x03\x04"):
        xlsx_check(file)
        return XLSX
    if b"\x00" in head or head.lstrip().startswith(b"<"):
        raise UnsupportedFileType("A grade import takes a CSV (UTF-8) or an XLSX file.")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise NotUtf8() from exc
    return CSV


def xlsx_check(file: IO[bytes]) -> None:
    """A real XLSX whose directory promises nothing too big to unpack; 415 otherwise."""
    file.seek(0)
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsupportedFileType("The file looks like a ZIP but cannot be read; send CSV or XLSX.") from exc
    finally:
        file.seek(0)
    names = {member.filename for member in members}
    if "xl/workbook.xml" not in names:
        raise UnsupportedFileType("The ZIP is not an XLSX workbook; send CSV or XLSX.")
    total = sum(member.file_size for member in members)
    if total > XLSX_MAX_UNCOMPRESSED_BYTES or any(
        member.file_size > XLSX_MAX_RATIO * max(member.compress_size, 1) + 1024 * 1024 for member in members
    ):
        raise UnsupportedFileType("The workbook unpacks to far more than its size; it is refused.")


def count_lines(file: IO[bytes]) -> int:
    """Newlines in the file, read in 1 MiB chunks (an estimate of the rows, for the progress bar)."""
    file.seek(0)
    lines, last = 0, b""
    while chunk := file.read(1024 * 1024):
        lines += chunk.count(b"\n")
        last = chunk
    file.seek(0)
    return lines + (1 if last and not last.endswith(b"\n") else 0)


def count_occurrences(file: IO[bytes], needle: bytes) -> int:
    file.seek(0)
    count, tail = 0, b""
    while chunk := file.read(1024 * 1024):
        window = tail + chunk
        count += window.count(needle)
        # The last len-1 bytes cannot hold a whole match, so nothing is counted twice.
        tail = window[-(len(needle) - 1) :]
    file.seek(0)
    return count


def _header_index(header: list[Any], columns: tuple[str, ...]) -> list[int]:
    names = [str(cell).strip().lstrip("\ufeff").lower() if cell is not None else "" for cell in header]
    missing = [column for column in columns if column not in names]
    if missing:
        shown = ", ".join(name for name in names if name) or "none"
        raise FileBroken(f"The header has no column {', '.join(missing)} (its columns: {shown}).")
    return [names.index(column) for column in columns]


def csv_rows(file: IO[bytes], columns: tuple[str, ...]) -> Iterator[tuple[int, list[str] | None]]:
    """(line number, the wanted columns' values) for each data row; values None for a row that is too short.
    Blank lines are skipped. Raises FileBroken on a header without the columns, or on bytes that are not UTF-8."""
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader, None)
        if header is None:
            raise FileBroken("The file is empty.")
        indexes = _header_index(header, columns)
        needed = max(indexes) + 1
        for row in reader:
            if not row:
                continue
            if len(row) < needed:
                yield reader.line_num, None
            else:
                yield reader.line_num, [row[i] for i in indexes]
    except UnicodeDecodeError as exc:
        raise FileBroken(f"The file is not UTF-8 text (after line {reader.line_num}); save it as CSV UTF-8.") from exc
    except csv.Error as exc:
        raise FileBroken(f"The CSV cannot be read at line {reader.line_num}: {exc}.") from exc
    finally:
        text.detach()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def xlsx_rows(file: IO[bytes], columns: tuple[str, ...]) -> Iterator[tuple[int, list[str] | None]]:
    """As csv_rows, for the first sheet of an XLSX workbook, read in openpyxl's read-only (streaming) mode."""
    from openpyxl import load_workbook

    xlsx_check(file)
    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise FileBroken(f"The workbook cannot be opened: {exc}.") from exc
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise FileBroken("The first sheet is empty.")
        indexes = _header_index(list(header), columns)
        for line, row in enumerate(rows, start=2):
            if row is None or all(cell is None or cell == "" for cell in row):
                continue
            if len(row) <= max(indexes):
                yield line, None
            else:
                yield line, [_cell_text(row[i]) for i in indexes]
    finally:
        workbook.close()


def xlsx_row_estimate(file: IO[bytes]) -> int:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
        try:
            return max((workbook.worksheets[0].max_row or 1) - 1, 0)
        finally:
            workbook.close()
    except Exception:
        return 0
    finally:
        file.seek(0)


def markr_elements(file: IO[bytes]) -> Iterator[tuple[int, int, Any]]:
    """(result index, line number, element) for each <mcq-test-result> under the root, each cleared after use.
    Raises FileBroken for XML that is not well formed, declares a DTD, or has another root."""
    from core.gradebook.markr import RESULT_TAG, ROOT_TAG

    context = etree.iterparse(
        file,
        events=("end",),
        tag=RESULT_TAG,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    index = 0
    try:
        for _, element in context:
            root = element.getroottree().getroot()
            if index == 0:
                _markr_root_check(root, ROOT_TAG)
            if element.getparent() is root:
                index += 1
                yield index, element.sourceline or 0, element
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                del element.getparent()[0]
        root = getattr(context, "root", None)
        if root is None:
            raise FileBroken("The document is empty.")
        _markr_root_check(root, ROOT_TAG)
    except etree.XMLSyntaxError as exc:
        raise FileBroken(f"The XML is not well formed: {exc.msg}.") from exc


def _markr_root_check(root: Any, root_tag: str) -> None:
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise FileBroken("Markr documents may not use a DTD or entity declarations.")
    if root.tag != root_tag:
        raise FileBroken(f"The root element is <{root.tag}>; a Markr document's root is <{root_tag}>.")
