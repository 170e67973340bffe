"""Ending sessions reaches the hot path: through the real API, the real Redis and the real answer store."""

from __future__ import annotations

import json
import time

from django.core.cache import cache
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from core.accounts.models import User
from core.accounts.revocation import session_is_void, void_before_name
from core.accounts.tests.factories import PASSWORD, make_student
from core.exams.tests.factories import ids_of, make_doctor, make_exam

# A content type the lean road leaves to DRF's road (see core/exams/tests/test_answers_lean.py).
DRF_ROAD = "application/json; charset=iso-8859-1"


class SessionsEndTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.exam = make_exam(owner=cls.doctor, level="Year 1")
        (cls.q1, _, cls.q1_correct), _ = ids_of(cls.exam)

    def setUp(self) -> None:
        cache.clear()
        self.student = make_student(level="Year 1")
        self.tokens = self.login()
        self.url = f"/api/exams/{self.exam.id}/answers"
        self.assertEqual(self.call("POST", f"/api/exams/{self.exam.id}/attempt").status_code, 201)

    def login(self) -> dict:
        response = APIClient().post(
            "/api/auth/login", {"email": self.student.email, "password": PASSWORD}, format="json"
        )
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()

    def call(self, method: str, path: str, body: object = None, *, access: str | None = None, **extra: str):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access or self.tokens['access']}")
        data = None if body is None else json.dumps(body)
        return client.generic(method, path, data or "", content_type=extra.pop("content_type", "application/json"))

    def save(self, *, access: str | None = None, content_type: str = "application/json"):
        body = {"answers": [{"question": self.q1, "choices": self.q1_correct}]}
        return self.call("PUT", self.url, body, access=access, content_type=content_type)

    def assert_refused_everywhere(self, access: str, refresh: str) -> None:
        for response in (self.save(access=access), self.save(access=access, content_type=DRF_ROAD)):
            self.assertEqual(response.status_code, 401, response.content)
            self.assertEqual(response.json()["error"], "token_not_valid")
            self.assertIn("Bearer", response["WWW-Authenticate"])
        self.assertEqual(self.call("POST", f"/api/exams/{self.exam.id}/finish", access=access).status_code, 401)
        self.assertEqual(self.call("GET", "/api/me", access=access).status_code, 401)
        self.assertEqual(APIClient().post("/api/auth/refresh", {"refresh": refresh}, format="json").status_code, 401)
        self.assertEqual(APIClient().post("/api/auth/verify", {"token": access}, format="json").status_code, 401)

    def test_logout_everywhere_refuses_the_next_save_on_both_roads_and_a_new_login_works(self) -> None:
        other_device = self.login()
        self.assertEqual(self.save().status_code, 200)
        self.assertEqual(self.save(access=other_device["access"]).status_code, 200)
        response = self.call("POST", "/api/auth/logout-all")
        self.assertEqual(response.status_code, 204)
        self.assert_refused_everywhere(self.tokens["access"], self.tokens["refresh"])
        self.assert_refused_everywhere(other_device["access"], other_device["refresh"])
        fresh = self.login()
        self.assertEqual(self.save(access=fresh["access"]).status_code, 200)
        self.assertEqual(self.call("GET", "/api/me", access=fresh["access"]).status_code, 200)

    def test_a_deactivated_student_is_refused_within_a_second(self) -> None:
        self.assertEqual(self.save().status_code, 200)  # the token is now in the lean road's checked cache
        self.student.is_active = False
        self.student.save()
        started = time.monotonic()
        response = self.save()
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertEqual(response.status_code, 401)
        self.assert_refused_everywhere(self.tokens["access"], self.tokens["refresh"])

    def test_a_deleted_student_is_refused(self) -> None:
        self.assertEqual(self.save().status_code, 200)
        User.objects.filter(pk=self.student.pk).delete()
        self.assertEqual(self.save().status_code, 401)
        self.assertEqual(self.save(content_type=DRF_ROAD).status_code, 401)
        refreshed = APIClient().post("/api/auth/refresh", {"refresh": self.tokens["refresh"]}, format="json")
        self.assertEqual(refreshed.status_code, 401)

    def test_a_password_change_ends_the_old_sessions(self) -> None:
        self.assertEqual(self.save().status_code, 200)
        self.student.set_password("another-good-password")
        self.student.save()
        self.assert_refused_everywhere(self.tokens["access"], self.tokens["refresh"])

    def test_an_unrelated_change_to_the_student_ends_nothing(self) -> None:
        self.student.full_name = "Renamed"
        self.student.save()
        self.assertEqual(self.save().status_code, 200)
        self.assertIsNone(cache.get(void_before_name(self.student.pk)))

    def test_a_warm_save_makes_no_database_query_with_the_check(self) -> None:
        self.assertEqual(self.save().status_code, 200)
        self.call("POST", "/api/auth/logout-all", access=self.login()["access"])  # an entry exists, and applies
        fresh = self.login()
        self.assertEqual(self.save(access=fresh["access"]).status_code, 200)
        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(self.save(access=fresh["access"]).status_code, 200)
            self.assertEqual(self.save().status_code, 401)  # the old token, refused from the same round trip
        self.assertEqual(len(queries), 0, [q["sql"] for q in queries.captured_queries])

    def test_the_admin_action_logs_a_user_out_everywhere(self) -> None:
        admin = User.objects.create_superuser("root-revocation@example.test", PASSWORD)
        client = APIClient()
        client.force_login(admin)
        response = client.post(
            "/admin/accounts/user/",
            {"action": "sessions_end", "_selected_action": [self.student.pk]},
        )
        self.assertEqual(response.status_code, 302)
        self.assert_refused_everywhere(self.tokens["access"], self.tokens["refresh"])


class RuleTests(TestCase):
    def test_a_session_of_the_millisecond_it_was_ended_in_is_void_and_a_later_one_is_not(self) -> None:
        ended_in_ms = 1_764_493_200_123
        void_before = ended_in_ms + 1
        self.assertTrue(session_is_void(started=ended_in_ms / 1000, void_before_ms=void_before))
        self.assertFalse(session_is_void(started=(ended_in_ms + 1) / 1000, void_before_ms=void_before))
        self.assertFalse(session_is_void(started=ended_in_ms / 1000, void_before_ms=None))
