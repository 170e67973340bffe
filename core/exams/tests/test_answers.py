"""PUT/GET /api/exams/{id}/answers: the hot path, every kind of bad input, and its cache."""

from __future__ import annotations

import json

from django.core.cache import cache
from django.db import connection
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from core.answers.store import answer_store
from core.exams.caching import attempt_window_name, exam_key_name
from core.exams.models import Choice, Question
from core.exams.tests.factories import ids_of, make_doctor, make_exam, make_student, token_for


class AnswersApiTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.exam = make_exam(owner=cls.doctor, level="Year 1")
        cls.other_exam = make_exam(owner=cls.doctor, level="Year 1")
        (cls.q1, cls.q1_choices, cls.q1_correct), (cls.q2, cls.q2_choices, cls.q2_correct) = ids_of(cls.exam)
        (cls.foreign_q, cls.foreign_choices, _), _ = ids_of(cls.other_exam)

    def setUp(self) -> None:
        cache.clear()
        # A new student per test: the Cassandra store outlives each test's rolled-back transaction.
        self.student = make_student(level="Year 1")
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(self.student)}")
        self.url = f"/api/exams/{self.exam.id}/answers"

    def start(self) -> None:
        self.assertEqual(self.client.post(f"/api/exams/{self.exam.id}/attempt").status_code, 201)

    def put(self, answers: object):
        return self.client.put(self.url, {"answers": answers}, format="json")

    def stored(self) -> list:
        return answer_store().for_student(exam_id=self.exam.id, student_id=self.student.id)

    def assert_refused(self, answers: object, status: int, field: str | None = None) -> dict:
        response = self.put(answers)
        self.assertEqual(response.status_code, status, response.content)
        body = response.json()
        self.assertEqual(body["error"], "validation_error")
        if field:
            self.assertIn(field, body["fields"])
        self.assertEqual(self.stored(), [], "nothing may be stored when any item is bad")
        return body

    # --- the happy path ---

    def test_it_saves_answers_and_gives_them_back_to_resume(self) -> None:
        self.start()
        response = self.put(
            [{"question": self.q1, "choices": self.q1_correct}, {"question": self.q2, "choices": self.q2_correct}]
        )
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["saved"], 2)
        self.assertIn("server_time", response.json())

        resumed = self.client.get(self.url)
        self.assertEqual(resumed.status_code, 200)
        body = resumed.json()
        self.assertIn("server_time", body)
        self.assertEqual(
            [(a["question"], a["choices"]) for a in body["answers"]],
            [(self.q1, self.q1_correct), (self.q2, sorted(self.q2_correct))],
        )
        self.assertTrue(all(a["saved_at"] for a in body["answers"]))

    def test_a_later_save_replaces_an_earlier_one(self) -> None:
        self.start()
        self.put([{"question": self.q1, "choices": [self.q1_choices[0]]}])
        self.put([{"question": self.q1, "choices": [self.q1_choices[2]]}])
        self.assertEqual([a.choice_ids for a in self.stored()], [(self.q1_choices[2],)])

    def test_resume_before_starting_is_empty(self) -> None:
        response = self.client.get(self.url)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["answers"], [])

    # --- 422: content that does not fit the exam ---

    def test_it_refuses_a_question_from_another_exam(self) -> None:
        self.start()
        self.assert_refused(
            [
                {"question": self.q1, "choices": self.q1_correct},
                {"question": self.foreign_q, "choices": self.foreign_choices[:1]},
            ],
            422,
            "answers[1].question",
        )

    def test_it_refuses_a_choice_of_another_question(self) -> None:
        self.start()
        self.assert_refused([{"question": self.q1, "choices": [self.q2_choices[0]]}], 422, "answers[0].choices")

    def test_it_refuses_a_repeated_question(self) -> None:
        self.start()
        self.assert_refused(
            [{"question": self.q1, "choices": self.q1_correct}, {"question": self.q1, "choices": self.q1_correct}],
            422,
            "answers[1].question",
        )

    def test_it_refuses_several_choices_for_a_single_answer_question(self) -> None:
        self.start()
        self.assert_refused([{"question": self.q1, "choices": self.q1_choices[:2]}], 422, "answers[0].choices")

    def test_a_multi_answer_question_takes_several_choices(self) -> None:
        self.start()
        self.assertEqual(self.put([{"question": self.q2, "choices": self.q2_choices}]).status_code, 200)

    def test_it_refuses_an_empty_choice_list(self) -> None:
        self.start()
        self.assert_refused([{"question": self.q1, "choices": []}], 422, "answers[0].choices")

    def test_it_refuses_an_empty_answer_list(self) -> None:
        self.start()
        self.assert_refused([], 422, "answers")

    def test_it_refuses_more_than_200_items(self) -> None:
        self.start()
        self.assert_refused([{"question": self.q1, "choices": self.q1_correct}] * 201, 422, "answers")

    # --- 400: a body of the wrong shape ---

    def test_it_refuses_non_integer_ids(self) -> None:
        self.start()
        for answers in (
            [{"question": "one", "choices": self.q1_correct}],
            [{"question": self.q1, "choices": ["b"]}],
            [{"question": self.q1, "choices": [1.5]}],
            [{"question": True, "choices": self.q1_correct}],
            [{"question": self.q1}],
            "not a list",
        ):
            self.assert_refused(answers, 400, "answers")

    def test_it_refuses_a_missing_answers_key(self) -> None:
        self.start()
        self.assertEqual(self.client.put(self.url, {"answer": []}, format="json").status_code, 400)

    def test_it_refuses_malformed_json(self) -> None:
        self.start()
        response = self.client.put(self.url, '{"answers": [', content_type="application/json")
        self.assertEqual(response.status_code, 400)
        self.assertIn("error", response.json())

    def test_it_refuses_a_wrong_content_type(self) -> None:
        self.start()
        response = self.client.put(self.url, "answers=1", content_type="text/plain")
        self.assertEqual(response.status_code, 415)
        self.assertEqual(response.json()["error"], "unsupported_media_type")

    @override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
    def test_it_refuses_a_body_that_is_too_large(self) -> None:
        self.start()
        body = json.dumps({"answers": [{"question": self.q1, "choices": self.q1_correct}] * 100})
        self.assertGreater(len(body), 1000)
        response = self.client.put(self.url, body, content_type="application/json")
        self.assertEqual(response.status_code, 413)
        self.assertEqual(response.json()["error"], "payload_too_large")
        self.assertEqual(self.stored(), [])

    # --- 409 and 404: the attempt and the exam ---

    def test_it_refuses_a_save_before_the_attempt_starts(self) -> None:
        response = self.put([{"question": self.q1, "choices": self.q1_correct}])
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()["error"], "attempt_not_started")
        self.assertIn("server_time", response.json())

    def test_it_refuses_a_save_after_finishing(self) -> None:
        self.start()
        self.assertEqual(self.client.post(f"/api/exams/{self.exam.id}/finish").status_code, 202)
        response = self.put([{"question": self.q1, "choices": self.q1_correct}])
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()["error"], "attempt_closed")
        self.assertEqual(self.stored(), [])

    def test_another_levels_exam_is_404(self) -> None:
        elsewhere = make_exam(owner=self.doctor, level="Year 4")
        (question, choices, _), _ = ids_of(elsewhere)
        url = f"/api/exams/{elsewhere.id}/answers"
        response = self.client.put(url, {"answers": [{"question": question, "choices": choices[:1]}]}, format="json")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(self.client.get(url).status_code, 404)
        missing = self.client.put("/api/exams/999999999/answers", {"answers": []}, format="json")
        self.assertEqual(missing.status_code, 404)

    def test_it_refuses_an_anonymous_caller(self) -> None:
        self.assertEqual(APIClient().put(self.url, {"answers": []}, format="json").status_code, 401)

    @override_settings(
        ANSWER_STORE="cassandra",
        CASSANDRA={
            "HOSTS": ["127.0.0.1"],
            "PORT": 9,
            "KEYSPACE": "nowhere",
            "REPLICATION_FACTOR": 1,
            "CONSISTENCY": "LOCAL_QUORUM",
            "CONNECT_TIMEOUT": 0.5,
            "REQUEST_TIMEOUT": 0.5,
        },
    )
    def test_it_answers_503_when_the_store_is_down(self) -> None:
        self.start()
        response = self.put([{"question": self.q1, "choices": self.q1_correct}])
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json()["error"], "answer_store_unavailable")
        self.assertIn("not saved", response.json()["detail"])
        # A read that fails says so, and nothing about saves.
        read = self.client.get(self.url)
        self.assertEqual((read.status_code, read.json()["error"]), (503, "answer_store_unavailable"))
        self.assertNotIn("saved", read.json()["detail"])


