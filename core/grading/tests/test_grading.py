from datetime import timedelta

from django.test import TestCase
from django.utils import timezone

from core.exams.models import Attempt, Choice, Exam
from core.exams.signals import attempt_finished
from core.grading.models import Degree
from core.grading.services import exam_grade, student_grade
from core.grading.tasks import attempt_grade_task, exam_grade_task
from core.grading.tests.factories import (
    answer,
    celery_eager,
    degrees_of,
    make_doctor,
    make_exam,
    make_student,
    start,
)
from core.jobs.models import Job
from core.jobs.services import job_create

# Three questions: 1 point (one correct of 3), 2 points (two correct of 4), 3 points (one correct of 2).
KEY = [(1, 3, {0}), (2, 4, {1, 2}), (3, 2, {1})]


def grade_job(exam: Exam, user: object) -> Job:
    return job_create(kind=Job.Kind.GRADE_EXAM, created_by=user, params={"exam_id": exam.id})


class ExamGradeTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.exam = make_exam(owner=cls.doctor, questions=KEY)
        cls.ada, cls.bob, cls.cy, cls.dee = (make_student() for _ in range(4))

    def setUp(self) -> None:
        for student in (self.ada, self.bob, self.cy, self.dee):
            start(self.exam, student)
        answer(self.exam, self.ada, {0: {0}, 1: {1, 2}, 2: {1}})  # all right: 6
        answer(self.exam, self.bob, {0: {0}, 1: {1}, 2: {0}})  # a subset of a multi is wrong: 1
        answer(self.exam, self.cy, {1: {1, 2, 3}, 2: {1}})  # a superset is wrong too: 3
        # dee started and answered nothing

    def grade(self) -> Job:
        job = grade_job(self.exam, self.doctor)
        exam_grade_task(job.id)
        job.refresh_from_db()
        return job

    def test_a_question_scores_its_points_only_when_the_chosen_set_equals_the_correct_set(self) -> None:
        self.grade()
        self.assertEqual(
            degrees_of(self.exam),
            {
                self.ada.id: (6, 6, "online"),
                self.bob.id: (1, 6, "online"),
                self.cy.id: (3, 6, "online"),
                self.dee.id: (0, 6, "online"),
            },
        )

    def test_a_student_who_started_but_answered_nothing_gets_zero(self) -> None:
        self.grade()
        degree = Degree.objects.get(exam=self.exam, student=self.dee)
        self.assertEqual((degree.marks_obtained, degree.percentage), (0, 0.0))

    def test_the_job_reports_its_progress_and_ends_done(self) -> None:
        job = self.grade()
        self.assertEqual((job.status, job.total, job.processed, job.errors), ("done", 4, 4, []))
        self.assertIsNotNone(job.finished_at)

    def test_running_the_task_twice_leaves_the_same_state(self) -> None:
        job = grade_job(self.exam, self.doctor)
        exam_grade_task(job.id)
        first = (list(Degree.objects.filter(exam=self.exam).values()), Job.objects.filter(id=job.id).values().get())
        exam_grade_task(job.id)
        second = (list(Degree.objects.filter(exam=self.exam).values()), Job.objects.filter(id=job.id).values().get())
        self.assertEqual(first, second)

    def test_grading_again_gives_the_same_degrees(self) -> None:
        self.grade()
        once = degrees_of(self.exam)
        self.grade()
        self.assertEqual(degrees_of(self.exam), once)
        self.assertEqual(Degree.objects.filter(exam=self.exam).count(), 4)

    def test_regrading_after_a_key_correction_equals_grading_once_from_the_new_key(self) -> None:
        self.grade()
        # The doctor fixes question 3: choice 0 was the right one.
        question = self.exam.questions.order_by("position")[2]
        Choice.objects.filter(question=question).update(is_correct=False)
        Choice.objects.filter(question=question, position=0).update(is_correct=True)
        self.grade()
        regraded = degrees_of(self.exam)
        Degree.objects.filter(exam=self.exam).delete()
        self.grade()
        self.assertEqual(degrees_of(self.exam), regraded)
        self.assertEqual(regraded[self.ada.id][0], 3)
        self.assertEqual(regraded[self.bob.id][0], 4)

    def test_small_batches_give_the_same_degrees_as_one(self) -> None:
        job = grade_job(self.exam, self.doctor)
        exam_grade(job_id=job.id, batch_size=3)
        in_batches = degrees_of(self.exam)
        self.grade()
        self.assertEqual(degrees_of(self.exam), in_batches)
        job.refresh_from_db()
        self.assertEqual((job.processed, job.total), (4, 4))

    def test_a_degree_of_a_student_without_an_attempt_is_removed(self) -> None:
        stray = make_student()
        Degree.objects.create(
            exam=self.exam,
            student=stray,
            marks_obtained=5,
            marks_available=6,
            source="manual",
            graded_at=timezone.now(),
        )
        self.grade()
        self.assertNotIn(stray.id, degrees_of(self.exam))


class ExamGradeEdgeTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()

    def test_an_exam_without_attempts_grades_to_an_empty_done_job(self) -> None:
        exam = make_exam(owner=self.doctor, questions=KEY)
        job = grade_job(exam, self.doctor)
        exam_grade_task(job.id)
        job.refresh_from_db()
        self.assertEqual((job.status, job.total, job.processed), ("done", 0, 0))
        self.assertFalse(Degree.objects.filter(exam=exam).exists())

    def test_expired_attempts_are_finished_at_their_deadline_and_open_ones_are_not(self) -> None:
        now = timezone.now()
        exam = make_exam(owner=self.doctor, questions=KEY, duration_minutes=10, grace_seconds=30)
        late, running = make_student(), make_student()
        expired = start(exam, late, started_at=now - timedelta(minutes=20))
        still_open = start(exam, running, started_at=now - timedelta(minutes=1))
        job = grade_job(exam, self.doctor)
        exam_grade_task(job.id)
        expired.refresh_from_db()
        still_open.refresh_from_db()
        self.assertEqual(expired.finished_at, expired.deadline)
        self.assertIsNone(still_open.finished_at)
        self.assertEqual(set(degrees_of(exam)), {late.id, running.id})

    def test_an_attempt_within_its_grace_is_not_finished(self) -> None:
        now = timezone.now()
        exam = make_exam(owner=self.doctor, duration_minutes=10, grace_seconds=120)
        attempt = start(exam, make_student(), started_at=now - timedelta(minutes=11))
        exam_grade_task(grade_job(exam, self.doctor).id)
        attempt.refresh_from_db()
        self.assertIsNone(attempt.finished_at)

    def test_a_closed_exam_becomes_graded_and_an_open_one_stays_published(self) -> None:
        closed = make_exam(owner=self.doctor, status=Exam.Status.CLOSED)
        still_open = make_exam(owner=self.doctor)
        past = make_exam(owner=self.doctor, closes_at=timezone.now() - timedelta(minutes=5))
        for exam in (closed, still_open, past):
            exam_grade_task(grade_job(exam, self.doctor).id)
            exam.refresh_from_db()
        self.assertEqual(
            (closed.status, still_open.status, past.status),
            (Exam.Status.GRADED, Exam.Status.PUBLISHED, Exam.Status.GRADED),
        )

    def test_a_job_for_a_paper_exam_fails_without_touching_its_degrees(self) -> None:
        exam = make_exam(owner=self.doctor, kind=Exam.Kind.PAPER)
        student = make_student()
        Degree.objects.create(
            exam=exam, student=student, marks_obtained=7, marks_available=9, source="markr", graded_at=timezone.now()
        )
        job = grade_job(exam, self.doctor)
        exam_grade_task(job.id)
        job.refresh_from_db()
        self.assertEqual(job.status, "failed")
        self.assertEqual(job.errors[0]["row"], None)
        self.assertEqual(degrees_of(exam), {student.id: (7, 9, "markr")})


class StudentGradeTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.exam = make_exam(owner=cls.doctor, questions=KEY)
        cls.student = make_student()

    def test_the_attempt_task_grades_one_student_and_twice_changes_nothing(self) -> None:
        start(self.exam, self.student)
        answer(self.exam, self.student, {0: {0}, 2: {1}})
        attempt_grade_task(self.exam.id, self.student.id)
        first = list(Degree.objects.filter(exam=self.exam).values("student_id", "marks_obtained", "marks_available"))
        attempt_grade_task(self.exam.id, self.student.id)
        second = list(Degree.objects.filter(exam=self.exam).values("student_id", "marks_obtained", "marks_available"))
        self.assertEqual(first, [{"student_id": self.student.id, "marks_obtained": 4, "marks_available": 6}])
        self.assertEqual(first, second)

    def test_a_student_without_an_attempt_gets_no_degree(self) -> None:
        self.assertIsNone(student_grade(exam_id=self.exam.id, student_id=self.student.id))
        self.assertFalse(Degree.objects.exists())

    def test_finishing_an_attempt_enqueues_the_grading_of_that_student_on_commit(self) -> None:
        attempt = start(self.exam, self.student)
        answer(self.exam, self.student, {0: {0}})
        with celery_eager(), self.captureOnCommitCallbacks(execute=True) as callbacks:
            Attempt.objects.filter(id=attempt.id).update(finished_at=timezone.now())
            attempt_finished.send(sender=Attempt, exam_id=self.exam.id, student_id=self.student.id)
            self.assertFalse(Degree.objects.exists())  # nothing runs before the commit
        self.assertEqual(len(callbacks), 1)
        self.assertEqual(degrees_of(self.exam), {self.student.id: (1, 6, "online")})
