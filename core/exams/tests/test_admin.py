"""The exam admin: a doctor sees and edits only their own exams; saving there drops the cached key."""

from __future__ import annotations

from django.core.cache import cache
from django.test import TestCase

from core.exams.caching import exam_key_name, hot_context_get
from core.exams.models import Exam
from core.exams.tests.factories import ids_of, make_doctor, make_exam


class ExamAdminTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other_doctor = make_doctor(), make_doctor()
        cls.mine = make_exam(owner=cls.doctor)
        cls.theirs = make_exam(owner=cls.other_doctor)

    def setUp(self) -> None:
        cache.clear()
        self.client.force_login(self.doctor)

    def test_a_doctor_lists_only_their_own_exams(self) -> None:
        response = self.client.get("/admin/exams/exam/")
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, self.mine.code)
        self.assertNotContains(response, self.theirs.code)

    def test_a_doctor_opens_their_exam_but_not_another_doctors(self) -> None:
        self.assertEqual(self.client.get(f"/admin/exams/exam/{self.mine.id}/change/").status_code, 200)
        self.assertNotEqual(self.client.get(f"/admin/exams/exam/{self.theirs.id}/change/").status_code, 200)

    def test_saving_a_question_in_the_admin_drops_the_cached_key(self) -> None:
        hot_context_get(exam_id=self.mine.id, student_id=0)
        self.assertIsNotNone(cache.get(exam_key_name(self.mine.id)))
        (question_id, choice_ids, _), _ = ids_of(self.mine)
        # The question page with its choice inline, as the admin form posts it: make choice "a" correct too.
        form = {
            "exam": self.mine.id,
            "text": "Single, edited",
            "points": 1,
            "position": 0,
            "choices-TOTAL_FORMS": 3,
            "choices-INITIAL_FORMS": 3,
            "choices-MIN_NUM_FORMS": 2,
            "choices-MAX_NUM_FORMS": 1000,
        }
        for index, (choice_id, correct) in enumerate(zip(choice_ids, [True, True, False], strict=True)):
            form.update(
                {
                    f"choices-{index}-id": choice_id,
                    f"choices-{index}-question": question_id,
                    f"choices-{index}-text": "abc"[index],
                    f"choices-{index}-position": index,
                }
            )
            if correct:
                form[f"choices-{index}-is_correct"] = "on"
        response = self.client.post(f"/admin/exams/question/{question_id}/change/", form)
        self.assertEqual(response.status_code, 302, response.content[:2000])
        self.assertIsNone(cache.get(exam_key_name(self.mine.id)))
        key, _ = hot_context_get(exam_id=self.mine.id, student_id=0)
        self.assertFalse(key.questions[question_id][1], "two correct choices: no longer a single-answer question")

    def test_the_admin_refuses_a_question_without_a_correct_choice(self) -> None:
        (question_id, choice_ids, _), _ = ids_of(self.mine)
        form = {
            "exam": self.mine.id, "text": "Q", "points": 1, "position": 0,
            "choices-TOTAL_FORMS": 3, "choices-INITIAL_FORMS": 3, "choices-MIN_NUM_FORMS": 2,
            "choices-MAX_NUM_FORMS": 1000,
        }  # fmt: skip
        for index, choice_id in enumerate(choice_ids):
            form.update({f"choices-{index}-id": choice_id, f"choices-{index}-text": "x"})
            form[f"choices-{index}-position"] = 0
        response = self.client.post(f"/admin/exams/question/{question_id}/change/", form)
        self.assertEqual(response.status_code, 200)  # the form again, with the error
        self.assertContains(response, "at least one correct choice")
        self.assertEqual(
            Exam.objects.get(pk=self.mine.pk).questions.get(pk=question_id).choices.filter(is_correct=True).count(), 1
        )
