"""The exam dashboard's live figures: the saves-per-minute chart on the page, and live.json, which the page's
script polls, against the real Redis and answer store; who may read it."""

from __future__ import annotations

import json

from django.core.cache import cache
from django.test import TestCase
from rest_framework.test import APIClient

from core.exams.save_rate import save_rate_flush
from core.exams.tests.factories import ids_of, make_admin, make_doctor, make_exam, make_student, token_for


class DashboardLiveTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other = make_doctor(), make_doctor()
        cls.exam = make_exam(owner=cls.doctor, level="Year 1")
        cls.question_id, _, cls.correct = ids_of(cls.exam)[0]

    def setUp(self) -> None:
        cache.clear()
        save_rate_flush()
        self.url = f"/admin/exams/exam/{self.exam.id}/live.json"

    def live(self) -> dict:
        response = self.client.get(self.url)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "application/json")
        self.assertIn("no-store", response["Cache-Control"])
        return response.json()

    def save(self, student: object, times: int) -> None:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(student)}")  # type: ignore[arg-type]
        api.post(f"/api/exams/{self.exam.id}/attempt")
        body = json.dumps({"answers": [{"question": self.question_id, "choices": self.correct}]})
        for _ in range(times):
            response = api.generic("PUT", f"/api/exams/{self.exam.id}/answers", body, content_type="application/json")
            self.assertEqual(response.status_code, 200)
        save_rate_flush()

    def test_the_figures_move_once_students_save(self) -> None:
        self.client.force_login(self.doctor)
        before = self.live()
        self.assertEqual(before["attempts"], {"started": 0, "running": 0, "finished": 0, "active": 0})
        self.assertEqual(len(before["saves_per_minute"]), 10)
        self.assertEqual(sum(m["saves"] for m in before["saves_per_minute"]), 0)
        self.save(make_student(), 3)
        self.save(make_student(), 2)
        after = self.live()
        self.assertEqual(after["attempts"], {"started": 2, "running": 2, "finished": 0, "active": 2})
        self.assertEqual(sum(m["saves"] for m in after["saves_per_minute"]), 5)
        self.assertEqual(after["saves_peak"], max(m["saves"] for m in after["saves_per_minute"]))
        self.assertRegex(after["saves_per_minute"][-1]["label"], r"^\d\d:\d\d$")

    def test_the_page_draws_the_saves_and_loads_the_script_that_refreshes_them(self) -> None:
        self.save(make_student(), 4)
        self.client.force_login(self.doctor)
        page = self.client.get(f"/admin/exams/exam/{self.exam.id}/change/")
        self.assertContains(page, f'data-live-url="{self.url}"')
        self.assertContains(page, '<span id="saves-total">4</span>', html=True)
        self.assertContains(page, "grading/dashboard.js")
        self.assertNotContains(page, "<script>")  # no inline script: the CSP would refuse it

    def test_only_the_owner_and_admins_read_it(self) -> None:
        self.client.force_login(self.other)
        self.assertEqual(self.client.get(self.url).status_code, 404)
        self.client.force_login(make_student())
        self.assertEqual(self.client.get(self.url).status_code, 302)  # to the admin's login
        self.client.logout()
        self.assertEqual(self.client.get(self.url).status_code, 302)
        self.client.force_login(make_admin())
        self.assertEqual(self.live()["attempts"]["started"], 0)
        self.client.force_login(self.doctor)
        self.assertEqual(self.client.post(self.url).status_code, 405)
