"""A doctor's day in the admin, in real Chromium against the real servers (the same setup as the student site's
tests; skipped when no browser is installed): write an exam with its questions and choices on one page, be
refused when publishing a broken one, publish it, watch the dashboard move as a student saves through the API,
close, grade, release, settle an appeal, and find no way into another doctor's exam."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

from django.utils import timezone
from rest_framework.test import APIClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from core.exams.models import Attempt, Exam
from core.exams.save_rate import save_rate_flush
from core.exams.tests.factories import ids_of, make_doctor, make_exam, make_student, token_for, unique
from core.grading import admin as grading_admin
from core.grading.models import Degree
from core.grading.tests.factories import celery_eager
from core.tests.browser import WAIT_SECONDS, BrowserTestCase, csp_violations, sign_in_to_admin


def wait_for(driver: Any, condition: Any, seconds: float = WAIT_SECONDS, message: str = "") -> Any:
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition, message)


def text_of(driver: Any, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text.strip())


def messages(driver: Any) -> str:
    """The admin's messages and error notes of the page, as one text."""
    found = driver.find_elements(By.CSS_SELECTOR, ".messagelist li, .errornote, .errorlist li")
    return " | ".join(element.text for element in found)


def student_api(student: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(student)}")
    return client


class DoctorsDayTests(BrowserTestCase):
    def setUp(self) -> None:
        self.driver.delete_all_cookies()

    def fill(self, name: str, value: str) -> None:
        field = self.driver.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)

    def add_inline(self, label: str, within: Any = None) -> None:
        """Click "Add another <label>" (the last one on the page, or the one within an element)."""
        links = (within or self.driver).find_elements(By.LINK_TEXT, f"Add another {label}")
        visible = [link for link in links if link.is_displayed()]
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", visible[-1])
        visible[-1].click()

    def save_page(self) -> None:
        self.driver.find_element(By.NAME, "_continue").click()  # "Save and continue editing"
        wait_for(self.driver, lambda d: d.execute_script("return document.readyState") == "complete")

    def test_a_doctor_writes_publishes_watches_grades_releases_and_settles_an_appeal(self) -> None:
        driver = self.driver
        doctor = make_doctor()
        code, level = unique("DAY"), unique("Level ")
        student = make_student(level=level)
        sign_in_to_admin(driver, self.live_server_url, doctor)

        # Write: the exam's fields, one question with its choices, all on the exam's page.
        driver.get(self.url("/admin/exams/exam/add/"))
        self.fill("code", code)
        self.fill("title", "A doctor's day")
        self.fill("subject", unique("Subject "))  # a new subject: the doctor then teaches it
        self.fill("level", level)
        self.fill("duration_minutes", "30")
        Select(driver.find_element(By.NAME, "status")).select_by_value("published")
        self.add_inline("Question")
        self.fill("questions-0-text", "Which planet is the largest?")
        question = driver.find_element(By.ID, "questions-0")
        self.add_inline("Choice", within=question)
        self.fill("questions-0-choices-0-text", "Jupiter")
        driver.find_element(By.NAME, "questions-0-choices-0-is_correct").click()

        # A question with fewer than two choices cannot be published: refused, with the reason, nothing saved.
        self.save_page()
        self.assertIn("question 1", messages(driver))
        self.assertIn("two or more choices", messages(driver))
        self.assertFalse(Exam.objects.filter(code=code).exists())

        # Two choices, none correct: refused too.
        question = driver.find_element(By.ID, "questions-0")
        driver.find_element(By.NAME, "questions-0-choices-0-is_correct").click()  # untick
        self.add_inline("Choice", within=question)
        self.fill("questions-0-choices-1-text", "Mars")
        self.save_page()
        self.assertIn("correct", messages(driver))
        self.assertFalse(Exam.objects.filter(code=code).exists())

        # Mark the right choice: published.
        box = driver.find_element(By.NAME, "questions-0-choices-0-is_correct")
        if not box.is_selected():
            box.click()
        self.save_page()
        exam = wait_for(driver, lambda d: Exam.objects.filter(code=code).first(), message=messages(driver))
        self.assertEqual(exam.status, Exam.Status.PUBLISHED)
        self.assertEqual(exam.owner_id, doctor.id)
        self.assertEqual([(len(choices), len(correct)) for _, choices, correct in ids_of(exam)], [(2, 1)])

        # Watch: the dashboard's counts and saves per minute move as the student saves, without a reload.
        with mock.patch.object(grading_admin, "LIVE_POLL_SECONDS", 1):
            driver.get(self.url(f"/admin/exams/exam/{exam.id}/change/"))
            wait_for(driver, lambda d: d.find_element(By.ID, "exam-saves"))
            self.assertEqual(text_of(driver, "attempts-started"), "0")
            self.assertEqual(text_of(driver, "saves-total"), "0")
            api = student_api(student)
            self.assertEqual(api.post(f"/api/exams/{exam.id}/attempt").status_code, 201)
            (question_id, _, correct), *_ = ids_of(exam)
            body = json.dumps({"answers": [{"question": question_id, "choices": correct}]})
            for _ in range(3):
                saved = api.generic("PUT", f"/api/exams/{exam.id}/answers", body, content_type="application/json")
                self.assertEqual(saved.status_code, 200)
            save_rate_flush()
            wait_for(driver, lambda d: text_of(d, "saves-total") == "3", message="the saves did not show")
            self.assertEqual(text_of(driver, "attempts-started"), "1")
            self.assertEqual(text_of(driver, "attempts-active"), "1")
            self.assertIn("Updated at", text_of(driver, "saves-updated"))
        self.assertEqual(csp_violations(driver), [])
        self.assertEqual(student_api(student).post(f"/api/exams/{exam.id}/finish").status_code, 202)

        # Close, grade, release: each a button of the dashboard.
        driver.get(self.url(f"/admin/exams/exam/{exam.id}/change/"))
        self.click_button("Close")
        self.assertIn("now closed", messages(driver))
        with celery_eager():
            self.click_button("Grade now")
            self.assertIn("grading queued", messages(driver))
            degree = wait_for(driver, lambda d: Degree.objects.filter(exam=exam, student=student).first())
        self.assertEqual((degree.marks_obtained, degree.marks_available), (1, 1))
        self.click_button("Release results")
        self.assertIn("results released", messages(driver))
        self.assertTrue(Exam.objects.get(pk=exam.pk).results_released)

        # An appeal: from the exam's attempts to the student's page; override the mark with a reason.
        driver.find_element(By.LINK_TEXT, "Attempts and appeals").click()
        driver.find_element(By.LINK_TEXT, student.student_number).click()
        wait_for(driver, lambda d: d.find_element(By.ID, "history"))
        self.assertIn("Jupiter", driver.find_element(By.TAG_NAME, "body").text)
        self.fill("marks_obtained", "0.5")
        self.fill("reason", "Appeal: the question was ambiguous")
        self.click_button("Override the degree")
        self.assertIn("Degree overridden.", messages(driver))
        self.assertIn("because “Appeal: the question was ambiguous”", text_of(driver, "degree"))
        degree.refresh_from_db()
        self.assertEqual(
            (float(degree.marks_obtained), degree.override_reason), (0.5, "Appeal: the question was ambiguous")
        )
        self.assertTrue(Attempt.objects.filter(exam=exam, student=student, finished_at__isnull=False).exists())

    def click_button(self, label: str) -> None:
        for element in self.driver.find_elements(By.CSS_SELECTOR, "button, input[type=submit]"):
            if (element.text or element.get_attribute("value") or "").strip() == label and element.is_displayed():
                self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
                element.click()
                wait_for(self.driver, lambda d: d.execute_script("return document.readyState") == "complete")
                return
        raise AssertionError(f"no button {label!r}")

    def test_a_doctor_cannot_open_another_doctors_exam(self) -> None:
        owner, other = make_doctor(), make_doctor()
        exam = make_exam(owner=owner, level=unique("Level "), closes_at=timezone.now() + timezone.timedelta(hours=1))
        Exam.objects.filter(pk=exam.pk).update(title="Someone else's exam")
        sign_in_to_admin(self.driver, self.live_server_url, other)
        self.driver.get(self.url(f"/admin/exams/exam/{exam.id}/change/"))
        body = self.driver.find_element(By.TAG_NAME, "body").text
        self.assertIn("doesn\u2019t exist", body)  # the admin sends them to its index, saying so
        self.assertNotIn("Someone else's exam", body)
        for path in ("attempts/", "live.json", "preview/", "degrees.csv", "accommodations/"):
            self.driver.get(self.url(f"/admin/exams/exam/{exam.id}/{path}"))
            body = self.driver.find_element(By.TAG_NAME, "body").text
            self.assertIn('"error": "not_found"', body, path)  # the 404 that every unknown exam gets
            self.assertNotIn("Someone else's exam", body, path)
        self.driver.get(self.url("/admin/exams/exam/"))
        self.assertNotIn(exam.code, self.driver.find_element(By.TAG_NAME, "body").text)
