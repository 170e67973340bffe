"""A light check of bench/b3_grading.py: its seeding makes the data set it claims, and grading it gives one
degree per student (the timing itself runs in `make bench`)."""

from django.test import TestCase

from bench import b3_grading
from core.grading.services import exam_grade
from core.jobs.models import Job
from core.jobs.services import job_create


class BenchB3SeedTests(TestCase):
    def test_the_seed_makes_every_answer_and_is_reused_on_a_second_run(self) -> None:
        data = b3_grading.seed(students=4, questions=3, migrate=False)
        self.assertEqual(data["answers"], 12)
        exam = data["exam"]
        self.assertEqual(exam.attempts.count(), 4)
        again = b3_grading.seed(students=4, questions=3, migrate=False)
        self.assertEqual(again["exam"].id, exam.id)
        job = job_create(kind=Job.Kind.GRADE_EXAM, created_by=data["doctor"], params={"exam_id": exam.id})
        exam_grade(job_id=job.id)
        self.assertEqual(exam.degrees.count(), 4)
        self.assertTrue(all(0 <= d.marks_obtained <= d.marks_available for d in exam.degrees.all()))
