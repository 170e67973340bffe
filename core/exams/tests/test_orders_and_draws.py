"""Shuffled questions and choices, and question draws: fixed when an attempt starts, stored with it, shown in its
order on every call, and enforced on the hot path (docs/api.md, "Exam rules that exam offices need")."""

from __future__ import annotations

import json
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from core.audit.models import AuditRecord
from core.exams.caching import attempt_window_name
from core.exams.models import Attempt, Exam
from core.exams.tests.factories import make_doctor, make_exam, make_student, token_for

# A content type the lean PUT road leaves to DRF's road (see test_answers_lean).
DRF_ROAD = "application/json; charset=iso-8859-1"


def many_questions(count: int, *, choices: int = 4) -> list[dict[str, Any]]:
    """`count` questions, each with `choices` choices of which the first is correct; question i is worth i+1."""
    return [
        {
            "text": f"Q{i}",
            "points": i + 1,
            "choices": [{"text": f"Q{i}c{j}", "is_correct": j == 0} for j in range(choices)],
        }
        for i in range(count)
    ]


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return client


class OrdersAndDrawsTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.exam = make_exam(owner=cls.doctor, questions=many_questions(8, choices=5))
        Exam.objects.filter(pk=cls.exam.pk).update(
            shuffle_questions=True, shuffle_choices=True, questions_per_attempt=5
        )
        cls.exam.refresh_from_db()
        cls.exam_order = list(cls.exam.questions.values_list("id", flat=True))

    def setUp(self) -> None:
        cache.clear()

    def start(self, student: Any) -> APIClient:
        client = client_for(student)
        self.assertEqual(client.post(f"/api/exams/{self.exam.id}/attempt").status_code, 201)
        return client

    def shown(self, client: APIClient) -> list[tuple[int, list[int]]]:
        body = client.get(f"/api/exams/{self.exam.id}").json()
        return [(q["id"], [c["id"] for c in q["choices"]]) for q in body["questions"]]

    def test_an_attempt_is_given_its_drawn_questions_in_its_stored_order(self) -> None:
        student = make_student()
        client = self.start(student)
        attempt = Attempt.objects.get(exam=self.exam, student=student)
        self.assertEqual(len(attempt.question_order), 5)
        self.assertLessEqual(set(attempt.question_order), set(self.exam_order))
        shown = self.shown(client)
        self.assertEqual([question_id for question_id, _ in shown], attempt.question_order)
        for question_id, choice_ids in shown:
            self.assertEqual(choice_ids, attempt.choice_order[str(question_id)])
            self.assertEqual(len(choice_ids), 5)

    def test_the_order_is_the_same_on_every_call_and_every_device(self) -> None:
        student = make_student()
        first = self.shown(self.start(student))
        cache.clear()
        other_device = client_for(student)  # another token, as a second device would have
        self.assertEqual(other_device.post(f"/api/exams/{self.exam.id}/attempt").status_code, 200)
        for _ in range(3):
            self.assertEqual(self.shown(other_device), first)

    def test_students_get_their_own_draws_and_orders(self) -> None:
        orders = {json.dumps(self.shown(self.start(make_student()))) for _ in range(6)}
        # Six draws of 5 of 8 questions in random order, with shuffled choices: all alike is ~impossible.
        self.assertGreater(len(orders), 1)

    def test_a_save_to_a_question_the_attempt_was_not_given_is_a_422_on_both_roads(self) -> None:
        student = make_student()
        client = self.start(student)
        given = Attempt.objects.get(exam=self.exam, student=student).question_order
        missing = next(question_id for question_id in self.exam_order if question_id not in given)
        choice = self.exam.questions.get(pk=missing).choices.first().id
        body = json.dumps({"answers": [{"question": missing, "choices": [choice]}]})
        url = f"/api/exams/{self.exam.id}/answers"
        for content_type in ("application/json", DRF_ROAD):
            with self.subTest(content_type=content_type):
                response = client.generic("PUT", url, body, content_type=content_type)
                self.assertEqual(response.status_code, 422, response.content)
                self.assertEqual(response.json()["error"], "validation_error")
                self.assertIn("answers[0].question", response.json()["fields"])
        self.assertEqual(client.get(url).json()["answers"], [])

    def test_a_warm_save_checks_the_draw_without_a_postgresql_query(self) -> None:
        student = make_student()
        client = self.start(student)
        given = Attempt.objects.get(exam=self.exam, student=student).question_order
        missing = next(question_id for question_id in self.exam_order if question_id not in given)
        first = self.exam.questions.get(pk=given[0]).choices.first().id
        url = f"/api/exams/{self.exam.id}/answers"
        ok = {"answers": [{"question": given[0], "choices": [first]}]}
        self.assertEqual(client.put(url, ok, format="json").status_code, 200)  # warm
        refused = {"answers": [{"question": missing, "choices": [first]}]}
        with CaptureQueriesContext(connection) as context:
            self.assertEqual(client.put(url, ok, format="json").status_code, 200)
            self.assertEqual(client.put(url, refused, format="json").status_code, 422)
        exam_queries = [q["sql"] for q in context.captured_queries if "answers_answer" not in q["sql"]]
        self.assertEqual(exam_queries, [])

    def test_the_draw_is_checked_after_the_cache_is_lost_too(self) -> None:
        student = make_student()
        client = self.start(student)
        given = Attempt.objects.get(exam=self.exam, student=student).question_order
        missing = next(question_id for question_id in self.exam_order if question_id not in given)
        cache.clear()
        body = {"answers": [{"question": missing, "choices": [self.exam.questions.get(pk=missing).choices.first().id]}]}
        self.assertEqual(client.put(f"/api/exams/{self.exam.id}/answers", body, format="json").status_code, 422)
        self.assertEqual(cache.get(attempt_window_name(self.exam.id, student.id)).question_ids, frozenset(given))

    def test_the_doctor_sees_every_question_and_the_new_fields(self) -> None:
        body = client_for(self.doctor).get(f"/api/exams/{self.exam.id}").json()
        self.assertEqual([q["id"] for q in body["questions"]], self.exam_order)
        self.assertEqual(
            {k: body[k] for k in ("shuffle_questions", "shuffle_choices", "questions_per_attempt", "review")},
            {"shuffle_questions": True, "shuffle_choices": True, "questions_per_attempt": 5, "review": "score"},
        )
        self.assertEqual({q["scoring"] for q in body["questions"]}, {"all_or_nothing"})


