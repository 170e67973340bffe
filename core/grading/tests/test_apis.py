import csv
import io
import math
from datetime import timedelta

from django.test import TestCase
from django.utils import timezone
from openpyxl import load_workbook

from core.accounts.services import api_key_create
from core.exams.models import Exam
from core.grading.models import Degree
from core.grading.selectors import group_size
from core.grading.tests.factories import (
    answer,
    celery_eager,
    client_for,
    key_of,
    make_admin,
    make_doctor,
    make_exam,
    make_student,
    start,
)
from core.jobs.models import Job

KEY = [(1, 3, {0}), (2, 4, {1, 2}), (3, 2, {1})]


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), written out independently."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class GradeApiTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other = make_doctor(), make_doctor()
        cls.admin = make_admin()
        cls.exam = make_exam(owner=cls.doctor, questions=KEY, status=Exam.Status.CLOSED)
        cls.student = make_student()

    def setUp(self) -> None:
        start(self.exam, self.student)
        answer(self.exam, self.student, {0: {0}, 1: {1, 2}})

    def test_the_owner_starts_a_grading_job_that_grades_after_commit(self) -> None:
        with celery_eager(), self.captureOnCommitCallbacks(execute=True):
            response = client_for(self.doctor).post(f"/api/exams/{self.exam.id}/grade")
        self.assertEqual(response.status_code, 202)
        job = response.json()["job"]
        self.assertEqual(
            set(job),
            {"id", "kind", "status", "total", "processed", "errors", "created_at", "started_at", "finished_at"},
        )
        self.assertEqual((job["kind"], job["status"], job["total"]), ("grade_exam", "queued", 1))
        polled = client_for(self.doctor).get(f"/api/jobs/{job['id']}").json()
        self.assertEqual((polled["status"], polled["processed"]), ("done", 1))
        self.assertEqual(Degree.objects.get(exam=self.exam).marks_obtained, 3)
        self.exam.refresh_from_db()
        self.assertEqual(self.exam.status, Exam.Status.GRADED)

    def test_an_admin_and_an_api_key_may_grade(self) -> None:
        self.assertEqual(client_for(self.admin).post(f"/api/exams/{self.exam.id}/grade").status_code, 202)
        raw = api_key_create(user=self.doctor, name="script")[1]
        response = self.client.post(f"/api/exams/{self.exam.id}/grade", HTTP_X_API_KEY=raw)
        self.assertEqual(response.status_code, 202)
        self.assertEqual(Job.objects.get(id=response.json()["job"]["id"]).created_by, self.doctor)

    def test_another_doctor_gets_404_for_the_exam_and_its_job(self) -> None:
        response = client_for(self.other).post(f"/api/exams/{self.exam.id}/grade")
        self.assertEqual((response.status_code, response.json()["error"]), (404, "not_found"))
        job_id = client_for(self.doctor).post(f"/api/exams/{self.exam.id}/grade").json()["job"]["id"]
        self.assertEqual(client_for(self.other).get(f"/api/jobs/{job_id}").status_code, 404)
        self.assertEqual(client_for(self.admin).get(f"/api/jobs/{job_id}").status_code, 200)

    def test_a_student_gets_403(self) -> None:
        self.assertEqual(client_for(self.student).post(f"/api/exams/{self.exam.id}/grade").status_code, 403)

    def test_a_draft_exam_is_a_409(self) -> None:
        draft = make_exam(owner=self.doctor, status=Exam.Status.DRAFT)
        response = client_for(self.doctor).post(f"/api/exams/{draft.id}/grade")
        self.assertEqual((response.status_code, response.json()["error"]), (409, "exam_not_published"))
        self.assertFalse(Job.objects.exists())

    def test_a_paper_exam_is_a_409(self) -> None:
        paper = make_exam(owner=self.doctor, kind=Exam.Kind.PAPER, questions=[])
        response = client_for(self.doctor).post(f"/api/exams/{paper.id}/grade")
        self.assertEqual((response.status_code, response.json()["error"]), (409, "exam_not_online"))

    def test_an_exam_without_questions_is_a_409(self) -> None:
        empty = make_exam(owner=self.doctor, questions=[])
        response = client_for(self.doctor).post(f"/api/exams/{empty.id}/grade")
        self.assertEqual((response.status_code, response.json()["error"]), (409, "exam_without_questions"))

    def test_an_unknown_exam_is_a_404(self) -> None:
        self.assertEqual(client_for(self.admin).post("/api/exams/999999999/grade").status_code, 404)


class ResultApiTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.exam = make_exam(owner=cls.doctor, questions=KEY)
        cls.student, cls.classmate = make_student(), make_student()
        cls.graded_at = timezone.now()
        Degree.objects.create(
            exam=cls.exam,
            student=cls.student,
            marks_obtained=3,
            marks_available=6,
            source="online",
            graded_at=cls.graded_at,
        )

    def test_a_result_before_release_is_a_404(self) -> None:
        response = client_for(self.student).get(f"/api/exams/{self.exam.id}/result")
        self.assertEqual((response.status_code, response.json()["error"]), (404, "not_found"))

    def test_a_released_result_shows_the_students_own_degree(self) -> None:
        Exam.objects.filter(id=self.exam.id).update(results_released=True)
        response = client_for(self.student).get(f"/api/exams/{self.exam.id}/result")
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertEqual(set(body), {"marks_obtained", "marks_available", "percentage", "graded_at"})
        self.assertEqual((body["marks_obtained"], body["marks_available"], body["percentage"]), (3, 6, 50.0))

    def test_a_student_without_a_degree_gets_404_even_after_release(self) -> None:
        Exam.objects.filter(id=self.exam.id).update(results_released=True)
        self.assertEqual(client_for(self.classmate).get(f"/api/exams/{self.exam.id}/result").status_code, 404)

    def test_a_doctor_gets_403(self) -> None:
        self.assertEqual(client_for(self.doctor).get(f"/api/exams/{self.exam.id}/result").status_code, 403)


class DegreesApiTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other = make_doctor(), make_doctor()
        cls.exam = make_exam(owner=cls.doctor, questions=KEY)
        cls.graded_at = timezone.now()
        marks = {"000123": ("Ada Lovelace", 6), "000045": ("=HYPERLINK(1)", 2), "000678": ("Bob", 0)}
        for number, (name, obtained) in marks.items():
            student = make_student(number=number, full_name=name)
            Degree.objects.create(
                exam=cls.exam,
                student=student,
                marks_obtained=obtained,
                marks_available=6,
                source="online",
                graded_at=cls.graded_at,
            )

    def url(self, suffix: str = "") -> str:
        return f"/api/exams/{self.exam.id}/degrees{suffix}"

    def test_the_owner_gets_a_paginated_list_by_student_number(self) -> None:
        body = client_for(self.doctor).get(self.url()).json()
        self.assertEqual(set(body), {"count", "next", "previous", "results"})
        self.assertEqual([r["student_number"] for r in body["results"]], ["000045", "000123", "000678"])
        self.assertEqual(
            body["results"][1],
            {
                "student_number": "000123",
                "full_name": "Ada Lovelace",
                "marks_obtained": 6,
                "marks_available": 6,
                "percentage": 100.0,
                "source": "online",
                "graded_at": self.graded_at.isoformat().replace("+00:00", "Z"),
                "override": None,
            },
        )

    def test_csv_downloads_the_same_rows(self) -> None:
        response = client_for(self.doctor).get(self.url("?format=csv"))
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response["Content-Type"].startswith("text/csv"))
        self.assertIn("attachment;", response["Content-Disposition"])
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
        self.assertEqual(
            rows[0],
            ["student_number", "full_name", "marks_obtained", "marks_available", "percentage", "source", "graded_at"],
        )
        self.assertEqual(rows[1][:6], ["000045", "'=HYPERLINK(1)", "2", "6", str(200 / 6), "online"])
        self.assertEqual(rows[2][:6], ["000123", "Ada Lovelace", "6", "6", "100.0", "online"])
        self.assertEqual(len(rows), 4)

    def test_xlsx_downloads_the_same_rows_keeping_text_as_text(self) -> None:
        response = client_for(self.doctor).get(self.url("?format=xlsx"))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
        rows = [list(row) for row in sheet.iter_rows(values_only=True)]
        self.assertEqual(rows[0][0], "student_number")
        self.assertEqual(rows[1][:4] + rows[1][5:6], ["000045", "=HYPERLINK(1)", 2, 6, "online"])
        self.assertAlmostEqual(rows[1][4], 200 / 6)
        self.assertEqual(rows[3][:4], ["000678", "Bob", 0, 6])
        self.assertEqual(rows[3][6], self.graded_at.replace(tzinfo=None, microsecond=rows[3][6].microsecond))

    def test_another_doctor_gets_404_as_json_whatever_the_format(self) -> None:
        for suffix in ("", "?format=csv", "?format=xlsx"):
            response = client_for(self.other).get(self.url(suffix))
            self.assertEqual(response.status_code, 404)
            self.assertEqual(response.json()["error"], "not_found")

    def test_a_student_gets_403(self) -> None:
        self.assertEqual(client_for(make_student()).get(self.url()).status_code, 403)


class StatsApiTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other = make_doctor(), make_doctor()
        cls.exam = make_exam(owner=cls.doctor, questions=KEY, closes_at=timezone.now() + timedelta(hours=1))

    def test_the_figures_match_an_independent_computation(self) -> None:
        # 11 students; picks by question index: index 0 right = {0}, 1 right = {1, 2}, 2 right = {1}.
        patterns = [
            {0: {0}, 1: {1, 2}, 2: {1}},  # 6
            {0: {0}, 1: {1, 2}, 2: {1}},  # 6
            {1: {1, 2}, 2: {1}},  # 5
            {0: {0}, 2: {1}},  # 4
            {2: {1}},  # 3
            {0: {0}, 1: {1, 2}},  # 3
            {1: {1, 2}},  # 2
            {0: {0}, 1: {1}},  # 1
            {0: {1}, 1: {3}, 2: {0}},  # 0
            {},  # 0, answered nothing
            {0: {0}, 1: {1, 2}, 2: {0}},  # 3
        ]
        students = []
        for picks in patterns:
            student = make_student()
            start(self.exam, student)
            if picks:
                answer(self.exam, student, picks)
            students.append((student, picks))
        with celery_eager(), self.captureOnCommitCallbacks(execute=True):
            client_for(self.doctor).post(f"/api/exams/{self.exam.id}/grade")

        response = client_for(self.doctor).get(f"/api/exams/{self.exam.id}/stats")
        self.assertEqual(response.status_code, 200)
        stats = response.json()

        points, right = [1, 2, 3], [{0}, {1, 2}, {1}]
        marks = {s.id: sum(points[q] for q, c in picks.items() if c == right[q]) for s, picks in students}
        percentages = [100 * m / 6 for m in marks.values()]
        mean = sum(percentages) / len(percentages)
        self.assertEqual(stats["count"], 11)
        self.assertAlmostEqual(stats["mean"], mean)
        self.assertAlmostEqual(stats["stddev"], math.sqrt(sum((p - mean) ** 2 for p in percentages) / 11))
        self.assertAlmostEqual(stats["min"], 0.0)
        self.assertAlmostEqual(stats["max"], 100.0)
        for name, fraction in (("p25", 0.25), ("p50", 0.5), ("p75", 0.75)):
            self.assertAlmostEqual(stats[name], percentile(percentages, fraction))
        expected_histogram = [0] * 10
        for p in percentages:
            expected_histogram[min(int(p // 10), 9)] += 1
        self.assertEqual(stats["histogram"], expected_histogram)
        self.assertEqual(stats["histogram"][9], 2)  # 100% goes in the last bin

        ranked = sorted(marks, key=lambda s: (marks[s], s))
        k = group_size(11)
        self.assertEqual(k, 3)
        top, bottom = set(ranked[-k:]), set(ranked[:k])
        question_ids = [q for q, _ in key_of(self.exam)]
        expected = []
        for index, question_id in enumerate(question_ids):
            answered = [s for s, picks in students if picks.get(index)]
            correct = [s for s, picks in students if picks.get(index) == right[index]]
            expected.append(
                {
                    "id": question_id,
                    "answered": len(answered),
                    "correct_rate": len(correct) / 11,
                    "discrimination": (
                        len([s for s in correct if s.id in top]) - len([s for s in correct if s.id in bottom])
                    )
                    / k,
                }
            )
        self.assertEqual(len(stats["questions"]), 3)
        for got, want in zip(stats["questions"], expected, strict=True):
            self.assertEqual((got["id"], got["answered"]), (want["id"], want["answered"]))
            self.assertAlmostEqual(got["correct_rate"], want["correct_rate"])
            self.assertAlmostEqual(got["discrimination"], want["discrimination"])

    def test_an_exam_with_no_degrees_has_a_count_of_zero_and_no_figures(self) -> None:
        stats = client_for(self.doctor).get(f"/api/exams/{self.exam.id}/stats").json()
        self.assertEqual(stats["count"], 0)
        self.assertIsNone(stats["mean"])
        self.assertEqual(stats["histogram"], [0] * 10)
        self.assertEqual([q["answered"] for q in stats["questions"]], [0, 0, 0])

    def test_another_doctor_gets_404_and_a_student_403(self) -> None:
        self.assertEqual(client_for(self.other).get(f"/api/exams/{self.exam.id}/stats").status_code, 404)
        self.assertEqual(client_for(make_student()).get(f"/api/exams/{self.exam.id}/stats").status_code, 403)
