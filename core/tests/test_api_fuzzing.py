"""API fuzzing: schemathesis against our own OpenAPI schema, served in-process by the real WSGI application.

For EVERY operation of /api/schema/ it generates requests from the schema and sends them with a valid token
(a student's for the exam-taking operations, an admin's for the rest, and the owner doctor's for the doctor
operations), three ways:

- positive data with the path pointing at real fixtures (so the requests reach the services, not only a 404);
- negative data (the schema forbids it) at the same fixtures;
- positive data with generated path parameters (odd ids, codes and names).

Every response must not be a 5xx (`not_a_server_error`), must match the schema documented for its status
(`response_schema_conformance`), and a request the schema forbids must not get a 2xx (`negative_data_rejection`).
It is bounded (FUZZ_EXAMPLES per operation and pass, derandomized, no deadline) so it fits in `make test`.
Each example runs in a savepoint that is rolled back, so examples do not change the fixtures for each other.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.cache.backends.base import CacheKeyWarning
from django.db import close_old_connections, transaction
from django.test import Client, TestCase
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.test import APIClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import negative_data_rejection, response_schema_conformance

from core.accounts.services import api_key_create
from core.tests.helpers import World, access_token, build_world
from core.wsgi import application

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, response_schema_conformance, negative_data_rejection]
# Operations a student performs; every other one is fuzzed as an admin (and the doctor ones as a doctor too).
STUDENT_OPERATIONS = {
    "POST /api/exams/{exam_id}/attempt",
    "PUT /api/exams/{exam_id}/answers",
    "GET /api/exams/{exam_id}/answers",
    "POST /api/exams/{exam_id}/finish",
    "GET /api/exams/{exam_id}/result",
    "GET /api/exams/{exam_id}/review",
    "POST /api/auth/logout",
}
ADMIN_ONLY = {"POST /api/doctors"}  # no doctor pass


@contextlib.contextmanager
def in_test_transaction() -> Iterator[None]:
    """Let requests through the real WSGI handler without closing the test's connection after each one (what
    Django's own test client does): the handler's request signals would close a connection in a transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _without_security(document: Any) -> Any:
    """The schema without its security requirements, so schemathesis sends no made-up credentials of its own;
    each request carries the real token the test gives it (the matrix covers who may call what)."""
    if isinstance(document, dict):
        return {k: _without_security(v) for k, v in document.items() if k not in ("security", "securitySchemes")}
    if isinstance(document, list):
        return [_without_security(v) for v in document]
    return document


def load_schema() -> Any:
    """The live schema as /api/schema/ serves it, sent to the real WSGI application."""
    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200, response.status_code
    schema = schemathesis.openapi.from_dict(_without_security(response.json()))
    schema.app = application
    schema.location = "/api/schema/"
    return schema


@dataclass
class Finding:
    operation: str  # "GET /api/jobs"
    check: str  # schemathesis' failure title, e.g. "Response violates schema"
    where: str  # role, generation mode, fixed or generated path
    detail: str  # the report, with a curl command to reproduce

    def __str__(self) -> str:
        reproduce = "\n".join(line.strip() for line in self.detail.splitlines() if line.strip().startswith("curl "))
        return f"[{self.where}] {self.operation}: {self.check}\n{reproduce}\n{self.detail[:1500]}"


