"""The student site in real Chromium against the real servers: found by the accessible names of docs/api.md, with
the network cut and restored through the DevTools protocol, and the stored answers read back through the API."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from core.accounts.tokens import SingleUseRefreshToken
from core.exams.models import Attempt, Exam
from core.exams.tests.factories import make_doctor, make_exam
from core.grading.models import Degree
from core.handins.services import handin_create
from core.site.tests.support import (
    SAVED,
    api_for,
    button,
    by_label,
    choose,
    colour_questions,
    open_exam,
    open_exam_page,
    question,
    settle,
    sign_in,
    sign_in_quietly,
    status_text,
    stored_answers,
    wait_for,
    wait_saved,
)
from core.site.tests.support import make_student as new_student
from core.tests.browser import BrowserTestCase, axe_violations, csp_violations, failing, set_offline

SKY = "Which colour is the sky on a clear day?"
PRIMARY = "Which of these are primary colours of light?"
MIX = "Which colour do you get from mixing blue and yellow?"


class SiteBrowserTestCase(BrowserTestCase):
    def setUp(self) -> None:
        cache.clear()
        set_offline(self.driver, False)
        self.driver.get(self.url("/app/handin/"))
        self.driver.execute_script("sessionStorage.clear(); localStorage.clear();")

    def tearDown(self) -> None:
        set_offline(self.driver, False)


class TakingAnExamTests(SiteBrowserTestCase):
    def test_a_student_signs_in_takes_the_exam_and_the_api_has_every_answer(self) -> None:
        student, exam = new_student(), open_exam()
        sign_in(self.driver, self.live_server_url, student)
        link = wait_for(self.driver, lambda d: d.find_element(By.LINK_TEXT, "Colours and light"))
        item = link.find_element(By.XPATH, "..")
        self.assertIn("Open until", item.text)
        link.click()
        wait_for(self.driver, lambda d: d.find_elements(By.CSS_SELECTOR, "fieldset input"))
        self.assertEqual(self.driver.find_element(By.TAG_NAME, "h1").text, "Colours and light")
        timer = self.driver.find_element(By.CSS_SELECTOR, '[role="timer"]')
        self.assertRegex(timer.text, r"^Time left: [23][0-9]:[0-5][0-9]$")
        self.assertEqual(by_label(self.driver, "Blue", question(self.driver, SKY)).get_attribute("type"), "radio")
        self.assertEqual(
            by_label(self.driver, "Blue", question(self.driver, PRIMARY)).get_attribute("type"), "checkbox"
        )
        self.assertEqual(status_text(self.driver), SAVED)

        choose(self.driver, SKY, "Green")
        choose(self.driver, SKY, "Blue")
        choose(self.driver, PRIMARY, "Red")
        choose(self.driver, PRIMARY, "Blue")
        wait_saved(self.driver)
        self.assertEqual(stored_answers(student, exam), {SKY: ["Blue"], PRIMARY: ["Blue", "Red"]})

        navigator = self.driver.find_element(By.ID, "navigator")
        marks = [link.get_attribute("class") for link in navigator.find_elements(By.CSS_SELECTOR, "a")]
        self.assertEqual(["is-answered" in mark for mark in marks], [True, True, False])
        self.assertIn("Question 3: not answered", navigator.text + navigator.get_attribute("innerText"))

        # A reload with nothing waiting shows what the server has.
        self.driver.refresh()
        wait_for(self.driver, lambda d: d.find_elements(By.CSS_SELECTOR, "fieldset input"))
        self.assertTrue(by_label(self.driver, "Blue", question(self.driver, SKY)).is_selected())
        self.assertTrue(by_label(self.driver, "Red", question(self.driver, PRIMARY)).is_selected())
        self.assertFalse(by_label(self.driver, "Yellow", question(self.driver, PRIMARY)).is_selected())

        button(self.driver, "Finish exam").click()
        dialog = wait_for(self.driver, lambda d: d.find_element(By.CSS_SELECTOR, "dialog[open]"))
        self.assertIn("You answered 2 of 3 questions.", dialog.text)
        self.assertIn("Not answered: 3", dialog.text)
        self.assertIsNone(Attempt.objects.get(exam=exam, student=student).finished_at)
        button(self.driver, "Finish exam").click()  # the dialog's, the page's being inert behind it
        wait_for(self.driver, lambda d: "You have finished this exam." in d.find_element(By.ID, "exam-message").text)
        self.assertIsNotNone(Attempt.objects.get(exam=exam, student=student).finished_at)
        self.assertEqual(csp_violations(self.driver), [])

    def test_a_wrong_password_is_announced_in_an_alert(self) -> None:
        student = new_student()
        self.driver.get(self.url("/app/"))
        by_label(self.driver, "Email").send_keys(student.email)
        by_label(self.driver, "Password").send_keys("not-the-password")
        button(self.driver, "Sign in").click()
        alert = self.driver.find_element(By.CSS_SELECTOR, '[role="alert"]')
        wait_for(self.driver, lambda d: alert.text == "The email or password is not right.")
        self.assertTrue(self.driver.current_url.endswith("/app/"))

    def test_finishing_can_be_called_off(self) -> None:
        student, exam = new_student(), open_exam()
        sign_in_quietly(self.driver, self.live_server_url, student)
        open_exam_page(self.driver, self.live_server_url, exam)
        button(self.driver, "Finish exam").click()
        dialog = wait_for(self.driver, lambda d: d.find_element(By.CSS_SELECTOR, "dialog[open]"))
        self.assertIn("You answered 0 of 3 questions.", dialog.text)
        self.assertIn("Not answered: 1, 2, 3", dialog.text)
        button(self.driver, "Keep working").click()
        self.assertFalse(self.driver.find_elements(By.CSS_SELECTOR, "dialog[open]"))
        self.assertIsNone(Attempt.objects.get(exam=exam, student=student).finished_at)

    def test_the_keyboard_alone_answers_a_question(self) -> None:
        student, exam = new_student(), open_exam()
        sign_in_quietly(self.driver, self.live_server_url, student)
        open_exam_page(self.driver, self.live_server_url, exam)
        for _ in range(80):
            ActionChains(self.driver).send_keys(Keys.TAB).perform()
            if self.driver.switch_to.active_element.get_attribute("type") == "radio":
                break
        else:
            self.fail("Tab never reached a question")
        active = self.driver.switch_to.active_element
        active.send_keys(Keys.SPACE)
        active.send_keys(Keys.ARROW_DOWN)  # moves to and selects the next choice
        wait_saved(self.driver)
        self.assertEqual(stored_answers(student, exam), {SKY: ["Green"]})

    def test_flags_show_in_the_navigator(self) -> None:
        student, exam = new_student(), open_exam()
        sign_in_quietly(self.driver, self.live_server_url, student)
        open_exam_page(self.driver, self.live_server_url, exam)
        flag = question(self.driver, MIX).find_element(By.CSS_SELECTOR, "[aria-pressed]")
        flag.click()
        self.assertEqual(flag.get_attribute("aria-pressed"), "true")
        links = self.driver.find_elements(By.CSS_SELECTOR, "#navigator a")
        self.assertIn("is-flagged", links[2].get_attribute("class"))
        self.assertIn("flagged", links[2].get_attribute("innerText"))


class BadConnectionTests(SiteBrowserTestCase):
    def test_changes_made_offline_all_arrive_when_the_network_returns_and_the_last_wins(self) -> None:
        student, exam = new_student(), open_exam()
        sign_in_quietly(self.driver, self.live_server_url, student)
        open_exam_page(self.driver, self.live_server_url, exam)
        choose(self.driver, SKY, "Red")
        wait_saved(self.driver)

        set_offline(self.driver, True)
        choose(self.driver, SKY, "Green")
        choose(self.driver, PRIMARY, "Red")
        choose(self.driver, PRIMARY, "Yellow")
        choose(self.driver, MIX, "Purple")
        choose(self.driver, SKY, "Blue")
        choose(self.driver, PRIMARY, "Yellow")  # unticked again
        choose(self.driver, PRIMARY, "Blue")
        choose(self.driver, MIX, "Green")
        wait_for(self.driver, lambda d: "Answers waiting: 3" in status_text(d))
        settle(1.5)  # retries keep failing meanwhile
        self.assertNotEqual(status_text(self.driver), SAVED)
        self.assertEqual(stored_answers(student, exam), {SKY: ["Red"]})

        set_offline(self.driver, False)
        wait_saved(self.driver)
        self.assertEqual(stored_answers(student, exam), {SKY: ["Blue"], PRIMARY: ["Blue", "Red"], MIX: ["Green"]})

    def test_a_reload_resumes_from_the_server_merged_with_what_is_waiting(self) -> None:
        student, exam = new_student(), open_exam()
        sign_in_quietly(self.driver, self.live_server_url, student)
        open_exam_page(self.driver, self.live_server_url, exam)
        choose(self.driver, SKY, "Red")
        choose(self.driver, PRIMARY, "Red")
        wait_saved(self.driver)

        set_offline(self.driver, True)
        choose(self.driver, SKY, "Blue")
        wait_for(self.driver, lambda d: "Answers waiting: 1" in status_text(d))
        # Meanwhile the same student answers another question from another device.
        mix = exam.questions.get(text=MIX)
        green = mix.choices.get(text="Green")
        response = api_for(student).put(
            f"/api/exams/{exam.id}/answers", {"answers": [{"question": mix.id, "choices": [green.id]}]}, format="json"
        )
        self.assertEqual(response.status_code, 200)
        # The tab goes away while the answer waits (a crash, a closed laptop lid), and comes back online.
        self.driver.get("about:blank")
        set_offline(self.driver, False)
        open_exam_page(self.driver, self.live_server_url, exam)
        self.assertTrue(by_label(self.driver, "Blue", question(self.driver, SKY)).is_selected())  # the waiting one
        self.assertTrue(by_label(self.driver, "Red", question(self.driver, PRIMARY)).is_selected())  # the server's
        self.assertTrue(by_label(self.driver, "Green", question(self.driver, MIX)).is_selected())  # the other device's
        wait_saved(self.driver)
        self.assertEqual(stored_answers(student, exam), {SKY: ["Blue"], PRIMARY: ["Red"], MIX: ["Green"]})

    def test_a_reload_while_saves_fail_keeps_the_answer_and_sends_it_later(self) -> None:
        student, exam = new_student(), open_exam()
        sign_in_quietly(self.driver, self.live_server_url, student)
        open_exam_page(self.driver, self.live_server_url, exam)
        # Saves are refused by the network while the pages and the other calls still load.
        self.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": [f"*/api/exams/{exam.id}/answers"]})
        try:
            choose(self.driver, MIX, "Orange")
            wait_for(self.driver, lambda d: "Not saved yet. Answers waiting: 1" in status_text(d))
            self.driver.refresh()  # GET /answers is blocked too: the page says so, and keeps the answer
            settle(1)
            waiting = self.driver.execute_script("return Object.keys(sessionStorage).filter(k => k.includes('outbox'))")
            self.assertEqual(len(waiting), 1)
        finally:
            self.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        self.driver.refresh()
        wait_for(self.driver, lambda d: d.find_elements(By.CSS_SELECTOR, "fieldset input"))
        self.assertTrue(by_label(self.driver, "Orange", question(self.driver, MIX)).is_selected())
        wait_saved(self.driver)
        self.assertEqual(stored_answers(student, exam), {MIX: ["Orange"]})

    def test_the_access_token_is_refreshed_before_it_expires_and_never_put_in_local_storage(self) -> None:
        student, exam = new_student(), open_exam()
        refresh = SingleUseRefreshToken.for_user(student)
        access = refresh.access_token
        access.set_exp(lifetime=timedelta(seconds=125))  # the page refreshes two minutes before expiry
        self.driver.get(self.url("/app/handin/"))
        self.driver.execute_script(
            "sessionStorage.setItem('exams.tokens', JSON.stringify({access: arguments[0], refresh: arguments[1], "
            "user: {id: arguments[2], role: 'student'}}));",
            str(access),
            str(refresh),
            student.id,
        )
        open_exam_page(self.driver, self.live_server_url, exam)
        tokens = "return JSON.parse(sessionStorage.getItem('exams.tokens'))"
        wait_for(self.driver, lambda d: d.execute_script(tokens)["access"] != str(access), seconds=20)
        fresh = self.driver.execute_script(tokens)
        self.assertNotEqual(fresh["refresh"], str(refresh))
        self.assertEqual(self.driver.execute_script("return localStorage.length"), 0)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh['access']}")
        self.assertEqual(client.get("/api/me").status_code, 200)
        self.assertEqual(
            APIClient().post("/api/auth/refresh", {"refresh": str(refresh)}, format="json").status_code, 401
        )


class DeadlineTests(SiteBrowserTestCase):
    def test_the_deadline_locks_the_page_and_sends_what_was_waiting(self) -> None:
        student, exam = new_student(), open_exam(closes_in=timedelta(seconds=12), grace_seconds=30)
        sign_in_quietly(self.driver, self.live_server_url, student)
        open_exam_page(self.driver, self.live_server_url, exam)
        alert = self.driver.find_element(By.ID, "time-alert")
        self.assertEqual(alert.get_attribute("role"), "alert")
        wait_for(self.driver, lambda d: alert.text == "Less than 1 minute left.")
        set_offline(self.driver, True)
        choose(self.driver, SKY, "Blue")
        wait_for(self.driver, lambda d: "Answers waiting: 1" in status_text(d))
        wait_for(self.driver, lambda d: "Time is up" in alert.text, seconds=20)
        inputs = self.driver.find_elements(By.CSS_SELECTOR, "fieldset input")
        self.assertTrue(all(not element.is_enabled() for element in inputs))
        self.assertFalse(button(self.driver, "Finish exam").is_enabled())
        set_offline(self.driver, False)  # within the grace period the server still takes it
        wait_saved(self.driver)
        self.assertEqual(stored_answers(student, exam), {SKY: ["Blue"]})

    def test_a_closed_attempt_stops_the_retries_and_says_so(self) -> None:
        student, exam = new_student(), open_exam(closes_in=timedelta(seconds=8), grace_seconds=0)
        sign_in_quietly(self.driver, self.live_server_url, student)
        open_exam_page(self.driver, self.live_server_url, exam)
        set_offline(self.driver, True)
        choose(self.driver, SKY, "Green")
        wait_for(self.driver, lambda d: "Time is up" in d.find_element(By.ID, "time-alert").text, seconds=20)
        settle(1)
        set_offline(self.driver, False)
        wait_for(self.driver, lambda d: "The exam is closed" in status_text(d))
        self.assertIn("Answers not saved: 1", status_text(self.driver))
        self.assertIn("The exam is closed", self.driver.find_element(By.ID, "page-error").text)
        self.assertEqual(stored_answers(student, exam), {})

    def test_the_timer_follows_the_server_clock_not_the_device(self) -> None:
        student, exam = new_student(), open_exam(closes_in=timedelta(minutes=4, seconds=30))
        sign_in_quietly(self.driver, self.live_server_url, student)
        # The device's clock is an hour fast: the timer must not care.
        shifted = self.driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument",
            {"source": "{ const realNow = Date.now; Date.now = () => realNow() + 3600000; }"},
        )
        try:
            open_exam_page(self.driver, self.live_server_url, exam)
            self.assertGreater(self.driver.execute_script("return Date.now() - new Date().getTime()"), 3_500_000)
        finally:
            self.driver.execute_cdp_cmd(
                "Page.removeScriptToEvaluateOnNewDocument", {"identifier": shifted["identifier"]}
            )
        timer = self.driver.find_element(By.CSS_SELECTOR, '[role="timer"]')
        self.assertRegex(timer.text, r"^Time left: 04:(2\d|30)$")
        self.assertEqual(self.driver.find_element(By.ID, "time-alert").text, "Less than 5 minutes left.")


class OtherPagesTests(SiteBrowserTestCase):
    def test_my_exams_says_where_each_exam_stands(self) -> None:
        student = new_student()
        doctor = make_doctor()
        now = timezone.now()
        titles = {
            "Upcoming": make_exam(owner=doctor, opens_at=now + timedelta(days=1), closes_at=now + timedelta(days=2)),
            "Open": make_exam(owner=doctor),
            "Closed": make_exam(owner=doctor, opens_at=now - timedelta(days=2), closes_at=now - timedelta(days=1)),
            "Graded": make_exam(owner=doctor, opens_at=now - timedelta(days=2), closes_at=now - timedelta(days=1)),
        }
        for title, exam in titles.items():
            Exam.objects.filter(pk=exam.pk).update(title=f"{title} exam")
        Exam.objects.filter(pk=titles["Graded"].pk).update(status=Exam.Status.GRADED, results_released=True)
        Degree.objects.create(
            student=student, exam=titles["Graded"], marks_obtained=2, marks_available=3, source="online", graded_at=now
        )
        sign_in_quietly(self.driver, self.live_server_url, student)
        self.driver.get(self.url("/app/exams/"))
        wait_for(self.driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#exam-list li"))
        states = {
            item.find_element(By.TAG_NAME, "a").text: item.find_element(By.CLASS_NAME, "badge").text
            for item in self.driver.find_elements(By.CSS_SELECTOR, "#exam-list li")
        }
        self.assertTrue(states["Upcoming exam"].startswith("Upcoming: opens "))
        self.assertTrue(states["Open exam"].startswith("Open until "))
        self.assertTrue(states["Closed exam"].startswith("Finished: closed "))
        self.assertEqual(states["Graded exam"], "Graded: your result is available")

        self.driver.find_element(By.LINK_TEXT, "Graded exam").click()
        wait_for(self.driver, lambda d: "Your score" in d.find_element(By.ID, "score").text)
        self.assertEqual(self.driver.find_element(By.ID, "score").text, "Your score: 2 of 3 (66.7%)")
        self.assertEqual(self.driver.find_element(By.TAG_NAME, "h1").text, "Graded exam")

    def test_a_result_not_released_says_so(self) -> None:
        student, exam = new_student(), open_exam()
        sign_in_quietly(self.driver, self.live_server_url, student)
        self.driver.get(self.url(f"/app/exams/{exam.id}/result/"))
        wait_for(self.driver, lambda d: d.find_element(By.ID, "score").text == "Your result is not available yet.")

    def test_a_student_hands_in_a_file_with_an_upload_code(self) -> None:
        student = new_student()
        doctor = make_doctor()
        exam = make_exam(owner=doctor, kind=Exam.Kind.HANDIN)
        code = handin_create(user=doctor, exam_id=exam.id, student_number=student.student_number).upload_code
        with tempfile.NamedTemporaryFile(suffix=".pdf", delete=False) as handle:
            handle.write(b"%PDF-1.4\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 40 + b"%%EOF\n")
        try:
            self.driver.get(self.url("/app/handin/"))
            by_label(self.driver, "Upload code").send_keys(code)
            button(self.driver, "Show my hand-in").click()
            state = self.driver.find_element(By.ID, "handin-state")
            wait_for(self.driver, lambda d: state.text == "Uploads left: 5 No file uploaded yet.")
            by_label(self.driver, "File").send_keys(handle.name)
            button(self.driver, "Upload").click()
            wait_for(self.driver, lambda d: state.text.startswith("Your file was received. Uploads left: 4"))
            self.assertIn("verification code", state.text)
        finally:
            Path(handle.name).unlink()

    def test_an_unknown_upload_code_is_announced(self) -> None:
        self.driver.get(self.url("/app/handin/"))
        by_label(self.driver, "Upload code").send_keys("ZZZZ9999")
        button(self.driver, "Show my hand-in").click()
        alert = self.driver.find_element(By.ID, "handin-error")
        wait_for(self.driver, lambda d: alert.text == "This upload code is not known. Check it and try again.")


class PhoneAndLanguageTests(SiteBrowserTestCase):
    width = 390
    language = "ar"

    def test_every_page_fits_a_390_pixel_screen_in_arabic_right_to_left(self) -> None:
        student = new_student()
        questions = colour_questions()
        questions[0]["text"] = "A question with a long word: " + "Antidisestablishmentarianism" * 3
        exam = open_exam(questions=questions)
        sign_in_quietly(self.driver, self.live_server_url, student)
        for path in ("/app/", "/app/exams/", f"/app/exams/{exam.id}/", f"/app/exams/{exam.id}/result/", "/app/handin/"):
            with self.subTest(path=path):
                if path == "/app/":
                    self.driver.execute_script("sessionStorage.clear()")
                self.driver.get(self.url(path))
                settle(1)
                self.assertEqual(self.driver.find_element(By.TAG_NAME, "html").get_attribute("dir"), "rtl")
                widths = self.driver.execute_script(
                    "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
                )
                self.assertLessEqual(widths[0], widths[1], f"horizontal scrolling on {path}")
                if path == "/app/":
                    sign_in_quietly(self.driver, self.live_server_url, student)
        self.driver.get(self.url(f"/app/exams/{exam.id}/"))
        wait_for(self.driver, lambda d: d.find_elements(By.CSS_SELECTOR, "fieldset input"))
        wait_for(self.driver, lambda d: status_text(d) == "حُفظت كل الإجابات")  # "All answers saved"


class AccessibilityTests(SiteBrowserTestCase):
    def assert_accessible(self, what: str) -> None:
        problems = failing(axe_violations(self.driver))
        self.assertEqual(problems, [], f"axe-core on {what}")
        self.assertEqual(csp_violations(self.driver), [], f"CSP refusals on {what}")

    def test_axe_finds_no_serious_or_critical_violation_on_any_page(self) -> None:
        student, exam = new_student(), open_exam()
        self.driver.get(self.url("/app/"))
        self.assert_accessible("sign in")
        button(self.driver, "Sign in").click()
        wait_for(self.driver, lambda d: d.find_element(By.ID, "sign-in-error").text)
        self.assert_accessible("sign in with an error")
        sign_in_quietly(self.driver, self.live_server_url, student)
        self.driver.get(self.url("/app/exams/"))
        wait_for(self.driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#exam-list li"))
        self.assert_accessible("my exams")
        open_exam_page(self.driver, self.live_server_url, exam)
        choose(self.driver, SKY, "Blue")
        wait_saved(self.driver)
        self.assert_accessible("the exam")
        button(self.driver, "Finish exam").click()
        wait_for(self.driver, lambda d: d.find_element(By.CSS_SELECTOR, "dialog[open]"))
        self.assert_accessible("the finish dialog")
        button(self.driver, "Keep working").click()
        self.driver.get(self.url(f"/app/exams/{exam.id}/result/"))
        wait_for(self.driver, lambda d: d.find_element(By.ID, "score").text != "Loading…")
        self.assert_accessible("the result")
        self.driver.get(self.url("/app/handin/"))
        self.assert_accessible("hand in")

    def test_focus_is_visible(self) -> None:
        self.driver.get(self.url("/app/"))
        email = by_label(self.driver, "Email")
        email.click()
        outline = self.driver.execute_script("return getComputedStyle(arguments[0]).outlineStyle", email)
        shadow = self.driver.execute_script("return getComputedStyle(arguments[0]).boxShadow", email)
        self.assertTrue(outline != "none" or shadow != "none")

    def test_the_admin_and_api_docs_work_under_the_policy(self) -> None:
        self.driver.get(self.url("/api/docs/"))
        wait_for(self.driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"), seconds=20)
        self.assertEqual(csp_violations(self.driver), [])
        self.driver.get(self.url("/admin/login/"))
        self.assertEqual(csp_violations(self.driver), [])
        self.assertTrue(self.driver.find_element(By.ID, "id_username").is_displayed())