class HotPathTests(TestCase):
    """README.md, Architecture: saving answers makes no PostgreSQL query in the common case."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.exam = make_exam(owner=make_doctor())
        (cls.q1, _, cls.q1_correct), (cls.q2, _, cls.q2_correct) = ids_of(cls.exam)

    def setUp(self) -> None:
        cache.clear()
        # A new student per test: the Cassandra store outlives each test's rolled-back transaction.
        self.student = make_student(level="Year 1")
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(self.student)}")
        self.url = f"/api/exams/{self.exam.id}/answers"
        self.client.post(f"/api/exams/{self.exam.id}/attempt")

    def exam_queries(self, context: CaptureQueriesContext) -> list[str]:
        # The PostgreSQL answer backend (ANSWER_STORE=postgres) writes through the same connection;
        # its one INSERT is the store, not the exam app.
        return [q["sql"] for q in context.captured_queries if "answers_answer" not in q["sql"]]

    def test_a_warm_save_makes_no_query_but_the_stores_own(self) -> None:
        body = {"answers": [{"question": self.q1, "choices": self.q1_correct}]}
        self.assertEqual(self.client.put(self.url, body, format="json").status_code, 200)  # warm-up
        with CaptureQueriesContext(connection) as context:
            response = self.client.put(
                self.url, {"answers": [{"question": self.q2, "choices": self.q2_correct}]}, format="json"
            )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.exam_queries(context), [])
        self.assertLessEqual(len(context.captured_queries), 1)

    def test_a_cold_save_reads_the_database_and_refills_the_cache(self) -> None:
        cache.clear()
        body = {"answers": [{"question": self.q1, "choices": self.q1_correct}]}
        with CaptureQueriesContext(connection) as context:
            self.assertEqual(self.client.put(self.url, body, format="json").status_code, 200)
        self.assertGreater(len(self.exam_queries(context)), 0)
        self.assertIsNotNone(cache.get(exam_key_name(self.exam.id)))
        self.assertIsNotNone(cache.get(attempt_window_name(self.exam.id, self.student.id)))

    def test_an_admin_style_edit_takes_effect_at_once(self) -> None:
        body = {"answers": [{"question": self.q1, "choices": self.q1_correct}]}
        self.assertEqual(self.client.put(self.url, body, format="json").status_code, 200)  # key now cached
        question = Question.objects.get(pk=self.q1)
        # What the admin's choice inline does: a plain model save.
        added = Choice.objects.create(question=question, text="d", is_correct=False, position=9)
        self.assertIsNone(cache.get(exam_key_name(self.exam.id)))
        response = self.client.put(self.url, {"answers": [{"question": self.q1, "choices": [added.id]}]}, format="json")
        self.assertEqual(response.status_code, 200, response.content)

        # Making a second choice correct turns question 1 into a multi-answer question.
        Choice.objects.filter(pk=added.pk).update(is_correct=True)  # a bulk update sends no signal ...
        added.is_correct = True
        added.save()  # ... but the admin saves each object, which does
        two = {"answers": [{"question": self.q1, "choices": [*self.q1_correct, added.id]}]}
        self.assertEqual(self.client.put(self.url, two, format="json").status_code, 200)

        added_id = added.id
        added.delete()
        response = self.client.put(self.url, {"answers": [{"question": self.q1, "choices": [added_id]}]}, format="json")
        self.assertEqual(response.status_code, 422)
