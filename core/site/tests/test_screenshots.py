"""`make screenshots`: each page of the student site in headless Chromium, written to docs/screenshots/ (shown in
the README). Runs only when SITE_SCREENSHOTS names the folder, so that `make test` never rewrites the docs."""

from __future__ import annotations

import os
import unittest
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from selenium.webdriver.common.by import By

from core.exams.models import Exam
from core.exams.tests.factories import make_doctor, make_exam
from core.grading.models import Degree
from core.site.tests.support import (
    button,
    choose,
    colour_questions,
    make_student,
    open_exam,
    open_exam_page,
    question,
    settle,
    sign_in_quietly,
    wait_for,
    wait_saved,
)
from core.tests.browser import BrowserTestCase, set_offline, start_chromium, stop_chromium

FOLDER = os.environ.get("SITE_SCREENSHOTS", "")


@unittest.skipUnless(FOLDER, "screenshots are taken by `make screenshots` (SITE_SCREENSHOTS=docs/screenshots)")
class ScreenshotTests(BrowserTestCase):
    def shoot(self, driver: object, name: str) -> None:
        folder = Path(settings.BASE_DIR) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        driver.execute_script("window.scrollTo(0, 0)")  # type: ignore[attr-defined]
        settle(0.4)
        driver.save_screenshot(str(folder / f"{name}.png"))  # type: ignore[attr-defined]

    def test_take_a_screenshot_of_each_page(self) -> None:
        cache.clear()
        driver = self.driver
        student = make_student()
        doctor = make_doctor()
        now = timezone.now()
        exam = open_exam(title="Colours and light", questions=colour_questions(6))
        upcoming = make_exam(owner=doctor, opens_at=now + timedelta(days=2), closes_at=now + timedelta(days=2, hours=2))
        graded = make_exam(owner=doctor, opens_at=now - timedelta(days=3), closes_at=now - timedelta(days=3, hours=-2))
        Exam.objects.filter(pk=upcoming.pk).update(title="Optics, part 2")
        Exam.objects.filter(pk=graded.pk).update(
            title="Arithmetic warm-up", status=Exam.Status.GRADED, results_released=True
        )
        Degree.objects.create(
            student=student, exam=graded, marks_obtained=7, marks_available=9, source="online", graded_at=now
        )

        driver.get(self.url("/app/"))
        self.shoot(driver, "sign-in")
        sign_in_quietly(driver, self.live_server_url, student)
        driver.get(self.url("/app/exams/"))
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#exam-list li"))
        self.shoot(driver, "my-exams")

        open_exam_page(driver, self.live_server_url, exam)
        choose(driver, "Which colour is the sky on a clear day?", "Blue")
        choose(driver, "Which of these are primary colours of light?", "Red")
        question(driver, "Which colour do you get").find_element(By.CSS_SELECTOR, "[aria-pressed]").click()
        wait_saved(driver)
        self.shoot(driver, "exam")
        set_offline(driver, True)
        choose(driver, "Which of these are primary colours of light?", "Blue")
        choose(driver, "Which colour do you get from mixing blue and yellow?", "Green")
        wait_for(driver, lambda d: "Not saved yet" in d.find_element(By.ID, "save-status").text)
        self.shoot(driver, "exam-offline")
        set_offline(driver, False)
        wait_saved(driver)
        button(driver, "Finish exam").click()
        wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "dialog[open]"))
        self.shoot(driver, "finish-dialog")
        button(driver, "Keep working").click()

        driver.get(self.url(f"/app/exams/{graded.id}/result/"))
        wait_for(driver, lambda d: "Your score" in d.find_element(By.ID, "score").text)
        self.shoot(driver, "result")
        driver.get(self.url("/app/handin/"))
        self.shoot(driver, "hand-in")

        phone = start_chromium(width=390, height=844, language="ar")
        try:
            sign_in_quietly(phone, self.live_server_url, student)
            open_exam_page(phone, self.live_server_url, exam)
            wait_for(phone, lambda d: d.find_element(By.ID, "save-status").text)
            self.shoot(phone, "exam-phone-arabic")
        finally:
            stop_chromium(phone)
