"""What the site's browser tests and screenshots share: people and exams made through the services, and the
moves a student makes in the page, found by accessible names and roles as docs/api.md lists them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from core.accounts.models import User
from core.accounts.services import student_create
from core.accounts.tokens import SingleUseRefreshToken
from core.exams.models import Exam
from core.exams.tests.factories import make_doctor, make_exam, unique
from core.tests.browser import WAIT_SECONDS

PASSWORD = "site-pass-word-1"
SAVED = "All answers saved"


def make_student(*, level: str = "Year 1") -> User:
    number = unique("W")
    return student_create(
        student_number=number,
        full_name=f"Student {number}",
        level=level,
        email=f"{number.lower()}@site.test",
        password=PASSWORD,
    )


def colour_questions(count: int = 3) -> list[dict[str, Any]]:
    """Question 2 takes several answers; the others one."""
    questions = [
        {
            "text": "Which colour is the sky on a clear day?",
            "choices": [
                {"text": "Blue", "is_correct": True},
                {"text": "Green", "is_correct": False},
                {"text": "Red", "is_correct": False},
            ],
        },
        {
            "text": "Which of these are primary colours of light?",
            "points": 2,
            "choices": [
                {"text": "Red", "is_correct": True},
                {"text": "Yellow", "is_correct": False},
                {"text": "Blue", "is_correct": True},
            ],
        },
        {
            "text": "Which colour do you get from mixing blue and yellow?",
            "choices": [
                {"text": "Purple", "is_correct": False},
                {"text": "Green", "is_correct": True},
                {"text": "Orange", "is_correct": False},
            ],
        },
    ]
    for n in range(3, count):
        questions.append(
            {
                "text": f"Question text number {n + 1}: how many sides has a shape with {n + 1} sides?",
                "choices": [{"text": str(n + 1 + k), "is_correct": k == 0} for k in range(4)],
            }
        )
    return questions[:count]


def open_exam(
    *,
    title: str = "Colours and light",
    closes_in: timedelta = timedelta(hours=2),
    grace_seconds: int = 30,
    **kwargs: Any,
) -> Exam:
    exam = make_exam(
        owner=make_doctor(),
        closes_at=timezone.now() + closes_in,
        grace_seconds=grace_seconds,
        questions=kwargs.pop("questions", None) or colour_questions(),
        **kwargs,
    )
    Exam.objects.filter(pk=exam.pk).update(title=title)
    exam.title = title
    return exam


def api_for(student: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {SingleUseRefreshToken.for_user(student).access_token}")
    return client


def stored_answers(student: User, exam: Exam) -> dict[str, list[str]]:
    """The student's answers as the API returns them, by question text: the choice texts, sorted."""
    body = api_for(student).get(f"/api/exams/{exam.id}/answers").json()
    questions = {q.id: q for q in exam.questions.prefetch_related("choices")}
    result = {}
    for answer in body["answers"]:
        question = questions[answer["question"]]
        texts = {c.id: c.text for c in question.choices.all()}
        result[question.text] = sorted(texts[c] for c in answer["choices"])
    return result


def wait_for(driver: Any, condition: Callable[[Any], Any], seconds: float = WAIT_SECONDS, message: str = "") -> Any:
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition, message)


def by_label(driver: Any, text: str, within: Any = None) -> Any:
    """The input whose <label> reads exactly `text` (within an element, when given)."""
    scope = within or driver
    for label in scope.find_elements(By.TAG_NAME, "label"):
        if label.text.strip() == text:
            return driver.find_element(By.ID, label.get_attribute("for"))
    raise AssertionError(f"no input labelled {text!r}")


def button(driver: Any, name: str) -> Any:
    """The visible <button> whose text is `name`; inside the open modal dialog when there is one, as the page
    behind a modal dialog is inert (out of reach of the keyboard, the mouse and screen readers)."""
    dialogs = driver.find_elements(By.CSS_SELECTOR, "dialog[open]")
    for element in (dialogs[0] if dialogs else driver).find_elements(By.TAG_NAME, "button"):
        if element.text.strip() == name and element.is_displayed():
            return element
    raise AssertionError(f"no button named {name!r}")


def question(driver: Any, text: str) -> Any:
    """The fieldset of the question whose text is `text`."""
    for fieldset in driver.find_elements(By.CSS_SELECTOR, "fieldset"):
        if text in fieldset.find_element(By.TAG_NAME, "legend").text:
            return fieldset
    raise AssertionError(f"no question {text!r}")


def choose(driver: Any, question_text: str, choice_text: str) -> None:
    by_label(driver, choice_text, question(driver, question_text)).click()


def status_text(driver: Any) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, '[role="status"]#save-status').text)


def wait_saved(driver: Any) -> None:
    wait_for(driver, lambda d: status_text(d) == SAVED, message=f"status never read {SAVED!r}")


def sign_in(driver: Any, base_url: str, student: User) -> None:
    """Signs in through the form, as a student would."""
    driver.get(f"{base_url}/app/")
    by_label(driver, "Email").send_keys(student.email)
    by_label(driver, "Password").send_keys(PASSWORD)
    button(driver, "Sign in").click()
    wait_for(driver, lambda d: d.current_url.endswith("/app/exams/"), message="sign in did not reach my exams")


def sign_in_quietly(driver: Any, base_url: str, student: User) -> None:
    """Puts a fresh session in this tab's sessionStorage, as the sign-in page would (spares the login throttle)."""
    refresh = SingleUseRefreshToken.for_user(student)
    session = {
        "access": str(refresh.access_token),
        "refresh": str(refresh),
        "user": {"id": student.id, "email": student.email, "role": "student"},
    }
    driver.get(f"{base_url}/app/handin/")
    driver.execute_script("sessionStorage.setItem('exams.tokens', arguments[0]);", json.dumps(session))


def open_exam_page(driver: Any, base_url: str, exam: Exam) -> None:
    driver.get(f"{base_url}/app/exams/{exam.id}/")
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "fieldset input"), message="no questions shown")


def settle(seconds: float = 0.3) -> None:
    time.sleep(seconds)