class PlainExamTests(TestCase):
    """Without shuffling or a draw, an attempt is given every question in the exam's order."""

    def test_an_attempt_without_shuffling_keeps_the_exams_order(self) -> None:
        exam = make_exam(owner=make_doctor(), questions=many_questions(4))
        student = make_student()
        client = client_for(student)
        self.assertEqual(client.post(f"/api/exams/{exam.id}/attempt").status_code, 201)
        exam_order = list(exam.questions.values_list("id", flat=True))
        attempt = Attempt.objects.get(exam=exam, student=student)
        self.assertEqual((attempt.question_order, attempt.choice_order), (exam_order, {}))
        shown = client.get(f"/api/exams/{exam.id}").json()["questions"]
        self.assertEqual([q["id"] for q in shown], exam_order)
        first = exam.questions.first()
        self.assertEqual([c["id"] for c in shown[0]["choices"]], [c.id for c in first.choices.all()])

    def test_without_a_draw_the_cached_window_stays_as_small_as_before(self) -> None:
        exam = make_exam(owner=make_doctor(), questions=many_questions(4))
        Exam.objects.filter(pk=exam.pk).update(shuffle_questions=True)
        student = make_student()
        client_for(student).post(f"/api/exams/{exam.id}/attempt")
        self.assertIsNone(cache.get(attempt_window_name(exam.id, student.id)).question_ids)

    def test_an_attempt_from_before_stored_orders_is_given_every_question(self) -> None:
        exam = make_exam(owner=make_doctor(), questions=many_questions(3))
        student = make_student()
        client = client_for(student)
        client.post(f"/api/exams/{exam.id}/attempt")
        Attempt.objects.filter(exam=exam, student=student).update(question_order=None)
        cache.clear()
        exam_order = list(exam.questions.values_list("id", flat=True))
        self.assertEqual([q["id"] for q in client.get(f"/api/exams/{exam.id}").json()["questions"]], exam_order)
        last = exam.questions.last()
        body = {"answers": [{"question": last.id, "choices": [last.choices.first().id]}]}
        self.assertEqual(client.put(f"/api/exams/{exam.id}/answers", body, format="json").status_code, 200)


class ExamFieldsApiTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()

    def create(self, **fields: Any) -> Any:
        body = {
            "code": f"RC-{Exam.objects.count()}-{len(fields)}",
            "title": "Rules",
            "subject": "Math",
            "level": "Year 1",
            "kind": "online",
            "opens_at": "2030-01-01T09:00:00Z",
            "closes_at": "2030-01-01T11:00:00Z",
            "duration_minutes": 30,
            "questions": many_questions(3),
            **fields,
        }
        return client_for(self.doctor).post("/api/exams", body, format="json")

    def test_the_new_fields_have_their_defaults(self) -> None:
        body = self.create().json()
        self.assertEqual(
            {k: body[k] for k in ("shuffle_questions", "shuffle_choices", "questions_per_attempt", "review")},
            {"shuffle_questions": False, "shuffle_choices": False, "questions_per_attempt": None, "review": "score"},
        )

    def test_post_and_patch_take_the_new_fields(self) -> None:
        response = self.create(shuffle_questions=True, questions_per_attempt=2, review="answers")
        self.assertEqual(response.status_code, 201, response.content)
        exam_id = response.json()["id"]
        patched = client_for(self.doctor).patch(
            f"/api/exams/{exam_id}",
            {"shuffle_choices": True, "questions_per_attempt": 3, "review": "none"},
            format="json",
        )
        self.assertEqual(patched.status_code, 200, patched.content)
        exam = Exam.objects.get(pk=exam_id)
        self.assertEqual(
            (exam.shuffle_questions, exam.shuffle_choices, exam.questions_per_attempt, exam.review),
            (True, True, 3, "none"),
        )

    def test_questions_per_attempt_must_be_between_1_and_the_number_of_questions(self) -> None:
        for value in (0, 4, -1):
            with self.subTest(value=value):
                response = self.create(questions_per_attempt=value)
                self.assertEqual(response.status_code, 422, response.content)
                self.assertIn("questions_per_attempt", response.json()["fields"])
        exam_id = self.create(questions_per_attempt=3).json()["id"]
        # Removing questions below the draw is refused too.
        fewer = client_for(self.doctor).patch(f"/api/exams/{exam_id}", {"questions": many_questions(2)}, format="json")
        self.assertEqual(fewer.status_code, 422, fewer.content)

    def test_a_review_outside_its_choices_is_a_400(self) -> None:
        self.assertEqual(self.create(review="everything").status_code, 400)

    def test_questions_per_attempt_cannot_change_once_an_attempt_exists(self) -> None:
        exam = make_exam(owner=self.doctor, questions=many_questions(3))
        client_for(make_student()).post(f"/api/exams/{exam.id}/attempt")
        response = client_for(self.doctor).patch(f"/api/exams/{exam.id}", {"questions_per_attempt": 2}, format="json")
        self.assertEqual(response.status_code, 409, response.content)
        self.assertEqual(response.json()["error"], "draw_locked")
        # The other new fields may still change.
        response = client_for(self.doctor).patch(
            f"/api/exams/{exam.id}", {"shuffle_questions": True, "review": "answers"}, format="json"
        )
        self.assertEqual(response.status_code, 200, response.content)

    def test_a_change_of_correct_choices_or_scoring_is_recorded_as_a_key_correction(self) -> None:
        exam = make_exam(owner=self.doctor, questions=many_questions(2))
        doctor = client_for(self.doctor)
        body = doctor.get(f"/api/exams/{exam.id}").json()
        questions = body["questions"]
        # Question 0: the second choice becomes the correct one; question 1: partial scoring; text-only edits
        # are not key corrections.
        for j, choice in enumerate(questions[0]["choices"]):
            choice["is_correct"] = j == 1
        questions[1]["scoring"] = "partial"
        questions[1]["text"] = "Q1, reworded"
        response = doctor.patch(f"/api/exams/{exam.id}", {"questions": questions}, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        records = AuditRecord.objects.filter(exam_id=exam.id, action="question.key_corrected").order_by("id")
        self.assertEqual([r.detail["question"] for r in records], [questions[0]["id"], questions[1]["id"]])
        first, second = records[0].detail, records[1].detail
        self.assertEqual(first["before"]["correct_choices"], [questions[0]["choices"][0]["id"]])
        self.assertEqual(first["after"]["correct_choices"], [questions[0]["choices"][1]["id"]])
        self.assertEqual((second["before"]["scoring"], second["after"]["scoring"]), ("all_or_nothing", "partial"))
        self.assertEqual(records[0].actor_id, self.doctor.id)
        # Sending the same key again corrects nothing.
        doctor.patch(f"/api/exams/{exam.id}", {"questions": questions}, format="json")
        self.assertEqual(AuditRecord.objects.filter(exam_id=exam.id, action="question.key_corrected").count(), 2)
