"""The exam admin: one page for the exam, its questions and their choices; it saves only what the API would, and a
doctor sees and edits only their own exams."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.test import TestCase

from core.audit.models import AuditRecord
from core.common.tests.forms import form_data
from core.exams.caching import exam_key_name, hot_context_get
from core.exams.models import Attempt, Choice, Exam, Question
from core.exams.tests.factories import make_doctor, make_exam, make_student


class ExamAdminTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other_doctor = make_doctor(), make_doctor()
        cls.mine = make_exam(owner=cls.doctor, status=Exam.Status.DRAFT)
        cls.theirs = make_exam(owner=cls.other_doctor)

    def setUp(self) -> None:
        cache.clear()
        self.client.force_login(self.doctor)

    def page(self, exam: Exam) -> dict[str, Any]:
        response = self.client.get(f"/admin/exams/exam/{exam.id}/change/")
        self.assertEqual(response.status_code, 200)
        return form_data(response.content.decode(), "exam_form")

    def post(self, exam: Exam, data: dict[str, Any]) -> Any:
        return self.client.post(f"/admin/exams/exam/{exam.id}/change/", data)

    def test_a_doctor_lists_only_their_own_exams(self) -> None:
        response = self.client.get("/admin/exams/exam/")
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, self.mine.code)
        self.assertNotContains(response, self.theirs.code)

    def test_a_doctor_opens_their_exam_but_not_another_doctors(self) -> None:
        self.assertEqual(self.client.get(f"/admin/exams/exam/{self.mine.id}/change/").status_code, 200)
        self.assertNotEqual(self.client.get(f"/admin/exams/exam/{self.theirs.id}/change/").status_code, 200)

    def test_questions_and_their_choices_are_edited_on_the_exams_own_page(self) -> None:
        data = self.page(self.mine)
        self.assertEqual(data["questions-0-text"], "Single")
        self.assertEqual(data["questions-0-choices-1-text"], "b")
        self.assertEqual(data["questions-1-choices-2-text"], "c")
        self.assertFalse(self.client.get("/admin/exams/question/").status_code == 200)

    def test_saving_makes_a_second_answer_correct_and_drops_the_cached_key(self) -> None:
        hot_context_get(exam_id=self.mine.id, student_id=0)
        self.assertIsNotNone(cache.get(exam_key_name(self.mine.id)))
        data = self.page(self.mine)
        data["questions-0-choices-0-is_correct"] = "on"
        response = self.post(self.mine, data)
        self.assertEqual(response.status_code, 302, response.content[:3000])
        self.assertIsNone(cache.get(exam_key_name(self.mine.id)))
        question = self.mine.questions.first()
        key, _ = hot_context_get(exam_id=self.mine.id, student_id=0)
        self.assertFalse(key.questions[question.id][1], "two correct choices: no longer a single-answer question")

    def test_it_refuses_a_question_without_a_correct_choice_as_the_api_does(self) -> None:
        data = self.page(self.mine)
        data.pop("questions-0-choices-1-is_correct")
        response = self.post(self.mine, data)
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "question 1: A question needs at least one correct choice.")
        self.assertEqual(Choice.objects.filter(question__exam=self.mine, is_correct=True).count(), 3)

    def test_it_refuses_a_question_with_one_choice(self) -> None:
        data = self.page(self.mine)
        data["questions-0-choices-1-DELETE"] = "on"
        data["questions-0-choices-2-DELETE"] = "on"
        response = self.post(self.mine, data)
        self.assertContains(response, "question 1: A question needs two or more choices.")
        self.assertEqual(Choice.objects.filter(question__exam=self.mine).count(), 6)

    def test_it_refuses_to_publish_an_online_exam_without_questions(self) -> None:
        empty = make_exam(owner=self.doctor, status=Exam.Status.DRAFT, questions=[])
        data = self.page(empty)
        data["status"] = "published"
        response = self.post(empty, data)
        self.assertContains(response, "An online exam needs questions before it is published.")
        self.assertEqual(Exam.objects.get(pk=empty.pk).status, "draft")

    def test_it_refuses_a_status_that_goes_back(self) -> None:
        published = make_exam(owner=self.doctor)
        data = self.page(published)
        data["status"] = "draft"
        response = self.post(published, data)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(Exam.objects.get(pk=published.pk).status, "published")

    def test_once_a_student_started_a_question_can_be_corrected_but_not_added(self) -> None:
        published = make_exam(owner=self.doctor)
        Attempt.objects.create(
            exam=published, student=make_student(), started_at=published.opens_at, deadline=published.closes_at
        )
        data = self.page(published)
        data["questions-0-text"] = "Single, corrected"
        self.assertEqual(self.post(published, data).status_code, 302)
        self.assertEqual(published.questions.first().text, "Single, corrected")
        data = self.page(published)
        data["questions-0-choices-TOTAL_FORMS"] = "4"
        data.update({"questions-0-choices-3-text": "d", "questions-0-choices-3-position": "3"})
        response = self.post(published, data)
        self.assertContains(response, "can be corrected but not added or removed")
        self.assertEqual(Choice.objects.filter(question__exam=published).count(), 6)

    def test_a_key_correction_in_the_admin_is_audited_as_through_the_api(self) -> None:
        data = self.page(self.mine)
        data["questions-0-choices-0-is_correct"] = "on"
        self.assertEqual(self.post(self.mine, data).status_code, 302)
        records = list(AuditRecord.objects.filter(exam_id=self.mine.pk).values_list("action", "actor_id", "detail"))
        self.assertIn("question.key_corrected", [action for action, _, _ in records])
        self.assertEqual({(actor, detail["via"]) for _, actor, detail in records}, {(self.doctor.pk, "admin")})

    def test_the_fields_of_each_attempt_are_saved_through_the_page(self) -> None:
        data = self.page(self.mine)
        data.update(shuffle_questions="on", questions_per_attempt="1", review="answers")
        data["questions-1-scoring"] = "partial"
        self.assertEqual(self.post(self.mine, data).status_code, 302)
        exam = Exam.objects.get(pk=self.mine.pk)
        self.assertEqual((exam.shuffle_questions, exam.questions_per_attempt, exam.review), (True, 1, "answers"))
        self.assertEqual(exam.questions.get(text="Multi").scoring, "partial")
        data = self.page(self.mine)
        data["questions_per_attempt"] = "5"
        self.assertContains(self.post(self.mine, data), "questions_per_attempt must be between 1 and")

    def test_a_new_question_with_choices_is_added_and_numbered_after_the_others(self) -> None:
        data = self.page(self.mine)
        data["questions-TOTAL_FORMS"] = "3"
        data.update(
            {
                "questions-2-text": "Third",
                "questions-2-points": "1",
                "questions-2-scoring": "all_or_nothing",
                "questions-2-position": "",
                "questions-2-choices-TOTAL_FORMS": "2",
                "questions-2-choices-INITIAL_FORMS": "0",
                "questions-2-choices-0-text": "yes",
                "questions-2-choices-0-is_correct": "on",
                "questions-2-choices-0-position": "0",
                "questions-2-choices-1-text": "no",
                "questions-2-choices-1-position": "1",
            }
        )
        response = self.post(self.mine, data)
        self.assertEqual(response.status_code, 302, response.content[:3000])
        positions = list(self.mine.questions.values_list("text", "position"))
        self.assertEqual([text for text, _ in positions][-1], "Third")
        self.assertEqual(sorted(p for _, p in positions), [0, 1, 2])

    def test_questions_are_reordered_by_their_positions(self) -> None:
        data = self.page(self.mine)
        data["questions-0-position"], data["questions-1-position"] = "1", "0"
        self.assertEqual(self.post(self.mine, data).status_code, 302)
        self.assertEqual(list(self.mine.questions.values_list("text", flat=True)), ["Multi", "Single"])

    def test_a_doctor_cannot_put_an_exam_in_a_subject_nobody_teaches_from_the_admin(self) -> None:
        from core.accounts.services import subject_get_or_create

        subject_get_or_create(name="Nobody's")
        data = self.page(self.mine)
        data["subject"] = "Nobody's"
        response = self.post(self.mine, data)
        self.assertContains(response, "an admin assigns an existing subject")
        self.assertEqual(Exam.objects.get(pk=self.mine.pk).subject.name, "Math")

    def test_a_doctor_adds_an_exam_with_a_new_subject_and_teaches_it(self) -> None:
        page = self.client.get("/admin/exams/exam/add/")
        data = form_data(page.content.decode(), "exam_form")
        data.update(
            {
                "code": "ADM-NEW",
                "title": "New",
                "subject": "Admin-made subject",
                "level": "Year 5",
                "kind": "online",
                "duration_minutes": "30",
                "grace_seconds": "30",
                "status": "draft",
                "questions-TOTAL_FORMS": "1",
                "questions-0-text": "Q",
                "questions-0-points": "2",
                "questions-0-scoring": "all_or_nothing",
                "questions-0-position": "0",
                "questions-0-choices-TOTAL_FORMS": "2",
                "questions-0-choices-INITIAL_FORMS": "0",
                "questions-0-choices-0-text": "a",
                "questions-0-choices-0-is_correct": "on",
                "questions-0-choices-0-position": "0",
                "questions-0-choices-1-text": "b",
                "questions-0-choices-1-position": "1",
            }
        )
        response = self.client.post("/admin/exams/exam/add/", data)
        self.assertEqual(response.status_code, 302, response.content[:3000])
        exam = Exam.objects.get(code="ADM-NEW")
        self.assertEqual(
            (exam.owner, exam.subject.name, exam.level.name), (self.doctor, "Admin-made subject", "Year 5")
        )
        self.assertTrue(exam.subject.doctors.filter(pk=self.doctor.pk).exists())
        self.assertEqual(Question.objects.get(exam=exam).choices.count(), 2)

    def test_preview_shows_the_exam_as_a_student_sees_it_without_correct_flags_or_an_attempt(self) -> None:
        response = self.client.get(f"/admin/exams/exam/{self.mine.id}/preview/")
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, 'type="radio" name="q', count=3)  # question 1: one correct choice
        self.assertContains(response, 'type="checkbox" name="q', count=3)  # question 2: several
        self.assertNotContains(response, "is_correct")
        self.assertNotContains(response, "correct)")
        self.assertFalse(Attempt.objects.filter(exam=self.mine).exists())
        self.assertEqual(self.client.get(f"/admin/exams/exam/{self.theirs.id}/preview/").status_code, 404)
