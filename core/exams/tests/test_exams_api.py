"""GET/POST /api/exams, GET/PATCH /api/exams/{id}, POST /api/exams/{id}/attempt and /finish, through HTTP."""

from __future__ import annotations

from datetime import timedelta

from django.apps import apps
from django.core.cache import cache
from django.test import TestCase
from django.utils import timezone
from rest_framework.test import APIClient

from core.accounts.models import Level, Subject
from core.exams.caching import exam_key_name, hot_context_get
from core.exams.models import Attempt, Choice, Exam
from core.exams.signals import attempt_finished
from core.exams.tests.factories import (
    default_questions,
    ids_of,
    make_admin,
    make_doctor,
    make_exam,
    make_student,
    token_for,
    unique,
)


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return client


def exam_body(**overrides: object) -> dict:
    now = timezone.now()
    body = {
        "code": unique("NEW"),
        "title": "Algebra midterm",
        "subject": "Algebra",
        "level": "Year 2",
        "kind": "online",
        "opens_at": (now + timedelta(days=1)).isoformat(),
        "closes_at": (now + timedelta(days=1, hours=2)).isoformat(),
        "duration_minutes": 45,
        "questions": default_questions(),
    }
    body.update(overrides)
    return body


class ExamListTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other_doctor = make_doctor(), make_doctor()
        cls.student = make_student(level="Year 1")
        cls.published = make_exam(owner=cls.doctor, level="Year 1")
        cls.draft = make_exam(owner=cls.doctor, level="Year 1", status=Exam.Status.DRAFT)
        cls.other_level = make_exam(owner=cls.other_doctor, level="Year 3")

    def setUp(self) -> None:
        cache.clear()

    def test_a_student_gets_the_published_exams_of_their_level(self) -> None:
        response = client_for(self.student).get("/api/exams")
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertEqual([e["id"] for e in body["results"]], [self.published.id])
        item = body["results"][0]
        for field in ("id", "code", "title", "subject", "kind", "opens_at", "closes_at", "duration_minutes"):
            self.assertIn(field, item)
        self.assertIsNone(item["attempt"])
        self.assertFalse(item["result_available"])
        self.assertEqual(item["subject"], "Math")
        self.assertEqual(set(body), {"count", "next", "previous", "results"})

    def test_a_student_sees_their_attempt_and_a_released_result(self) -> None:
        client_for(self.student).post(f"/api/exams/{self.published.id}/attempt")
        degree = apps.get_model("grading", "Degree")
        degree.objects.create(
            student=self.student,
            exam=self.published,
            marks_obtained=2,
            marks_available=3,
            source="online",
            graded_at=timezone.now(),
        )
        item = client_for(self.student).get("/api/exams").json()["results"][0]
        self.assertIsNotNone(item["attempt"]["started_at"])
        self.assertIsNotNone(item["attempt"]["deadline"])
        self.assertIsNone(item["attempt"]["finished_at"])
        self.assertFalse(item["result_available"])  # not released yet
        Exam.objects.filter(pk=self.published.pk).update(results_released=True)
        item = client_for(self.student).get("/api/exams").json()["results"][0]
        self.assertTrue(item["result_available"])

    def test_a_doctor_gets_only_their_own_exams(self) -> None:
        response = client_for(self.doctor).get("/api/exams")
        self.assertEqual(response.status_code, 200)
        self.assertEqual({e["id"] for e in response.json()["results"]}, {self.published.id, self.draft.id})

    def test_an_admin_gets_every_exam(self) -> None:
        ids = {e["id"] for e in client_for(make_admin()).get("/api/exams").json()["results"]}
        self.assertTrue({self.published.id, self.draft.id, self.other_level.id} <= ids)

    def test_it_refuses_an_anonymous_caller(self) -> None:
        self.assertEqual(APIClient().get("/api/exams").status_code, 401)


class ExamCreateTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()

    def test_a_doctor_creates_a_draft_exam_with_its_questions(self) -> None:
        response = client_for(self.doctor).post("/api/exams", exam_body(), format="json")
        self.assertEqual(response.status_code, 201, response.content)
        body = response.json()
        self.assertEqual(body["status"], "draft")
        self.assertEqual(body["level"], "Year 2")
        self.assertEqual(body["grace_seconds"], 30)
        self.assertEqual(len(body["questions"]), 2)
        self.assertEqual([c["is_correct"] for c in body["questions"][0]["choices"]], [False, True, False])
        self.assertEqual(body["questions"][1]["points"], 2)
        exam = Exam.objects.get(pk=body["id"])
        self.assertEqual(exam.owner, self.doctor)

    def test_it_creates_a_named_level_and_subject_that_do_not_exist(self) -> None:
        client_for(self.doctor).post("/api/exams", exam_body(level="Year 9", subject="Topology"), format="json")
        self.assertTrue(Level.objects.filter(name="Year 9").exists())
        self.assertTrue(Subject.objects.filter(name="Topology", doctors=self.doctor).exists())

    def test_it_refuses_a_taken_code(self) -> None:
        body = exam_body()
        client_for(self.doctor).post("/api/exams", body, format="json")
        response = client_for(self.doctor).post("/api/exams", body, format="json")
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()["error"], "exam_code_taken")

    def test_it_refuses_a_question_with_fewer_than_two_choices(self) -> None:
        questions = [{"text": "Q", "choices": [{"text": "only", "is_correct": True}]}]
        response = client_for(self.doctor).post("/api/exams", exam_body(questions=questions), format="json")
        self.assertEqual(response.status_code, 422)
        self.assertIn("questions[0].choices", response.json()["fields"])
        self.assertFalse(Exam.objects.exists())

    def test_it_refuses_a_question_without_a_correct_choice(self) -> None:
        questions = [{"text": "Q", "choices": [{"text": "a", "is_correct": False}, {"text": "b"}]}]
        response = client_for(self.doctor).post("/api/exams", exam_body(questions=questions), format="json")
        self.assertEqual(response.status_code, 422)
        self.assertFalse(Exam.objects.exists())

    def test_it_refuses_a_code_with_a_slash_or_too_long(self) -> None:
        for code in ("a/b", "x" * 65):
            response = client_for(self.doctor).post("/api/exams", exam_body(code=code), format="json")
            self.assertEqual(response.status_code, 400, code)
            self.assertIn("code", response.json()["fields"])

    def test_it_refuses_a_window_that_closes_before_it_opens(self) -> None:
        now = timezone.now()
        body = exam_body(opens_at=now.isoformat(), closes_at=(now - timedelta(hours=1)).isoformat())
        self.assertEqual(client_for(self.doctor).post("/api/exams", body, format="json").status_code, 422)

    def test_a_students_token_is_forbidden(self) -> None:
        response = client_for(make_student()).post("/api/exams", exam_body(), format="json")
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.json()["error"], "forbidden")

    def test_it_refuses_malformed_json_and_a_wrong_content_type(self) -> None:
        client = client_for(self.doctor)
        bad = client.post("/api/exams", "{not json", content_type="application/json")
        self.assertEqual(bad.status_code, 400)
        wrong = client.post("/api/exams", "code=x", content_type="application/x-www-form-urlencoded")
        self.assertEqual(wrong.status_code, 415)
        self.assertEqual(wrong.json()["error"], "unsupported_media_type")


class ExamDetailTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other_doctor = make_doctor(), make_doctor()
        cls.student = make_student(level="Year 1")
        cls.exam = make_exam(owner=cls.doctor, level="Year 1")

    def setUp(self) -> None:
        cache.clear()

    def test_a_student_never_gets_is_correct(self) -> None:
        client = client_for(self.student)
        client.post(f"/api/exams/{self.exam.id}/attempt")
        response = client.get(f"/api/exams/{self.exam.id}")
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertIn("server_time", body)
        self.assertEqual(len(body["questions"]), 2)
        self.assertNotIn("is_correct", response.content.decode())
        self.assertEqual(set(body["questions"][0]), {"id", "text", "image_url", "points", "choices", "multiple"})
        self.assertEqual(set(body["questions"][0]["choices"][0]), {"id", "text"})

    def test_a_student_is_told_which_questions_take_several_choices(self) -> None:
        body = client_for(self.student).get(f"/api/exams/{self.exam.id}").json()
        self.assertEqual({q["text"]: q["multiple"] for q in body["questions"]}, {"Single": False, "Multi": True})

    def test_a_student_sees_the_questions_of_an_open_exam_before_starting(self) -> None:
        body = client_for(self.student).get(f"/api/exams/{self.exam.id}").json()
        self.assertEqual(len(body["questions"]), 2)
        self.assertIsNone(body["attempt"])

    def test_a_student_sees_no_questions_before_the_window_opens(self) -> None:
        later = make_exam(owner=self.doctor, level="Year 1", opens_at=timezone.now() + timedelta(hours=1))
        body = client_for(self.student).get(f"/api/exams/{later.id}").json()
        self.assertEqual(body["questions"], [])

    def test_a_student_gets_404_for_another_levels_exam_or_a_draft(self) -> None:
        other_level = make_exam(owner=self.doctor, level="Year 2")
        draft = make_exam(owner=self.doctor, level="Year 1", status=Exam.Status.DRAFT)
        for exam in (other_level, draft):
            response = client_for(self.student).get(f"/api/exams/{exam.id}")
            self.assertEqual(response.status_code, 404)
            self.assertEqual(response.json()["error"], "not_found")

    def test_a_doctor_gets_their_exam_with_is_correct(self) -> None:
        body = client_for(self.doctor).get(f"/api/exams/{self.exam.id}").json()
        self.assertIn("is_correct", body["questions"][0]["choices"][0])

    def test_another_doctors_exam_is_404(self) -> None:
        self.assertEqual(client_for(self.other_doctor).get(f"/api/exams/{self.exam.id}").status_code, 404)

    def test_an_admin_gets_any_exam(self) -> None:
        self.assertEqual(client_for(make_admin()).get(f"/api/exams/{self.exam.id}").status_code, 200)


class ExamPatchTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other_doctor = make_doctor(), make_doctor()

    def setUp(self) -> None:
        cache.clear()
        self.exam = make_exam(owner=self.doctor, status=Exam.Status.DRAFT)

    def patch(self, body: dict, user=None):
        return client_for(user or self.doctor).patch(f"/api/exams/{self.exam.id}", body, format="json")

    def questions_as_sent(self) -> list[dict]:
        body = client_for(self.doctor).get(f"/api/exams/{self.exam.id}").json()
        return [
            {"id": q["id"], "text": q["text"], "points": q["points"], "choices": q["choices"]}
            for q in body["questions"]
        ]

    def test_status_moves_forward(self) -> None:
        for status in ("published", "closed", "graded"):
            response = self.patch({"status": status})
            self.assertEqual(response.status_code, 200, response.content)
            self.assertEqual(response.json()["status"], status)

    def test_status_never_moves_back(self) -> None:
        self.patch({"status": "closed"})
        response = self.patch({"status": "published"})
        self.assertEqual(response.status_code, 409)
        self.exam.refresh_from_db()
        self.assertEqual(self.exam.status, "closed")

    def test_it_changes_plain_fields_and_releases_results(self) -> None:
        response = self.patch({"title": "Renamed", "grace_seconds": 5, "results_released": True, "level": "Year 7"})
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertEqual((body["title"], body["grace_seconds"], body["level"]), ("Renamed", 5, "Year 7"))
        self.assertTrue(body["results_released"])

    def test_it_refuses_a_code_another_exam_has(self) -> None:
        other = make_exam(owner=self.doctor)
        response = self.patch({"code": other.code})
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()["error"], "exam_code_taken")

    def test_without_attempts_questions_can_be_added_and_removed(self) -> None:
        new = {"text": "New", "choices": [{"text": "x", "is_correct": True}, {"text": "y", "is_correct": False}]}
        questions = [*self.questions_as_sent()[:1], new]
        response = self.patch({"questions": questions})
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual([q["text"] for q in response.json()["questions"]], ["Single", "New"])

    def test_after_an_attempt_questions_can_be_corrected_but_not_added_or_removed(self) -> None:
        self.patch({"status": "published"})
        student = make_student()
        self.assertEqual(client_for(student).post(f"/api/exams/{self.exam.id}/attempt").status_code, 201)
        questions = self.questions_as_sent()
        # A correction: the right answer of question 1 is really "a".
        questions[0]["choices"][0]["is_correct"], questions[0]["choices"][1]["is_correct"] = True, False
        questions[0]["text"] = "Single (fixed)"
        response = self.patch({"questions": questions})
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["questions"][0]["text"], "Single (fixed)")
        self.assertTrue(response.json()["questions"][0]["choices"][0]["is_correct"])

        added = [*questions, {"text": "Extra", "choices": [{"text": "x", "is_correct": True}, {"text": "y"}]}]
        self.assertEqual(self.patch({"questions": added}).json()["error"], "questions_locked")
        self.assertEqual(self.patch({"questions": questions[:1]}).status_code, 409)
        fewer_choices = [dict(questions[0], choices=questions[0]["choices"][:2]), questions[1]]
        self.assertEqual(self.patch({"questions": fewer_choices}).status_code, 409)
        self.assertEqual(self.exam.questions.count(), 2)

    def test_a_choice_of_another_question_is_422(self) -> None:
        questions = self.questions_as_sent()
        questions[0]["choices"][0]["id"] = questions[1]["choices"][0]["id"]
        self.assertEqual(self.patch({"questions": questions}).status_code, 422)

    def test_another_doctors_exam_is_404_and_a_student_is_403(self) -> None:
        self.assertEqual(self.patch({"title": "x"}, user=self.other_doctor).status_code, 404)
        self.assertEqual(self.patch({"title": "x"}, user=make_student()).status_code, 403)

    def test_an_admin_may_patch_any_exam(self) -> None:
        self.assertEqual(self.patch({"title": "By admin"}, user=make_admin()).status_code, 200)

    def test_a_patch_drops_the_cached_answer_key(self) -> None:
        self.patch({"status": "published"})
        key, _ = hot_context_get(exam_id=self.exam.id, student_id=0)
        self.assertIsNotNone(cache.get(exam_key_name(self.exam.id)))
        questions = self.questions_as_sent()
        questions[0]["choices"] = [*questions[0]["choices"][:2]]
        self.patch({"questions": questions})
        self.assertIsNone(cache.get(exam_key_name(self.exam.id)))
        fresh, _ = hot_context_get(exam_id=self.exam.id, student_id=0)
        self.assertEqual(len(fresh.questions[questions[0]["id"]][0]), 2)
        self.assertNotEqual(fresh.questions, key.questions)


class AttemptStartTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.student = make_student(level="Year 1")
        cls.exam = make_exam(owner=cls.doctor, level="Year 1", duration_minutes=30)

    def setUp(self) -> None:
        cache.clear()

    def test_it_starts_once_then_returns_the_same_attempt(self) -> None:
        client = client_for(self.student)
        first = client.post(f"/api/exams/{self.exam.id}/attempt")
        self.assertEqual(first.status_code, 201)
        self.assertEqual(set(first.json()) >= {"started_at", "deadline", "server_time"}, True)
        second = client.post(f"/api/exams/{self.exam.id}/attempt")
        self.assertEqual(second.status_code, 200)
        self.assertEqual(second.json()["started_at"], first.json()["started_at"])
        self.assertEqual(second.json()["deadline"], first.json()["deadline"])
        self.assertEqual(Attempt.objects.filter(exam=self.exam).count(), 1)

    def test_it_refuses_outside_the_window(self) -> None:
        now = timezone.now()
        later = make_exam(owner=self.doctor, opens_at=now + timedelta(hours=1), closes_at=now + timedelta(hours=2))
        response = client_for(self.student).post(f"/api/exams/{later.id}/attempt")
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()["error"], "exam_not_open")
        closed = make_exam(owner=self.doctor, status=Exam.Status.CLOSED)
        response = client_for(self.student).post(f"/api/exams/{closed.id}/attempt")
        self.assertEqual(response.json()["error"], "exam_not_open")

    def test_another_levels_exam_is_404(self) -> None:
        other = make_exam(owner=self.doctor, level="Year 2")
        self.assertEqual(client_for(self.student).post(f"/api/exams/{other.id}/attempt").status_code, 404)

    def test_a_doctors_token_is_forbidden_on_student_endpoints(self) -> None:
        client = client_for(self.doctor)
        self.assertEqual(client.post(f"/api/exams/{self.exam.id}/attempt").status_code, 403)
        answers = client.put(f"/api/exams/{self.exam.id}/answers", {"answers": []}, format="json")
        self.assertEqual(answers.status_code, 403)
        self.assertEqual(client.get(f"/api/exams/{self.exam.id}/answers").status_code, 403)
        self.assertEqual(client.post(f"/api/exams/{self.exam.id}/finish").status_code, 403)


class FinishTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.student = make_student()
        cls.exam = make_exam(owner=cls.doctor)

    def setUp(self) -> None:
        cache.clear()
        self.received: list[dict] = []
        attempt_finished.connect(self.receive, dispatch_uid="test-finish")
        self.addCleanup(attempt_finished.disconnect, dispatch_uid="test-finish")

    def receive(self, sender, **kwargs) -> None:
        self.received.append(kwargs)

    def test_it_finishes_once_and_tells_grading_once(self) -> None:
        client = client_for(self.student)
        client.post(f"/api/exams/{self.exam.id}/attempt")
        first = client.post(f"/api/exams/{self.exam.id}/finish")
        self.assertEqual(first.status_code, 202)
        self.assertIsNotNone(first.json()["finished_at"])
        second = client.post(f"/api/exams/{self.exam.id}/finish")
        self.assertEqual(second.status_code, 202)
        self.assertEqual(second.json()["finished_at"], first.json()["finished_at"])
        self.assertEqual(len(self.received), 1)
        self.assertEqual(self.received[0]["exam_id"], self.exam.id)
        self.assertEqual(self.received[0]["student_id"], self.student.id)

    def test_finishing_before_starting_is_409(self) -> None:
        response = client_for(self.student).post(f"/api/exams/{self.exam.id}/finish")
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()["error"], "attempt_not_started")


class ChoiceIdsSanityTests(TestCase):
    def test_the_factory_builds_one_single_and_one_multi_question(self) -> None:
        exam = make_exam(owner=make_doctor())
        (_, _, correct_1), (_, _, correct_2) = ids_of(exam)
        self.assertEqual((len(correct_1), len(correct_2)), (1, 2))
        self.assertEqual(Choice.objects.filter(question__exam=exam).count(), 6)
