"""A JSON parser that enforces DATA_UPLOAD_MAX_MEMORY_SIZE, which DRF's own parser does not do when it
reads the body as a stream, and refuses JSON nested deeper than JSON_MAX_DEPTH with a 400 (deep nesting would
otherwise exhaust the interpreter's recursion limit: a 500 and an error-log row per request)."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Strings (whose brackets do not nest anything) and everything that is not a bracket.
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = re.compile(rb"[^\[\]{}]+")
_DEPTH_STEP = [0] * 256
_DEPTH_STEP[ord("[")] = _DEPTH_STEP[ord("{")] = 1
_DEPTH_STEP[ord("]")] = _DEPTH_STEP[ord("}")] = -1


def json_too_deep(body: bytes, max_depth: int) -> bool:
    """True when the JSON text opens more than `max_depth` arrays or objects inside one another. Runs at C
    speed: strings and non-brackets are removed by regular expressions, and the running depth is a sum."""
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False
    for run in (b"[" * (max_depth + 1), b"{" * (max_depth + 1)):  # the common attack, found at once
        at = body.find(run)
        if at != -1 and b'"' not in body[:at]:  # no string has begun before it, so it nests
            return True
    brackets = _NOT_BRACKETS.sub(b"", _STRINGS.sub(b"", body))
    return bool(brackets) and max(accumulate(map(_DEPTH_STEP.__getitem__, brackets))) > max_depth


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        from core.common.errors import PayloadTooLarge  # errors imports DRF, whose settings import this
        from core.common.uploads import body_read

        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = body_read(
            stream=stream, limit=limit, error=PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        )
        max_depth = settings.JSON_MAX_DEPTH
        if json_too_deep(body, max_depth):
            raise ParseError(f"JSON parse error - arrays and objects nest deeper than {max_depth} levels.")
        return super().parse(io.BytesIO(body), media_type, parser_context)
