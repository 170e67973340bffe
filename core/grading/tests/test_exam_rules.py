"""Scoring modes, draws in grading, overrides and review (docs/api.md, "Exam rules that exam offices need"). Every
expected mark below is worked out by hand from the rule, not from the code."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from django.test import TestCase
from django.utils import timezone

from core.audit.models import AuditRecord
from core.exams.models import Attempt, Exam, Question
from core.grading.models import Degree
from core.grading.selectors import stats_summary
from core.grading.tasks import exam_grade_task
from core.grading.tests.factories import answer, client_for, key_of, make_doctor, make_exam, make_student, start
from core.jobs.models import Job
from core.jobs.services import job_create


def grade(exam: Exam, user: Any) -> None:
    job = job_create(kind=Job.Kind.GRADE_EXAM, created_by=user, params={"exam_id": exam.id})
    exam_grade_task(job.id)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE, job.errors


def marks(exam: Exam) -> dict[int, tuple[Decimal, int, str]]:
    return {d.student_id: (d.marks_obtained, d.marks_available, d.source) for d in exam.degrees.all()}


class PartialScoringTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        # Q0: 3 points, 5 choices, 3 correct (0, 1, 2); Q1 and Q2: 1 point, 4 choices, 3 correct (0, 1, 2);
        # Q3: 2 points, one correct of 3 (all or nothing).
        cls.exam = make_exam(
            owner=cls.doctor, questions=[(3, 5, {0, 1, 2}), (1, 4, {0, 1, 2}), (1, 4, {0, 1, 2}), (2, 3, {0})]
        )
        Question.objects.filter(exam=cls.exam, position__in=[0, 1, 2]).update(scoring=Question.Scoring.PARTIAL)

    def grade_picks(self, picks: dict[int, set[int]]) -> Degree:
        student = make_student()
        start(self.exam, student)
        answer(self.exam, student, picks)
        grade(self.exam, self.doctor)
        return Degree.objects.get(exam=self.exam, student=student)

    def test_partial_credit_is_points_times_right_minus_wrong_over_the_correct_count(self) -> None:
        cases = [
            ({0: {0, 1, 2}}, Decimal(3)),  # all three right
            ({0: {0, 1}}, Decimal(2)),  # 3 x 2 / 3
            ({0: {0}}, Decimal(1)),  # 3 x 1 / 3
            ({0: {0, 1, 3}}, Decimal(1)),  # 3 x (2 - 1) / 3
            ({0: {0, 3}}, Decimal(0)),  # 3 x (1 - 1) / 3
            ({0: {3, 4}}, Decimal(0)),  # never below 0
            ({0: {0, 1, 2, 3, 4}}, Decimal(1)),  # 3 x (3 - 2) / 3
            ({3: {0}}, Decimal(2)),  # all or nothing still scores whole
            ({3: {1}}, Decimal(0)),
        ]
        for picks, expected in cases:
            with self.subTest(picks=picks):
                degree = self.grade_picks(picks)
                self.assertEqual(degree.marks_obtained, expected)
                self.assertEqual(degree.marks_available, 7)

    def test_fractions_are_summed_exactly_and_rounded_once(self) -> None:
        # 1/3 + 1/3 = 2/3 = 0.6667 (rounding each first would give 0.6666).
        degree = self.grade_picks({1: {0}, 2: {1}})
        self.assertEqual(degree.marks_obtained, Decimal("0.6667"))
        self.assertAlmostEqual(degree.percentage, 100 * (2 / 3) / 7, places=3)
        # 3 x 2/3 + 1 x 2/3 + 2 = 4.6667
        degree = self.grade_picks({0: {0, 1}, 1: {0, 2}, 3: {0}})
        self.assertEqual(degree.marks_obtained, Decimal("4.6667"))

    def test_the_result_and_the_degrees_list_write_fractions_as_numbers(self) -> None:
        degree = self.grade_picks({1: {0}})
        Exam.objects.filter(pk=self.exam.pk).update(results_released=True)
        student = degree.student
        result = client_for(student).get(f"/api/exams/{self.exam.id}/result").json()
        self.assertEqual(result["marks_obtained"], 0.3333)
        self.assertEqual(result["marks_available"], 7)
        rows = client_for(self.doctor).get(f"/api/exams/{self.exam.id}/degrees").json()["results"]
        self.assertEqual([r["marks_obtained"] for r in rows], [0.3333])
        download = client_for(self.doctor).get(f"/api/exams/{self.exam.id}/degrees?format=csv").content.decode()
        self.assertEqual(next(csv.DictReader(io.StringIO(download)))["marks_obtained"], "0.3333")
        stats = stats_summary(exam_id=self.exam.id)
        self.assertAlmostEqual(stats["mean"], 100 * 0.3333 / 7, places=6)

    def test_regrading_after_a_change_of_scoring_recomputes(self) -> None:
        student = make_student()
        start(self.exam, student)
        answer(self.exam, student, {0: {0, 1}})
        grade(self.exam, self.doctor)
        self.assertEqual(marks(self.exam)[student.id][0], Decimal(2))
        doctor = client_for(self.doctor)
        questions = doctor.get(f"/api/exams/{self.exam.id}").json()["questions"]
        questions[0]["scoring"] = "all_or_nothing"
        self.assertEqual(
            doctor.patch(f"/api/exams/{self.exam.id}", {"questions": questions}, format="json").status_code, 200
        )
        grade(self.exam, self.doctor)
        self.assertEqual(marks(self.exam)[student.id][0], Decimal(0))
        questions[0]["scoring"] = "partial"
        doctor.patch(f"/api/exams/{self.exam.id}", {"questions": questions}, format="json")
        grade(self.exam, self.doctor)
        self.assertEqual(marks(self.exam)[student.id][0], Decimal(2))


class DrawGradingTests(TestCase):
    def test_only_the_questions_an_attempt_was_given_count(self) -> None:
        doctor = make_doctor()
        exam = make_exam(owner=doctor, questions=[(1, 2, {0}), (2, 2, {0}), (4, 2, {0})])
        key = key_of(exam)
        student = make_student()
        attempt = start(exam, student)
        Attempt.objects.filter(pk=attempt.pk).update(question_order=[key[2][0], key[0][0]])
        # Right answers to all three; the store took Q1's before the draw was checked (as if written by hand).
        answer(exam, student, {0: {0}, 1: {0}, 2: {0}})
        grade(exam, doctor)
        self.assertEqual(marks(exam)[student.id], (Decimal(5), 5, "online"))


class OverrideTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.other = make_doctor()
        cls.exam = make_exam(owner=cls.doctor, questions=[(2, 3, {0}), (3, 3, {1})])

    def setUp(self) -> None:
        # A new student per test: the answer store outlives each test's rolled-back transaction.
        self.student = make_student()
        start(self.exam, self.student)
        answer(self.exam, self.student, {0: {0}})  # 2 of 5
        grade(self.exam, self.doctor)
        self.url = f"/api/exams/{self.exam.id}/degrees/{self.student.student_number}"

    def override(self, body: dict[str, Any], user: Any = None) -> Any:
        return client_for(user or self.doctor).put(self.url, body, format="json")

    def test_an_override_is_kept_by_grading_until_it_is_removed(self) -> None:
        response = self.override({"marks_obtained": 4.5, "reason": "Question 2 was misprinted"})
        self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        self.assertEqual((body["marks_obtained"], body["marks_available"], body["source"]), (4.5, 5, "manual"))
        self.assertEqual(body["percentage"], 90.0)
        self.assertEqual(
            {k: body["override"][k] for k in ("by", "reason", "previous_marks_obtained")},
            {"by": self.doctor.email, "reason": "Question 2 was misprinted", "previous_marks_obtained": 2},
        )
        self.assertTrue(body["override"]["at"])

        grade(self.exam, self.doctor)
        self.assertEqual(marks(self.exam)[self.student.id], (Decimal("4.5"), 5, "manual"))
        listed = client_for(self.doctor).get(f"/api/exams/{self.exam.id}/degrees").json()["results"][0]
        self.assertEqual((listed["source"], listed["override"]["reason"]), ("manual", "Question 2 was misprinted"))
        download = client_for(self.doctor).get(f"/api/exams/{self.exam.id}/degrees?format=csv").content.decode()
        self.assertEqual(next(csv.DictReader(io.StringIO(download)))["source"], "manual")

        removed = client_for(self.doctor).delete(f"{self.url}/override")
        self.assertEqual(removed.status_code, 204, removed.content)
        self.assertEqual(marks(self.exam)[self.student.id], (Decimal(2), 5, "online"))
        answer(self.exam, self.student, {1: {1}})  # a later answer: the next grading recomputes
        grade(self.exam, self.doctor)
        self.assertEqual(marks(self.exam)[self.student.id], (Decimal(5), 5, "online"))
        self.assertEqual(client_for(self.doctor).delete(f"{self.url}/override").status_code, 404)

    def test_overrides_and_gradings_are_in_the_audit(self) -> None:
        self.override({"marks_obtained": 3, "reason": "appeal"})
        client_for(self.doctor).delete(f"{self.url}/override")
        actions = list(AuditRecord.objects.filter(exam_id=self.exam.id).order_by("id").values_list("action", flat=True))
        self.assertEqual(actions, ["exam.graded", "degree.overridden", "degree.override_removed"])
        overridden = AuditRecord.objects.get(exam_id=self.exam.id, action="degree.overridden")
        self.assertEqual(
            overridden.detail,
            {
                "student_number": self.student.student_number,
                "marks_obtained": 3,
                "marks_available": 5,
                "before": 2,
                "reason": "appeal",
            },
        )
        self.assertEqual(overridden.actor_id, self.doctor.id)

    def test_it_refuses_marks_out_of_range_and_a_blank_reason(self) -> None:
        for body, field in (
            ({"marks_obtained": 5.5, "reason": "x"}, "marks_obtained"),
            ({"marks_obtained": -1, "reason": "x"}, "marks_obtained"),
            ({"marks_obtained": 3, "reason": "   "}, "reason"),
        ):
            with self.subTest(body=body):
                response = self.override(body)
                self.assertEqual(response.status_code, 422, response.content)
                self.assertIn(field, response.json()["fields"])
        for body in ({"marks_obtained": "3", "reason": "x"}, {"marks_obtained": True, "reason": "x"}, {"reason": "x"}):
            with self.subTest(body=body):
                self.assertEqual(self.override(body).status_code, 400)
        self.assertEqual(marks(self.exam)[self.student.id], (Decimal(2), 5, "online"))

    def test_another_doctor_and_an_unknown_student_get_404(self) -> None:
        self.assertEqual(self.override({"marks_obtained": 1, "reason": "x"}, user=self.other).status_code, 404)
        unknown = client_for(self.doctor).put(
            f"/api/exams/{self.exam.id}/degrees/nobody", {"marks_obtained": 1, "reason": "x"}, format="json"
        )
        self.assertEqual(unknown.status_code, 404)
        self.assertEqual(client_for(self.other).delete(f"{self.url}/override").status_code, 404)

    def test_a_markr_import_leaves_an_overridden_paper_degree_alone(self) -> None:
        paper = make_exam(owner=self.doctor, kind=Exam.Kind.PAPER, questions=[])
        Degree.objects.create(
            student=self.student,
            exam=paper,
            marks_obtained=10,
            marks_available=20,
            source="markr",
            graded_at=paper.created_at,
        )
        url = f"/api/exams/{paper.id}/degrees/{self.student.student_number}"
        self.assertEqual(
            client_for(self.doctor).put(url, {"marks_obtained": 12, "reason": "re-marked"}, format="json").status_code,
            200,
        )
        document = (
            '<mcq-test-results><mcq-test-result scanned-on="2017-12-04T12:12:10+11:00">'
            f"<student-number>{self.student.student_number}</student-number><test-id>{paper.code}</test-id>"
            '<summary-marks available="20" obtained="18"/></mcq-test-result></mcq-test-results>'
        )
        response = client_for(self.doctor).post("/import", document, content_type="text/xml+markr")
        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(marks(paper)[self.student.id], (Decimal(12), 20, "manual"))
        client_for(self.doctor).delete(f"{url}/override")
        self.assertEqual(marks(paper)[self.student.id], (Decimal(10), 20, "markr"))


class ReviewTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.exam = make_exam(owner=cls.doctor, questions=[(2, 3, {0}), (3, 4, {1, 2}), (1, 2, {1})])
        Question.objects.filter(exam=cls.exam, position=1).update(scoring=Question.Scoring.PARTIAL)
        cls.key = key_of(cls.exam)
        cls.student = make_student()
        Exam.objects.filter(pk=cls.exam.pk).update(level=cls.student.level)
        attempt = start(cls.exam, cls.student)
        # The attempt was given Q2 then Q1 (not Q0), with Q1's choices reversed.
        Attempt.objects.filter(pk=attempt.pk).update(
            question_order=[cls.key[2][0], cls.key[1][0]], choice_order={str(cls.key[1][0]): cls.key[1][1][::-1]}
        )

    def setUp(self) -> None:
        answer(self.exam, self.student, {1: {1}, 2: {0}})
        grade(self.exam, self.doctor)

    def release(self, review: str) -> None:
        Exam.objects.filter(pk=self.exam.pk).update(results_released=True, review=review)

    def get(self, what: str) -> Any:
        return client_for(self.student).get(f"/api/exams/{self.exam.id}/{what}")

    def test_review_answers_shows_each_given_question_in_the_attempts_order(self) -> None:
        self.release("answers")
        response = self.get("review")
        self.assertEqual(response.status_code, 200, response.content)
        (q1_id, q1_choices), (q2_id, q2_choices) = self.key[1], self.key[2]
        self.assertEqual(
            response.json()["questions"],
            [
                {
                    "id": q2_id,
                    "text": "Q2",
                    "points": 1,
                    "your_choices": [q2_choices[0]],
                    "correct_choices": [q2_choices[1]],
                    "marks_obtained": 0,
                },
                {
                    "id": q1_id,
                    "text": "Q1",
                    "points": 3,
                    "your_choices": [q1_choices[1]],
                    "correct_choices": [q1_choices[2], q1_choices[1]],  # the attempt's choice order
                    "marks_obtained": 1.5,  # 3 x 1 / 2
                },
            ],
        )
        self.assertEqual(self.get("result").json()["marks_obtained"], 1.5)
        self.assertEqual(self.get("result").json()["marks_available"], 4)

    def test_review_score_gives_the_result_but_no_review(self) -> None:
        self.release("score")
        self.assertEqual(self.get("result").status_code, 200)
        self.assertEqual(self.get("review").status_code, 404)

    def test_review_none_gives_neither(self) -> None:
        self.release("none")
        self.assertEqual(self.get("result").status_code, 404)
        self.assertEqual(self.get("review").status_code, 404)
        listed = {e["id"]: e for e in client_for(self.student).get("/api/exams").json()["results"]}
        self.assertFalse(listed[self.exam.id]["result_available"])

    def test_nothing_is_shown_before_release(self) -> None:
        Exam.objects.filter(pk=self.exam.pk).update(review="answers")
        self.assertEqual(self.get("review").status_code, 404)
        self.assertEqual(self.get("result").status_code, 404)


class DrawStatsTests(TestCase):
    def test_a_questions_correct_rate_counts_only_the_students_given_it(self) -> None:
        doctor = make_doctor()
        exam = make_exam(owner=doctor, questions=[(1, 2, {0}), (1, 2, {0})])
        key = key_of(exam)
        students = [make_student() for _ in range(4)]
        for index, student in enumerate(students):
            attempt = start(exam, student)
            if index < 2:  # the first two were given only Q0, and both got it right
                Attempt.objects.filter(pk=attempt.pk).update(question_order=[key[0][0]])
                answer(exam, student, {0: {0}})
            else:  # the others were given both, and got Q0 wrong and Q1 right
                answer(exam, student, {0: {1}, 1: {0}})
        grade(exam, doctor)
        stats = client_for(doctor).get(f"/api/exams/{exam.id}/stats").json()["questions"]
        self.assertEqual([(q["answered"], q["correct_rate"]) for q in stats], [(4, 0.5), (2, 1.0)])


class DecimalMarksImportTests(TestCase):
    def test_the_admins_degree_import_keeps_fractional_marks(self) -> None:
        from tablib import Dataset

        from core.grading.resources import DegreeResource

        doctor = make_doctor()
        paper = make_exam(owner=doctor, kind=Exam.Kind.PAPER, questions=[])
        data = Dataset(headers=["exam", "student_number", "full_name", "marks_obtained", "marks_available"])
        data.append((paper.code, "dm-001", "Ann", "4.5", 10))
        result = DegreeResource(user=doctor).import_data(data, dry_run=False, raise_errors=False)
        self.assertFalse(result.has_errors() or result.has_validation_errors())
        self.assertEqual(Degree.objects.get(exam=paper).marks_obtained, Decimal("4.5"))

    def test_the_admins_degree_import_leaves_an_overridden_degree_as_it_is(self) -> None:
        from tablib import Dataset

        from core.grading.resources import DegreeResource

        doctor = make_doctor()
        paper = make_exam(owner=doctor, kind=Exam.Kind.PAPER, questions=[])
        data = Dataset(headers=["exam", "student_number", "full_name", "marks_obtained", "marks_available"])
        data.append((paper.code, "dm-002", "Ann", "4", 10))
        DegreeResource(user=doctor).import_data(data, dry_run=False, raise_errors=True)
        Degree.objects.filter(exam=paper).update(marks_obtained=Decimal("7"), override_at=timezone.now())
        again = Dataset(headers=["exam", "student_number", "full_name", "marks_obtained", "marks_available"])
        again.append((paper.code, "dm-002", "Ann", "9", 10))
        result = DegreeResource(user=doctor).import_data(again, dry_run=False, raise_errors=True)
        self.assertEqual(result.totals["skip"], 1)
        self.assertEqual(Degree.objects.get(exam=paper).marks_obtained, Decimal("7"))
