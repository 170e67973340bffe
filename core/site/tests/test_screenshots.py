"""`make screenshots`: each page of the student site, and the doctor's main admin screens, in headless Chromium,
written to docs/screenshots/ (shown in the README). Runs only when SITE_SCREENSHOTS names the folder, so that
`make test` never rewrites the docs."""

from __future__ import annotations

import os
import unittest
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from selenium.webdriver.common.by import By

from core.accounts.models import User
from core.answers.store import SaveOrigin, answer_store
from core.exams.accommodations import accommodation_set
from core.exams.models import Attempt, Exam
from core.exams.save_rate import save_rate_name
from core.exams.tests.factories import make_doctor, make_exam
from core.grading.models import Degree
from core.grading.services import student_grade
from core.grading.tests.factories import key_of, start
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
from core.tests.browser import BrowserTestCase, set_offline, sign_in_to_admin, start_chromium, stop_chromium

FOLDER = os.environ.get("SITE_SCREENSHOTS", "")


@unittest.skipUnless(FOLDER, "screenshots are taken by `make screenshots` (SITE_SCREENSHOTS=docs/screenshots)")
class ScreenshotTests(BrowserTestCase):
    def shoot(self, driver: object, name: str, at: str | None = None) -> None:
        """The viewport, scrolled to the top or to the element that the CSS selector `at` finds."""
        folder = Path(settings.BASE_DIR) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        if at is None:
            driver.execute_script("window.scrollTo(0, 0)")  # type: ignore[attr-defined]
        else:
            element = driver.find_element(By.CSS_SELECTOR, at)  # type: ignore[attr-defined]
            driver.execute_script("arguments[0].scrollIntoView()", element)  # type: ignore[attr-defined]
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

    def test_take_a_screenshot_of_each_admin_screen_of_a_doctor(self) -> None:
        cache.clear()
        driver = self.driver
        doctor = make_doctor()
        now = timezone.now()
        exam = make_exam(owner=doctor, closes_at=now + timedelta(hours=1), questions=colour_questions(6))
        Exam.objects.filter(pk=exam.pk).update(title="Colours and light", duration_minutes=45)
        exam.refresh_from_db()
        key = key_of(exam)
        names = ("Amal Haddad", "Bilal Nasser", "Carla Mendes", "Dina Youssef", "Elias Karam", "Farah Saleh")
        students = []
        for index, name in enumerate(names):
            student = make_student()
            User.objects.filter(pk=student.pk).update(full_name=name)
            student.full_name = name
            students.append(student)
            start(exam, student, started_at=now - timedelta(minutes=30 - index * 3))
            for number, (question_id, choice_ids) in enumerate(key[: 2 + index % 5]):
                answer_store().save(
                    exam_id=exam.id,
                    student_id=student.id,
                    answers=[(question_id, [choice_ids[(number + index) % 2]])],
                    saved_at=now - timedelta(minutes=25 - index * 3 - number),
                    origin=SaveOrigin(
                        client_ip=f"10.20.1.{11 + index}", user_agent="Mozilla/5.0 (X11; Linux) Firefox/133.0"
                    ),
                )
            if index % 2:
                Attempt.objects.filter(exam=exam, student=student).update(finished_at=now - timedelta(minutes=2))
            student_grade(exam_id=exam.id, student_id=student.id)
        accommodation_set(
            user=doctor,
            exam_id=exam.id,
            student_number=students[0].student_number,
            extra_minutes=15,
            closes_at=None,
            now=now,
        )
        accommodation_set(
            user=doctor,
            exam_id=exam.id,
            student_number=students[3].student_number,
            extra_minutes=30,
            closes_at=exam.closes_at + timedelta(minutes=45),
            now=now,
        )

        for index in (2, 4):  # two running attempts saved moments ago
            question_id, choice_ids = key[index]
            answer_store().save(
                exam_id=exam.id,
                student_id=students[index].id,
                answers=[(question_id, [choice_ids[0]])],
                saved_at=now - timedelta(seconds=10 * index),
            )
        # The saves of the last ten minutes, as the web workers' flushes would have left them (core/exams/save_rate.py).
        minute = int(now.timestamp()) // 60
        saves = (38, 96, 141, 167, 152, 174, 160, 149, 133, 57)
        cache.set_many({save_rate_name(exam.id, minute - 9 + i): count for i, count in enumerate(saves)}, 600)

        sign_in_to_admin(driver, self.live_server_url, doctor)
        driver.get(self.url(f"/admin/exams/exam/{exam.id}/change/"))
        wait_for(driver, lambda d: d.find_element(By.ID, "grading-histogram"))
        self.shoot(driver, "admin-exam-dashboard")
        self.shoot(driver, "admin-exam-authoring", at=".inline-group")
        driver.get(self.url(f"/admin/exams/exam/{exam.id}/attempts/{students[0].student_number}/"))
        wait_for(driver, lambda d: d.find_element(By.ID, "history"))
        self.shoot(driver, "admin-appeal")
        driver.get(self.url(f"/admin/exams/exam/{exam.id}/accommodations/"))
        wait_for(driver, lambda d: d.find_element(By.ID, "accommodations"))
        self.shoot(driver, "admin-accommodations")
