"""Reading a Markr document: safe XML parsing and the per-result rules of docs/api.md's Markr section.

Pure functions, no database: the synchronous `POST /import` and a background import can share them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from core.accounts.validators import STUDENT_NUMBER_RE
from core.common.errors import DomainError, Invalid

ROOT_TAG = "mcq-test-results"
RESULT_TAG = "mcq-test-result"
FIELD_TAGS = ("first-name", "last-name", "student-number", "test-id", "summary-marks")
REQUIRED_TAGS = ("student-number", "test-id", "summary-marks")
CONTENT_TYPE = "text/xml+markr"

# The columns behind these values: Exam.code (64), User.student_number (64), User.full_name (200),
# Degree.marks_* (PostgreSQL integer).
TEST_ID_MAX = 64
FULL_NAME_MAX = 200
NAME_PART_MAX = 100  # MarkrScan.first_name and last_name
MARKS_MAX = 2_147_483_647


class MalformedXml(DomainError):
    status, code, detail = 400, "malformed_body", "The body is not well-formed XML."


class XmlDeclarationsForbidden(DomainError):
    status, code, detail = 400, "dtd_forbidden", "Markr documents may not use a DTD or entity declarations."


class InvalidDocument(Invalid):
    """422: well-formed XML that breaks a Markr rule. `fields` names the first bad result, 1-based."""

    code = "validation_error"

    @classmethod
    def at(cls, index: int, reason: str) -> InvalidDocument:
        return cls(f"Result {index} is not valid: {reason}", fields={f"{RESULT_TAG}[{index}]": [reason]})


@dataclass(frozen=True)
class MarkrResult:
    index: int  # 1-based position among the document's <mcq-test-result> elements
    student_number: str
    full_name: str
    test_id: str
    marks_obtained: int
    marks_available: int
    first_name: str = ""
    last_name: str = ""
    scanned_on: datetime | None = None  # the result's scanned-on, in UTC; None when missing or unreadable


@dataclass
class MarkrDocument:
    results: list[MarkrResult] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (index, reason), in document order


# lxml parser options: no entity expansion, no network, no DTD loading, libxml2's size limits kept on.
# A fresh parser (or iterparse) per document: lxml parsers are not safe to share between threads.
SAFE_PARSING: dict[str, bool] = {
    "resolve_entities": False,
    "no_network": True,
    "dtd_validation": False,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


def _check_declarations(root: etree._Element) -> None:
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlDeclarationsForbidden()


def _count(attribute: str, raw: str | None) -> tuple[int | None, str | None]:
    if raw is None:
        return None, f"summary-marks has no {attribute} attribute."
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):
        return None, f"summary-marks {attribute}={raw!r} is not a non-negative integer."
    value = int(text)
    if value > MARKS_MAX:
        return None, f"summary-marks {attribute}={text} is too large."
    return value, None


def _text(element: etree._Element | None) -> str:
    return "" if element is None else " ".join((element.text or "").split())


def _scanned_on(raw: str | None) -> datetime | None:
    """The scanned-on attribute (ISO 8601) in UTC; a time without an offset is taken as UTC. It is not one
    of the fields docs/api.md requires, so a missing or unreadable one is kept as None rather than refused."""
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def markr_result(index: int, element: etree._Element) -> tuple[MarkrResult | None, str | None]:
    children: dict[str, etree._Element] = {}
    for child in element.iterchildren(*FIELD_TAGS):  # <answer> and unknown elements are skipped in C
        if child.tag in children:
            return None, f"<{child.tag}> appears more than once."
        children[child.tag] = child
    for tag in REQUIRED_TAGS:
        if tag not in children:
            return None, f"<{tag}> is missing."
    marks = children["summary-marks"]
    obtained, problem = _count("obtained", marks.get("obtained"))
    if problem:
        return None, problem
    available, problem = _count("available", marks.get("available"))
    if problem:
        return None, problem
    assert obtained is not None and available is not None
    if available == 0:
        return None, "summary-marks available is 0."
    if obtained > available:
        return None, f"summary-marks obtained ({obtained}) is greater than available ({available})."
    student_number = (children["student-number"].text or "").strip()
    if not student_number:
        return None, "<student-number> is empty."
    if not STUDENT_NUMBER_RE.fullmatch(student_number):
        return None, "<student-number> must be 1 to 64 letters, digits, '-' or '_'."
    test_id = (children["test-id"].text or "").strip()
    if not test_id:
        return None, "<test-id> is empty."
    if len(test_id) > TEST_ID_MAX:
        return None, f"<test-id> is longer than {TEST_ID_MAX} characters."
    if "/" in test_id:
        return None, "<test-id> may not contain '/'."
    first_name, last_name = (_text(children.get(tag))[:NAME_PART_MAX] for tag in ("first-name", "last-name"))
    full_name = " ".join(part for part in (first_name, last_name) if part)
    return (
        MarkrResult(
            index=index,
            student_number=student_number,
            full_name=full_name[:FULL_NAME_MAX],
            test_id=test_id,
            marks_obtained=obtained,
            marks_available=available,
            first_name=first_name,
            last_name=last_name,
            scanned_on=_scanned_on(element.get("scanned-on")),
        ),
        None,
    )


def markr_parse(body: bytes, *, stop_at_first_error: bool = True) -> MarkrDocument:
    """Read every <mcq-test-result> that is a child of the root, streaming (lxml iterparse, each result freed
    once read). The whole body is always parsed before any 422, so that XML that is not well formed is a 400
    wherever the fault is. With `stop_at_first_error` (the synchronous import) the first bad result raises
    InvalidDocument; otherwise bad results are collected in `errors` and skipped."""
    if not body.strip():
        raise MalformedXml("The body is empty; send a Markr XML document.")
    document = MarkrDocument()
    index = 0
    events = etree.iterparse(io.BytesIO(body), events=("end",), tag=RESULT_TAG, **SAFE_PARSING)
    try:
        for _event, element in events:
            parent = element.getparent()
            if parent is None or parent.getparent() is not None:
                continue  # not a result of the root; a wrong root is reported below
            index += 1
            if not (stop_at_first_error and document.errors):
                result, problem = markr_result(index, element)
                if problem is not None:
                    document.errors.append((index, problem))
                elif result is not None:
                    document.results.append(result)
            element.clear()
            while element.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        raise MalformedXml(f"The body is not well-formed XML: {exc.msg}") from exc
    root = events.root
    _check_declarations(root)
    if root.tag != ROOT_TAG:
        raise InvalidDocument(
            f"The root element is <{root.tag}>; a Markr document's root is <{ROOT_TAG}>.",
            fields={"root": [f"expected <{ROOT_TAG}>"]},
        )
    if stop_at_first_error and document.errors:
        raise InvalidDocument.at(*document.errors[0])
    if not document.results and not document.errors:
        raise InvalidDocument(
            f"The document holds no <{RESULT_TAG}> element.", fields={ROOT_TAG: [f"no <{RESULT_TAG}>"]}
        )
    return document


@dataclass(frozen=True)
class MergedMarks:
    student_number: str
    test_id: str
    marks_obtained: int
    marks_available: int


def markr_merge(results: list[MarkrResult]) -> tuple[list[MergedMarks], dict[str, str], dict[str, int]]:
    """Apply the Markr rule within one document: per (student, test), the highest obtained and the highest
    available, each on its own. Returns the merged marks, each student's name (the first non-empty one),
    and each test's first result index."""
    marks: dict[tuple[str, str], list[int]] = {}
    names: dict[str, str] = {}
    first_index: dict[str, int] = {}
    for result in results:
        key = (result.student_number, result.test_id)
        current = marks.get(key)
        if current is None:
            marks[key] = [result.marks_obtained, result.marks_available]
        else:
            current[0] = max(current[0], result.marks_obtained)
            current[1] = max(current[1], result.marks_available)
        if not names.get(result.student_number):
            names[result.student_number] = result.full_name
        first_index.setdefault(result.test_id, result.index)
    merged = [MergedMarks(s, t, o, a) for (s, t), (o, a) in marks.items()]
    return merged, names, first_index


class UnsupportedMediaType(DomainError):
    status, code, detail = 415, "unsupported_media_type", f"Send the document as Content-Type: {CONTENT_TYPE}."


def markr_content_type_check(header: str | None) -> None:
    """`text/xml+markr`, in any case, with any parameters (`; charset=utf-8`). Anything else is a 415."""
    media_type = (header or "").split(";", 1)[0].strip().lower()
    if media_type != CONTENT_TYPE:
        shown = media_type or "none"
        raise UnsupportedMediaType(f"Content-Type {shown} is not accepted; send {CONTENT_TYPE}.")
