"""PUT /api/exams/{id}/answers takes a lean road for the common request and DRF's road for the rest: both must
answer alike, and the lean road's checked-token cache must never accept what the full check would refuse."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from unittest import mock

from django.core.cache import cache
from django.test import TestCase, override_settings
from rest_framework.test import APIClient

from core.accounts.tokens import SingleUseRefreshToken
from core.common.models import ErrorLog
from core.exams import hot_path, services
from core.exams.tests.factories import ids_of, make_doctor, make_exam, make_student, token_for

# A content type the lean road leaves to DRF (it decodes the same ASCII body the same way).
DRF_ROAD = "application/json; charset=iso-8859-1"


class LeanRoadTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.exam = make_exam(owner=cls.doctor, level="Year 1")
        (cls.q1, _, cls.q1_correct), (cls.q2, _, cls.q2_correct) = ids_of(cls.exam)

    def setUp(self) -> None:
        cache.clear()
        self.student = make_student(level="Year 1")
        self.token = token_for(self.student)
        self.url = f"/api/exams/{self.exam.id}/answers"

    def put(self, body: object, *, token: str | None = None, content_type: str = "application/json", **extra: str):
        client = APIClient()
        if token is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.generic("PUT", self.url, json.dumps(body), content_type=content_type, **extra)

    def start(self) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token}")
        self.assertEqual(client.post(f"/api/exams/{self.exam.id}/attempt").status_code, 201)

    def assert_alike(self, lean, drf) -> None:
        self.assertEqual(lean.status_code, drf.status_code, (lean.content, drf.content))
        # Every header alike (the security headers, Allow, X-Frame-Options...), but the request's own id and the
        # length of a body whose server_time differs.
        self.assertEqual(
            {k: v for k, v in lean.headers.items() if k not in ("X-Request-ID", "Content-Length")},
            {k: v for k, v in drf.headers.items() if k not in ("X-Request-ID", "Content-Length")},
        )
        for response in (lean, drf):
            self.assertEqual(response["Content-Length"], str(len(response.content)))
        lean_body, drf_body = dict(lean.json()), dict(drf.json())
        self.assertIsNotNone(lean_body.pop("server_time", None))
        self.assertIsNotNone(drf_body.pop("server_time", None))
        self.assertEqual(lean_body, drf_body)

    def test_both_roads_answer_a_save_alike(self) -> None:
        self.start()
        body = {"answers": [{"question": self.q1, "choices": self.q1_correct}]}
        lean = self.put(body, token=self.token)
        drf = self.put(body, token=self.token, content_type=DRF_ROAD)
        self.assertEqual(lean.status_code, 200)
        self.assert_alike(lean, drf)
        self.assertRegex(lean.json()["server_time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

    def test_both_roads_refuse_alike(self) -> None:
        bad = {"answers": [{"question": self.q1, "choices": [*self.q1_correct, *self.q2_correct]}]}
        good = {"answers": [{"question": self.q1, "choices": self.q1_correct}]}
        self.assert_alike(self.put(good, token=self.token), self.put(good, token=self.token, content_type=DRF_ROAD))
        self.start()
        self.assert_alike(self.put(bad, token=self.token), self.put(bad, token=self.token, content_type=DRF_ROAD))
        self.assertEqual(self.put(bad, token=self.token).status_code, 422)

    def test_a_doctor_token_is_403_even_after_a_student_was_served(self) -> None:
        self.start()
        body = {"answers": [{"question": self.q1, "choices": self.q1_correct}]}
        self.assertEqual(self.put(body, token=self.token).status_code, 200)
        response = self.put(body, token=token_for(self.doctor))
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.json()["error"], "forbidden")

    def test_a_tampered_token_is_401(self) -> None:
        self.start()
        body = {"answers": [{"question": self.q1, "choices": self.q1_correct}]}
        self.assertEqual(self.put(body, token=self.token).status_code, 200)
        header, payload, signature = self.token.split(".")
        tampered = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
        response = self.put(body, token=tampered)
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json()["error"], "token_not_valid")

    def test_a_token_checked_before_is_refused_once_it_expires(self) -> None:
        self.start()
        short = SingleUseRefreshToken.for_user(self.student).access_token
        # exp is whole seconds, so a lifetime of 3 s leaves the first save at least 2 s, even on a loaded machine.
        short.set_exp(lifetime=timedelta(seconds=3))
        body = {"answers": [{"question": self.q1, "choices": self.q1_correct}]}
        self.assertEqual(self.put(body, token=str(short)).status_code, 200)  # now in the checked-token cache
        time.sleep(max(0.0, short["exp"] - time.time()) + 0.05)
        response = self.put(body, token=str(short))
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json()["error"], "token_not_valid")

    def test_a_client_that_does_not_take_json_gets_406(self) -> None:
        self.start()
        body = {"answers": [{"question": self.q1, "choices": self.q1_correct}]}
        response = self.put(body, token=self.token, HTTP_ACCEPT="text/html")
        self.assertEqual(response.status_code, 406)

    def test_with_the_switch_off_every_save_takes_drfs_road_and_answers_alike(self) -> None:
        self.start()
        body = {"answers": [{"question": self.q1, "choices": self.q1_correct}]}
        hot_path._checked_tokens.clear()
        with override_settings(EXAMS_LEAN_PUT=False):
            off = self.put(body, token=self.token)
        self.assertNotIn(self.token, hot_path._checked_tokens)  # the lean road never looked at it
        on = self.put(body, token=self.token)
        self.assertIn(self.token, hot_path._checked_tokens)
        self.assertEqual(off.status_code, 200)
        self.assert_alike(on, off)

    def test_a_lean_save_is_served_before_the_session_and_csrf_middleware(self) -> None:
        self.start()
        body = {"answers": [{"question": self.q1, "choices": self.q1_correct}]}
        lean = self.put(body, token=self.token)
        drf = self.put(body, token=self.token, content_type=DRF_ROAD)
        self.assertEqual((lean.status_code, drf.status_code), (200, 200))
        self.assertFalse(hasattr(lean.wsgi_request, "session"))  # SessionMiddleware never saw it
        self.assertTrue(hasattr(drf.wsgi_request, "session"))
        self.assert_alike(lean, drf)

    def test_an_unexpected_error_on_the_lean_road_is_the_recorded_json_500(self) -> None:
        self.start()
        body = {"answers": [{"question": self.q1, "choices": self.q1_correct}]}
        client = APIClient(raise_request_exception=False)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token}")
        with (
            mock.patch.object(services, "answers_save", side_effect=RuntimeError("a bug")),
            self.assertLogs("django.request", "ERROR") as logged,
        ):
            response = client.put(self.url, body, format="json", HTTP_X_REQUEST_ID="rid-lean-500")
        self.assertEqual(len(logged.records), 1)  # once, as Django's handler logs it
        self.assertEqual(response.status_code, 500)
        self.assertEqual(response.json()["error"], "server_error")
        self.assertIn("rid-lean-500", response.json()["detail"])
        self.assertEqual((response["X-Request-ID"], response["X-Frame-Options"]), ("rid-lean-500", "DENY"))
        self.assertEqual(ErrorLog.objects.get().request_id, "rid-lean-500")
        self.assertFalse(hasattr(response.wsgi_request, "session"))  # it was the lean road that failed
