"""The permission matrix: every endpoint of docs/api.md against every kind of caller, each cell with its status code.

Read a row as "this request, sent by each caller, gets these codes". Callers:

    anon   nobody (no credentials)
    stuA   student A, with a JWT          stuB   student B, same level as A
    own    the doctor who owns the exams  oth    another doctor (own subject, no exams here)
    ownK   an API key of the owner        othK   an API key of the other doctor
    rev    a revoked API key (the owner's)
    exp    an expired JWT (the admin's: right algorithm, key, audience, issuer and type; only `exp` is past)
    adm    an admin, with a JWT

Each cell runs from the same fixtures: its database writes are rolled back and the cache is emptied after it, so
no cell depends on another's order. Where docs/api.md is silent the table follows the implemented choice, which is
documented in the schema: a person's endpoints (GET /api/me, /api/exams, /api/jobs, managing keys and doctors)
refuse API keys with 403; endpoints that need no credentials (/, /health, login, refresh, verify, the hand-in
codes) ignore whatever credentials come with the request; the answer-saving hot path authenticates JWTs only,
so an API key there is the same as no credentials (401).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import TestCase
from django.urls import get_resolver, resolve
from rest_framework.test import APIClient

from core.accounts.services import api_key_create
from core.exams.models import Exam
from core.tests.helpers import PASSWORD, World, access_token, build_world, pdf_upload, refresh_token

CALLERS = ("anon", "stuA", "stuB", "own", "oth", "ownK", "othK", "rev", "exp", "adm")
STUDENTS = ("stuA", "stuB")

# fmt: off
# (method, path, body)                                   anon stuA stuB own  oth  ownK othK rev  exp  adm
MATRIX: list[tuple[str, str, str | None, tuple[int, ...]]] = [
    # Service
    ("GET",    "/",                                None,     (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET",    "/health",                          None,     (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET",    "/api/schema/",                     None,     (200, 200, 200, 200, 200, 200, 200, 401, 401, 200)),
    # By address, not by credentials: every caller here is on loopback (core/tests/test_observability.py
    # has the refusals of other addresses).
    ("GET",    "/metrics",                         None,     (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    # Accounts
    ("POST",   "/api/auth/login",                  "login",  (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("POST",   "/api/auth/refresh",                "refresh", (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("POST",   "/api/auth/verify",                 "verify", (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    # The refresh token in the body is student A's: nobody else may log it out.
    ("POST",   "/api/auth/logout",                 "logout", (401, 204, 401, 401, 401, 401, 401, 401, 401, 401)),
    ("POST",   "/api/auth/logout-all",             None,     (401, 204, 204, 204, 204, 403, 403, 401, 401, 204)),
    ("GET",    "/api/me",                          None,     (401, 200, 200, 200, 200, 403, 403, 401, 401, 200)),
    ("POST",   "/api/students",                    "student", (401, 403, 403, 201, 201, 201, 201, 401, 401, 201)),
    ("GET",    "/api/students",                    None,     (401, 403, 403, 200, 200, 200, 200, 401, 401, 200)),
    ("POST",   "/api/doctors",                     "doctor", (401, 403, 403, 403, 403, 403, 403, 401, 401, 201)),
    ("POST",   "/api/api-keys",                    "key",    (401, 403, 403, 201, 201, 403, 403, 401, 401, 201)),
    ("GET",    "/api/api-keys",                    None,     (401, 403, 403, 200, 200, 403, 403, 401, 401, 200)),
    ("DELETE", "/api/api-keys/{spare_key}",        None,     (401, 403, 403, 204, 404, 403, 403, 401, 401, 204)),
    # Exams and answers
    ("GET",    "/api/exams",                       None,     (401, 200, 200, 200, 200, 403, 403, 401, 401, 200)),
    ("POST",   "/api/exams",                       "exam",   (401, 403, 403, 201, 201, 201, 201, 401, 401, 201)),
    ("GET",    "/api/exams/{online}",              None,     (401, 200, 200, 200, 404, 403, 403, 401, 401, 200)),
    ("GET",    "/api/exams/{draft}",               None,     (401, 404, 404, 200, 404, 403, 403, 401, 401, 200)),
    ("PATCH",  "/api/exams/{online}",              "rename", (401, 403, 403, 200, 404, 200, 404, 401, 401, 200)),
    ("POST",   "/api/exams/{online}/attempt",      None,     (401, 200, 200, 403, 403, 403, 403, 401, 401, 403)),
    ("PUT",    "/api/exams/{online}/answers",      "answers", (401, 200, 200, 403, 403, 401, 401, 401, 401, 403)),
    ("GET",    "/api/exams/{online}/answers",      None,     (401, 200, 200, 403, 403, 401, 401, 401, 401, 403)),
    ("POST",   "/api/exams/{online}/finish",       None,     (401, 202, 202, 403, 403, 401, 401, 401, 401, 403)),
    ("GET",    "/api/exams/{released}/result",     None,     (401, 200, 200, 403, 403, 403, 403, 401, 401, 403)),
    # Graded, but not released: no result for anybody yet.
    ("GET",    "/api/exams/{unreleased}/result",   None,     (401, 404, 404, 403, 403, 403, 403, 401, 401, 403)),
    ("POST",   "/api/exams/{online}/grade",        None,     (401, 403, 403, 202, 404, 202, 404, 401, 401, 202)),
    ("GET",    "/api/exams/{released}/degrees",    None,     (401, 403, 403, 200, 404, 200, 404, 401, 401, 200)),
    ("GET",    "/api/exams/{released}/stats",      None,     (401, 403, 403, 200, 404, 200, 404, 401, 401, 200)),
    ("GET",    "/api/exams/{released}/review",     None,     (401, 200, 200, 403, 403, 403, 403, 401, 401, 403)),
    ("GET",    "/api/exams/{unreleased}/review",   None,     (401, 404, 404, 403, 403, 403, 403, 401, 401, 403)),
    ("PUT",    "/api/exams/{released}/degrees/{number_a}",
                                                   "override", (401, 403, 403, 200, 404, 200, 404, 401, 401, 200)),
    ("DELETE", "/api/exams/{paper}/degrees/{number_a}/override",
                                                   None,     (401, 403, 403, 204, 404, 204, 404, 401, 401, 204)),
    ("GET",    "/api/audit",                       None,     (401, 403, 403, 200, 200, 200, 200, 401, 401, 200)),
    # What an exam office does to a running exam (student B has an accommodation in the fixtures).
    ("GET",    "/api/exams/{online}/accommodations",  None,  (401, 403, 403, 200, 404, 200, 404, 401, 401, 200)),
    ("PUT",    "/api/exams/{online}/accommodations/{number_a}",
                                                   "accommodation",
                                                             (401, 403, 403, 200, 404, 200, 404, 401, 401, 200)),
    ("DELETE", "/api/exams/{online}/accommodations/{number_b}",
                                                   None,     (401, 403, 403, 204, 404, 204, 404, 401, 401, 204)),
    ("GET",    "/api/exams/{online}/attempts",     None,     (401, 403, 403, 200, 404, 200, 404, 401, 401, 200)),
    ("GET",    "/api/exams/{online}/attempts/{number_a}/history",
                                                   None,     (401, 403, 403, 200, 404, 200, 404, 401, 401, 200)),
    ("POST",   "/api/exams/{online}/attempts/{number_a}/reopen",
                                                   "reopen", (401, 403, 403, 200, 404, 200, 404, 401, 401, 200)),
    ("GET",    "/api/jobs/{job}",                  None,     (401, 404, 404, 200, 404, 200, 404, 401, 401, 200)),
    ("GET",    "/api/jobs?mine=1",                 None,     (401, 200, 200, 200, 200, 403, 403, 401, 401, 200)),
    # Gradebook
    ("POST",   "/grades/submit",                   "grade",  (401, 403, 403, 201, 404, 201, 404, 401, 401, 201)),
    ("GET",    "/grades/subject/{math}",           None,     (401, 403, 403, 200, 404, 200, 404, 401, 401, 200)),
    ("GET",    "/grades/student/{number_a}",       None,     (401, 200, 403, 200, 200, 200, 200, 401, 401, 200)),
    ("POST",   "/import",                          "markr",  (401, 403, 403, 201, 404, 201, 404, 401, 401, 201)),
    ("GET",    "/results/{paper_code}/aggregate",  None,     (401, 403, 403, 200, 404, 200, 404, 401, 401, 200)),
    ("GET",    "/results?test_id={paper_code}",    None,     (401, 403, 403, 200, 200, 200, 200, 401, 401, 200)),
    # Hand-ins: the codes are the credentials, so whoever holds one gets the same answer.
    ("POST",   "/api/exams/{handin}/handins",      "handin", (401, 403, 403, 201, 404, 201, 404, 401, 401, 201)),
    ("GET",    "/api/exams/{handin}/handins",      None,     (401, 403, 403, 200, 404, 200, 404, 401, 401, 200)),
    ("POST",   "/submissions/{upload_code}",       "upload", (201, 201, 201, 201, 201, 201, 201, 201, 201, 201)),
    ("GET",    "/submissions/{upload_code}",       None,     (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET",    "/verifications/{verification_code}/download_url",
                                                   None,     (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    # Background imports
    ("POST",   "/api/imports",                     "import", (401, 403, 403, 202, 202, 202, 202, 401, 401, 202)),
    # The student site: the same page for every caller (its data comes from the API rows above, with the
    # student's token), so a page itself can give away nothing.
    ("GET",    "/app/",                            None,     (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET",    "/app/exams/",                      None,     (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET",    "/app/exams/{online}/",             None,     (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET",    "/app/exams/{online}/result/",      None,     (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET",    "/app/handin/",                     None,     (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
]
# fmt: on


Body = tuple[Any, str]  # (data, format or content type)


def _bodies(world: World, caller: str, serial: int) -> dict[str, Callable[[], Body]]:
    """The request body of each row that has one. Bodies are valid, so a cell's code is about the caller only."""
    key = world.answers_of(world.online)
    pick = {"stuA": 0, "stuB": 2}.get(caller, 0)  # the same choice as each student's fixture save
    markr = (
        '<?xml version="1.0" encoding="UTF-8"?><mcq-test-results><mcq-test-result scanned-on="2017-12-04T12:12:10">'
        f"<first-name>A</first-name><last-name>B</last-name><student-number>{world.tag}M{serial:04d}</student-number>"
        f'<test-id>{world.paper.code}</test-id><summary-marks available="20" obtained="11"/>'
        "</mcq-test-result></mcq-test-results>"
    )
    return {
        "login": lambda: ({"email": world.student_a.email, "password": PASSWORD}, "json"),
        "refresh": lambda: ({"refresh": refresh_token(world.student_a)}, "json"),
        "verify": lambda: ({"token": access_token(world.student_a)}, "json"),
        "logout": lambda: ({"refresh": refresh_token(world.student_a)}, "json"),
        "student": lambda: (
            {"full_name": "New Student", "student_number": f"{world.tag}N{serial:04d}", "level": "Year 1"},
            "json",
        ),
        "doctor": lambda: (
            {"email": f"{world.tag}-new{serial}@example.test", "full_name": "New Doctor", "password": PASSWORD},
            "json",
        ),
        "key": lambda: ({"name": "new key"}, "json"),
        "exam": lambda: (
            {
                "code": f"{world.tag}-NEW-{serial}",
                "title": "New",
                "subject": f"{world.tag} New Subject",
                "level": "Year 1",
                "kind": "online",
                "opens_at": "2030-01-01T09:00:00Z",
                "closes_at": "2030-01-01T11:00:00Z",
                "duration_minutes": 30,
            },
            "json",
        ),
        "rename": lambda: ({"title": "Renamed"}, "json"),
        "override": lambda: ({"marks_obtained": 2.5, "reason": "appeal upheld"}, "json"),
        "accommodation": lambda: ({"extra_minutes": 15}, "json"),
        "reopen": lambda: ({"extra_minutes": 5, "reason": "Power cut in the hall"}, "json"),
        "answers": lambda: ({"answers": [{"question": key[0][0], "choices": [key[0][1][pick]]}]}, "json"),
        "grade": lambda: (
            {"student_id": world.student_a.student_number, "subject": world.math.name, "grade": 90},
            "json",
        ),
        "markr": lambda: (markr.encode(), "text/xml+markr"),
        "handin": lambda: ({"student_number": world.student_b.student_number}, "json"),
        "upload": lambda: ({"file": pdf_upload()}, "multipart"),
        "import": lambda: (
            {"kind": "subject_grades", "file": _csv(f"student_id,subject,grade\n{world.tag}I1,{world.math.name},50\n")},
            "multipart",
        ),
    }