@dataclass
class Tally:
    operations: int = 0
    requests: int = 0
    codes: dict[int, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


# Bugs this suite found and nobody has fixed yet: (operation, check). They are left out of the main test, which
# guards everything else; each gets an exact reproduction below, marked as an expected failure until it is fixed.
# Every finding so far has been fixed; their reproductions stay below as regression tests.
SCHEMA_VIOLATED, SERVER_ERROR, NEGATIVE_ACCEPTED = (
    "Response violates schema",
    "Server error",
    "Schema-violating request accepted",
)
KNOWN_FINDINGS: set[tuple[str, str]] = set()


class ApiFuzzingTests(TestCase):
    world: World

    @classmethod
    def setUpTestData(cls) -> None:
        cache.clear()
        cls.world = build_world("fz")
        cls.spare_key_id = api_key_create(user=cls.world.owner, name="spare")[0].id

    def setUp(self) -> None:
        self.enterContext(warnings.catch_warnings())
        warnings.simplefilter("ignore", CacheKeyWarning)  # fuzzed emails make odd (but harmless) throttle keys
        self.schema = load_schema()
        # After the test client's request: it connects the request signals again when it is done.
        self.enterContext(in_test_transaction())
        w = self.world
        self.tokens = {
            "student": access_token(w.student_a),
            "admin": access_token(w.admin),
            "doctor": access_token(w.owner),
        }

    def _path_parameters(self, label: str) -> dict[str, Any]:
        w = self.world
        exam = w.online.id
        if "/handins" in label:
            exam = w.handin_exam.id
        elif label.endswith(("/degrees", "/stats", "/result", "/review")):
            exam = w.released.id
        elif "/degrees/" in label:
            exam = w.paper.id
        elif label.startswith("PATCH"):
            exam = w.draft.id
        return {
            "exam_id": exam,
            "key_id": self.spare_key_id,
            "job_id": w.job.id,
            "subject": w.math.name,
            "student_id": w.student_a.student_number,
            "student_number": w.student_a.student_number,
            "test_id": w.paper.code,
            "upload_code": w.upload_code,
            "verification_code": w.verification_code,
        }

    def _fuzz(self, operation: Any, *, role: str, mode: GenerationMode, fixed: bool, tally: Tally) -> None:
        """One bounded pass over an operation. Every example runs in a savepoint that is rolled back."""
        label = operation.label
        names = {p.name for p in operation.path_parameters}
        path_parameters = {k: v for k, v in self._path_parameters(label).items() if k in names} if fixed else None
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        where = f"{role}, {mode.value}, {'fixture' if fixed else 'generated'} path"
        seen: set[str] = set()

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            with transaction.atomic():
                response = case.call(headers=headers)
                transaction.set_rollback(True)
            cache.clear()  # throttles and cached keys start again from the fixtures too
            tally.requests += 1
            tally.codes[response.status_code] = tally.codes.get(response.status_code, 0) + 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (Failure, FailureGroup) as exc:  # keep going; every distinct failure is reported at the end
                for failure in getattr(exc, "exceptions", (exc,)):
                    if failure.title not in seen:
                        seen.add(failure.title)
                        tally.findings.append(Finding(label, failure.title, where, str(exc)))

        try:
            run()
        except Unsatisfiable:
            # Nothing in this operation can be made invalid (no parameters, no body): no negative pass.
            assert mode is GenerationMode.NEGATIVE, label

    def _fuzz_all(self, only: set[str] | None = None) -> Tally:
        tally = Tally()
        for result in self.schema.get_all_operations():
            operation = result.ok()
            label = operation.label
            if only is not None and label not in only:
                continue
            tally.operations += 1
            roles = ["student"] if label in STUDENT_OPERATIONS else ["admin"]
            if label not in STUDENT_OPERATIONS and label not in ADMIN_ONLY:
                roles.append("doctor")
            for role in roles:
                passes = [(GenerationMode.POSITIVE, True), (GenerationMode.NEGATIVE, True)]
                if role != "doctor" and operation.path_parameters:
                    passes.append((GenerationMode.POSITIVE, False))
                for mode, fixed in passes:
                    self._fuzz(operation, role=role, mode=mode, fixed=fixed, tally=tally)
        return tally

    def test_every_operation_survives_fuzzing(self) -> None:
        started = time.monotonic()
        tally = self._fuzz_all()
        new = [f for f in tally.findings if (f.operation, f.check) not in KNOWN_FINDINGS]
        print(
            f"\nAPI fuzzing: {tally.operations} operations, {tally.requests} requests in "
            f"{time.monotonic() - started:.0f} s; status codes {dict(sorted(tally.codes.items()))}; "
            f"{len(tally.findings)} findings ({len(tally.findings) - len(new)} known)"
        )
        if os.environ.get("FUZZ_VERBOSE"):
            print("\n\n".join(str(f) for f in tally.findings))
        # every operation of docs/api.md is in the schema, and GET /metrics and POST /api/auth/logout-all
        self.assertEqual(tally.operations, 51)
        self.assertFalse(new, "\n\n".join(str(f) for f in new))


class KnownFindingsTests(TestCase):
    """One exact reproduction per finding, asserting the contract; an expected failure while its entry is in
    KNOWN_FINDINGS, a regression test once it is fixed."""

    world: World

    @classmethod
    def setUpTestData(cls) -> None:
        cache.clear()
        cls.world = build_world("kf")

    def setUp(self) -> None:
        self.admin = APIClient(raise_request_exception=False)
        self.admin.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(self.world.admin)}")

    def _documents_a_page(self, path: str) -> None:
        """The 200 response of GET `path` in the schema is the paginated shape the endpoint returns."""
        document = self.admin.get("/api/schema/?format=json").json()
        schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        self.assertEqual(schema.get("type"), "object", schema)
        self.assertLessEqual({"count", "next", "previous", "results"}, set(schema.get("properties", {})))

    def test_patch_with_a_choice_without_is_correct_is_not_a_500(self) -> None:
        body = {"questions": [{"text": "Q", "choices": [{"text": "a"}, {"text": "b", "is_correct": True}]}]}
        response = self.admin.patch(f"/api/exams/{self.world.draft.id}", body, format="json")
        self.assertEqual(response.status_code, 200, response.content)

    def test_students_search_with_a_nul_byte_is_a_400(self) -> None:
        self.assertEqual(self.admin.get("/api/students?search=a%00b").status_code, 400)

    def test_students_list_is_documented_as_a_page(self) -> None:
        self._documents_a_page("/api/students")

    def test_api_keys_list_is_documented_as_a_page(self) -> None:
        self._documents_a_page("/api/api-keys")

    def test_exams_list_is_documented_as_a_page(self) -> None:
        self._documents_a_page("/api/exams")

    def test_degrees_list_is_documented_as_a_page(self) -> None:
        self._documents_a_page("/api/exams/{exam_id}/degrees")

    def test_jobs_list_is_documented_as_a_page(self) -> None:
        self._documents_a_page("/api/jobs")

    def test_jobs_refuses_a_mine_outside_its_enum(self) -> None:
        self.assertEqual(self.admin.get("/api/jobs?mine=1469654352160").status_code, 400)

    def test_degrees_refuses_a_format_outside_its_enum(self) -> None:
        self.assertEqual(self.admin.get(f"/api/exams/{self.world.released.id}/degrees?format=").status_code, 400)

    def test_api_key_name_must_be_a_string(self) -> None:
        self.assertEqual(self.admin.post("/api/api-keys", {"name": 12.5}, format="json").status_code, 400)
