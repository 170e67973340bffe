"""OpenAPI tweaks: unique names for the nested Input/Output serializers of each API class; every error in the
one error shape, and the endpoints grouped by tag (`document_errors_and_tags`, a postprocessing hook)."""

from typing import Any, Literal

from drf_spectacular.openapi import AutoSchema as _AutoSchema
from rest_framework.serializers import Serializer


class AutoSchema(_AutoSchema):
    def get_serializer_name(self, serializer: Serializer, direction: Literal["request", "response"]) -> str:
        qualname = type(serializer).__qualname__
        if "." in qualname:  # StudentsApi.InputSerializer -> StudentsApiInput
            return qualname.replace(".", "").removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)


# --- every error in the schema, and the endpoints grouped by tag (a postprocessing hook) ------------------------

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error: a snake_case code, a sentence a person can act on, and `fields` for validation.",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "example": "attempt_closed"},
        "detail": {"type": "string"},
        "fields": {
            "type": "object",
            "description": "Field -> its messages; a list's or an object's items nest by index or name.",
            "additionalProperties": {},
        },
    },
}

_STORE_DOWN = "answer_store_unavailable: the answer store did not answer; nothing was saved or read. Try again."
_NOT_YOURS = "not_found: no such exam, or not one this caller may see."

# What each operation answers besides its success, where it says more than the generic 400/401/403/404 below.
OPERATION_ERRORS: dict[tuple[str, str], dict[str, str]] = {
    ("post", "/api/exams"): {
        "404": "not_found: the subject exists and is not one of yours (an admin assigns existing subjects).",
        "409": "exam_code_taken: another exam already has this code.",
        "422": "validation_error: a question has fewer than two choices or no correct one, the window closes before "
        "it opens, or questions were given for an exam that is not online.",
    },
    ("patch", "/api/exams/{exam_id}"): {
        "404": f"{_NOT_YOURS} Or the subject is not one of yours.",
        "409": "status_not_forward (draft, published, closed, graded only move forward), questions_locked (students "
        "have started: correct questions and choices, but do not add or remove them), exam_code_taken, or a kind "
        "change after students started.",
        "422": "validation_error: as for POST /api/exams; also publishing an online exam without questions.",
    },
    ("get", "/api/exams/{exam_id}"): {"404": _NOT_YOURS},
    ("post", "/api/exams/{exam_id}/attempt"): {
        "404": _NOT_YOURS,
        "409": "exam_not_open: the exam is not open now (outside its window, not published, or not online).",
    },
    ("put", "/api/exams/{exam_id}/answers"): {
        "404": _NOT_YOURS,
        "409": "attempt_not_started (start the exam first) or attempt_closed (finished, or past the deadline plus "
        "grace: the answer was not taken).",
        "422": "validation_error: a question not in the exam, a choice not in its question, a repeated question, "
        "several choices for a single-answer question, or not 1 to 200 items.",
        "503": _STORE_DOWN,
    },
    ("get", "/api/exams/{exam_id}/answers"): {"404": _NOT_YOURS, "503": _STORE_DOWN},
    ("post", "/api/exams/{exam_id}/finish"): {
        "404": _NOT_YOURS,
        "409": "attempt_not_started: there is no attempt to finish.",
    },
    ("get", "/api/exams/{exam_id}/result"): {"404": "not_found: not graded yet, or the results are not released."},
    ("post", "/api/exams/{exam_id}/grade"): {
        "404": _NOT_YOURS,
        "409": "exam_not_online, exam_not_published or exam_without_questions.",
    },
    ("post", "/api/auth/login"): {
        "401": "not_authenticated: the email or the password is wrong (one message for both).",
        "429": "throttled: too many attempts from this client or for this email; wait and try again.",
    },
}

# Paths by their first segments -> the tag that groups them in the docs; the first match wins.
TAGS: tuple[tuple[str, str], ...] = (
    ("/api/auth/", "auth"),
    ("/api/me", "accounts"),
    ("/api/students", "accounts"),
    ("/api/doctors", "accounts"),
    ("/api/api-keys", "accounts"),
    ("/api/exams/{exam_id}/attempt", "exam taking"),
    ("/api/exams/{exam_id}/answers", "exam taking"),
    ("/api/exams/{exam_id}/finish", "exam taking"),
    ("/api/exams/{exam_id}/result", "exam taking"),
    ("/api/exams/{exam_id}/review", "exam taking"),
    ("/api/exams/{exam_id}/grade", "grading"),
    ("/api/exams/{exam_id}/degrees", "grading"),
    ("/api/exams/{exam_id}/stats", "grading"),
    ("/api/exams/{exam_id}/handins", "hand-ins"),
    ("/api/exams/{exam_id}/accommodations", "exam rules"),
    ("/api/exams/{exam_id}/attempts", "exam rules"),
    ("/api/audit", "exam rules"),
    ("/api/exams", "exams"),
    ("/api/jobs", "jobs"),
    ("/api/imports", "imports"),
    ("/grades/", "course grades"),
    ("/import", "markr"),
    ("/results", "markr"),
    ("/submissions/", "hand-ins"),
    ("/verifications/", "hand-ins"),
    ("/health", "service"),
    ("/", "service"),
)
TAG_DESCRIPTIONS = {
    "auth": "JWT sign-in, refresh, verify and sign-out.",
    "accounts": "People and API keys.",
    "exams": "Writing exams (doctors).",
    "exam taking": "Starting, answering and finishing an exam (students). Every response carries server_time.",
    "grading": "Grading, degrees and statistics.",
    "exam rules": "Accommodations, attempts, appeals and the audit record.",
    "jobs": "Background work with progress.",
    "imports": "Grade files processed in the background.",
    "course grades": "The Student Grading System's API.",
    "markr": "Scanned results (Markr XML).",
    "hand-ins": "Files handed in with an upload code.",
    "service": "Welcome and health.",
}


def _tag_for(path: str) -> str:
    for prefix, tag in TAGS:
        if path == prefix or path.startswith(prefix):
            return tag
    return "service"


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}},
    }


def document_errors_and_tags(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Every operation lists its errors in the one error shape (the ones it documents itself are kept), and is
    tagged by area so that the docs group it."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    used: set[str] = set()
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            tag = _tag_for(path)
            operation["tags"] = [tag]
            used.add(tag)
            responses = operation["responses"]
            for status, description in OPERATION_ERRORS.get((method, path), {}).items():
                responses.setdefault(status, _error_response(description))
            if "requestBody" in operation:
                responses.setdefault("400", _error_response("malformed_body or validation_error: see `fields`."))
            secured = [s for s in operation.get("security", []) if s]
            if secured:
                responses.setdefault("401", _error_response("not_authenticated: no valid token or API key."))
                responses.setdefault("403", _error_response("forbidden: this role may not do this."))
            if "{" in path:
                responses.setdefault("404", _error_response("not_found: not found, or not visible to this caller."))
    result["tags"] = [{"name": tag, "description": TAG_DESCRIPTIONS.get(tag, "")} for tag in sorted(used)]
    return result