def _csv(text: str) -> Any:
    return SimpleUploadedFile("grades.csv", text.encode(), content_type="text/csv")


def client_for(world: World, caller: str) -> APIClient:
    client = APIClient()
    bearer = {
        "stuA": world.student_a,
        "stuB": world.student_b,
        "own": world.owner,
        "oth": world.other,
        "adm": world.admin,
    }
    keys = {"ownK": world.owner_key, "othK": world.other_key, "rev": world.revoked_key}
    if caller in bearer:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(bearer[caller])}")
    elif caller in keys:
        client.credentials(HTTP_X_API_KEY=keys[caller])
    elif caller == "exp":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.expired_jwt}")
    return client


def send(client: APIClient, method: str, path: str, body: Body | None) -> Any:
    call = getattr(client, method.lower())
    if body is None:
        return call(path)
    data, kind = body
    if kind in ("json", "multipart"):
        return call(path, data, format=kind)
    return call(path, data, content_type=kind)


class PermissionMatrixTests(TestCase):
    world: World

    @classmethod
    def setUpTestData(cls) -> None:
        cache.clear()
        cls.world = build_world("pm")
        cls.spare_key_id = api_key_create(user=cls.world.owner, name="spare")[0].id

    def tearDown(self) -> None:
        cache.clear()

    def _ids(self) -> dict[str, Any]:
        w = self.world
        return {
            "online": w.online.id,
            "draft": w.draft.id,
            "released": w.released.id,
            "unreleased": w.unreleased.id,
            "handin": w.handin_exam.id,
            "job": w.job.id,
            "spare_key": self.spare_key_id,
            "math": quote(w.math.name),
            "number_a": w.student_a.student_number,
            "number_b": w.student_b.student_number,
            "paper_code": w.paper.code,
            "paper": w.paper.id,
            "upload_code": w.upload_code,
            "verification_code": w.verification_code,
        }

    def _cell(self, method: str, template: str, body_name: str | None, caller: str, serial: int) -> Any:
        """One request, from the fixtures as they were built; everything it wrote is rolled back."""
        path = template.format(**self._ids())
        body = _bodies(self.world, caller, serial)[body_name]() if body_name else None
        with transaction.atomic():
            response = send(client_for(self.world, caller), method, path, body)
            transaction.set_rollback(True)
        cache.clear()
        return response

    def test_the_table_covers_every_caller(self) -> None:
        for method, path, _, codes in MATRIX:
            self.assertEqual(len(codes), len(CALLERS), f"{method} {path}")

    def test_every_endpoint_gives_each_caller_its_status_code(self) -> None:
        serial = 0
        for method, template, body_name, codes in MATRIX:
            for caller, expected in zip(CALLERS, codes, strict=True):
                serial += 1
                with self.subTest(f"{method} {template} as {caller}"):
                    response = self._cell(method, template, body_name, caller, serial)
                    self.assertEqual(response.status_code, expected, response.content[:200])
                    if response.status_code >= 400 and response.status_code != 405:
                        # Every refusal has the project's error shape.
                        self.assertIn("error", response.json(), response.content[:300])
                    if caller in STUDENTS and not template.startswith("/api/schema"):
                        self.assertNotIn(b"is_correct", response.content)

    def test_every_api_row_is_in_the_matrix(self) -> None:
        """Each route of the URLconf that docs/api.md lists has a row (so a new endpoint cannot skip the matrix)."""
        covered = {path.split("?")[0] for _, path, _, _ in MATRIX}
        covered_names = {resolve(template.format(**self._ids())).url_name for template in covered}
        not_in_api_md = {"docs", "redoc", "handins-local-download", "imports-admin-start"}
        names = {
            p.name for p in _flatten(get_resolver().url_patterns) if p.name and not str(p.pattern).startswith("admin")
        }
        self.assertEqual(names - covered_names - not_in_api_md, set())


def _flatten(patterns: list) -> list:
    out = []
    for p in patterns:
        if hasattr(p, "url_patterns"):
            if getattr(p, "app_name", None) == "admin" or getattr(p, "namespace", None) == "admin":
                continue
            out.extend(_flatten(p.url_patterns))
        else:
            out.append(p)
    return out


class ContentRulesTests(TestCase):
    """docs/product.md rule 7: a student sees only their own data, never a key, never an unreleased degree."""

    world: World

    @classmethod
    def setUpTestData(cls) -> None:
        cache.clear()
        cls.world = build_world("cr")

    def setUp(self) -> None:
        cache.clear()

    def get(self, caller: str, path: str) -> Any:
        return client_for(self.world, caller).get(path)

    def test_a_student_never_gets_is_correct(self) -> None:
        w = self.world
        for caller in STUDENTS:
            for path in (
                "/api/exams",
                f"/api/exams/{w.online.id}",
                f"/api/exams/{w.released.id}",
                f"/api/exams/{w.online.id}/answers",
            ):
                with self.subTest(caller=caller, path=path):
                    response = self.get(caller, path)
                    self.assertEqual(response.status_code, 200)
                    self.assertNotIn(b"is_correct", response.content)
        # ... while the owner does get it, so the check above is not vacuous.
        response = self.get("own", f"/api/exams/{w.online.id}")
        self.assertIn("is_correct", response.json()["questions"][0]["choices"][0])

    def test_a_student_gets_only_their_own_saved_answers(self) -> None:
        w = self.world
        key = w.answers_of(w.online)
        for caller, pick in (("stuA", 0), ("stuB", 2)):
            with self.subTest(caller=caller):
                answers = self.get(caller, f"/api/exams/{w.online.id}/answers").json()["answers"]
                self.assertEqual([(a["question"], a["choices"]) for a in answers], [(key[0][0], [key[0][1][pick]])])

    def test_a_student_gets_only_their_own_result_and_attempt(self) -> None:
        w = self.world
        self.assertEqual(self.get("stuA", f"/api/exams/{w.released.id}/result").json()["marks_obtained"], 3)
        self.assertEqual(self.get("stuB", f"/api/exams/{w.released.id}/result").json()["marks_obtained"], 1)
        for caller, other in (("stuA", w.student_b), ("stuB", w.student_a)):
            for path in ("/api/exams", f"/api/exams/{w.online.id}", f"/api/exams/{w.released.id}/result", "/api/me"):
                with self.subTest(caller=caller, path=path):
                    body = self.get(caller, path).content.decode()
                    self.assertNotIn(other.student_number, body)
                    self.assertNotIn(other.full_name, body)

    def test_a_student_sees_no_degree_before_release(self) -> None:
        w = self.world
        response = self.get("stuA", f"/api/exams/{w.unreleased.id}/result")
        self.assertEqual(response.status_code, 404)
        self.assertNotIn(b"marks", response.content)
        listed = {e["id"]: e for e in self.get("stuA", "/api/exams").json()["results"]}
        self.assertFalse(listed[w.unreleased.id]["result_available"])
        self.assertTrue(listed[w.released.id]["result_available"])

    def test_a_student_lists_only_published_exams_of_their_level(self) -> None:
        w = self.world
        ids = {e["id"] for e in self.get("stuA", "/api/exams").json()["results"]}
        self.assertNotIn(w.draft.id, ids)
        self.assertIn(w.online.id, ids)
        self.assertTrue(all(Exam.objects.get(pk=i).status != Exam.Status.DRAFT for i in ids))

    def test_a_student_reads_only_their_own_course_grades(self) -> None:
        w = self.world
        own = self.get("stuA", f"/grades/student/{w.student_a.student_number}")
        self.assertEqual(own.json()["grades"], {w.math.name: 81, w.physics.name: 72})
        self.assertEqual(self.get("stuB", f"/grades/student/{w.student_a.student_number}").status_code, 403)
        # 403 whether or not the number exists, so a student cannot probe for numbers.
        self.assertEqual(self.get("stuB", f"/grades/student/{w.tag}-nobody").status_code, 403)

    def test_a_doctor_sees_only_their_own_subjects_grades(self) -> None:
        w = self.world
        number = w.student_a.student_number
        self.assertEqual(self.get("own", f"/grades/student/{number}").json()["grades"], {w.math.name: 81})
        self.assertEqual(self.get("oth", f"/grades/student/{number}").json()["grades"], {w.physics.name: 72})
        self.assertEqual(len(self.get("adm", f"/grades/student/{number}").json()["grades"]), 2)

    def test_a_doctor_lists_only_their_own_exams_and_keys(self) -> None:
        w = self.world
        mine = {e["id"] for e in self.get("own", "/api/exams").json()["results"]}
        self.assertIn(w.online.id, mine)
        self.assertEqual(self.get("oth", "/api/exams").json()["count"], 0)
        others_keys = self.get("oth", "/api/api-keys").json()["results"]
        self.assertEqual([k["name"] for k in others_keys], ["other scanner"])
        self.assertNotIn(w.other_key, json.dumps(others_keys))  # the key itself is never listed

    def test_a_job_is_seen_only_by_its_starter_and_admins(self) -> None:
        self.assertEqual(self.get("own", "/api/jobs?mine=1").json()["count"], 1)
        for caller in ("oth", "stuA"):
            with self.subTest(caller=caller):
                self.assertEqual(self.get(caller, "/api/jobs?mine=1").json()["count"], 0)
                self.assertEqual(self.get(caller, "/api/jobs").json()["count"], 0)
