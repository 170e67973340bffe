"""The rules of time, through the services, with the server's clock passed in explicitly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.test import TestCase

from core.answers.store import answer_store
from core.exams import services
from core.exams.errors import AttemptClosed, AttemptNotStarted, ExamNotFound, ExamNotOpen
from core.exams.models import Exam
from core.exams.tests.factories import ids_of, make_doctor, make_exam, make_student

T0 = datetime(2031, 3, 1, 9, 0, tzinfo=UTC)


class AttemptTimeTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.exam = make_exam(
            owner=cls.doctor, opens_at=T0, closes_at=T0 + timedelta(hours=2), duration_minutes=30, grace_seconds=30
        )
        (cls.q1, _, cls.q1_correct), _ = ids_of(cls.exam)

    def setUp(self) -> None:
        cache.clear()
        # A new student per test: the Cassandra store outlives each test's rolled-back transaction.
        self.student = make_student(level="Year 1")

    def save(self, *, now: datetime) -> int:
        return services.answers_save(
            student_id=self.student.id, exam_id=self.exam.id, answers=[(self.q1, self.q1_correct)], now=now
        )

    def test_the_deadline_is_start_plus_duration(self) -> None:
        attempt, created = services.attempt_start(student=self.student, exam_id=self.exam.id, now=T0)
        self.assertTrue(created)
        self.assertEqual(attempt.deadline, T0 + timedelta(minutes=30))

    def test_the_deadline_never_passes_the_closing_time(self) -> None:
        late_start = T0 + timedelta(hours=1, minutes=50)
        attempt, _ = services.attempt_start(student=self.student, exam_id=self.exam.id, now=late_start)
        self.assertEqual(attempt.deadline, T0 + timedelta(hours=2))

    def test_it_refuses_to_start_before_opening_or_after_closing(self) -> None:
        for moment in (T0 - timedelta(seconds=1), T0 + timedelta(hours=2)):
            with self.assertRaises(ExamNotOpen):
                services.attempt_start(student=self.student, exam_id=self.exam.id, now=moment)

    def test_starting_again_returns_the_first_attempt_even_after_the_window(self) -> None:
        first, _ = services.attempt_start(student=self.student, exam_id=self.exam.id, now=T0)
        again, created = services.attempt_start(student=self.student, exam_id=self.exam.id, now=T0 + timedelta(hours=5))
        self.assertFalse(created)
        self.assertEqual((again.pk, again.deadline), (first.pk, first.deadline))

    def test_it_takes_an_answer_until_deadline_plus_grace(self) -> None:
        attempt, _ = services.attempt_start(student=self.student, exam_id=self.exam.id, now=T0)
        self.assertEqual(self.save(now=attempt.deadline + timedelta(seconds=30)), 1)

    def test_it_refuses_an_answer_after_deadline_plus_grace(self) -> None:
        attempt, _ = services.attempt_start(student=self.student, exam_id=self.exam.id, now=T0)
        with self.assertRaises(AttemptClosed):
            self.save(now=attempt.deadline + timedelta(seconds=31))
        self.assertEqual(answer_store().for_student(exam_id=self.exam.id, student_id=self.student.id), [])

    def test_it_refuses_an_answer_after_the_deadline_also_when_the_cache_is_cold(self) -> None:
        attempt, _ = services.attempt_start(student=self.student, exam_id=self.exam.id, now=T0)
        cache.clear()
        with self.assertRaises(AttemptClosed):
            self.save(now=attempt.deadline + timedelta(minutes=5))

    def test_it_refuses_an_answer_before_the_attempt_starts(self) -> None:
        with self.assertRaises(AttemptNotStarted):
            self.save(now=T0)

    def test_it_refuses_an_answer_after_finishing(self) -> None:
        services.attempt_start(student=self.student, exam_id=self.exam.id, now=T0)
        services.attempt_finish(student_id=self.student.id, exam_id=self.exam.id, now=T0 + timedelta(minutes=1))
        with self.assertRaises(AttemptClosed):
            self.save(now=T0 + timedelta(minutes=2))

    def test_it_refuses_an_answer_once_the_doctor_closes_the_exam(self) -> None:
        services.attempt_start(student=self.student, exam_id=self.exam.id, now=T0)
        self.save(now=T0 + timedelta(minutes=1))  # caches the key
        services.exam_update(user=self.doctor, exam_id=self.exam.id, changes={"status": Exam.Status.CLOSED})
        with self.assertRaises(AttemptClosed):
            self.save(now=T0 + timedelta(minutes=2))

    def test_finishing_after_the_deadline_counts_as_finished_at_the_deadline(self) -> None:
        attempt, _ = services.attempt_start(student=self.student, exam_id=self.exam.id, now=T0)
        finished = services.attempt_finish(
            student_id=self.student.id, exam_id=self.exam.id, now=attempt.deadline + timedelta(hours=1)
        )
        self.assertEqual(finished.finished_at, attempt.deadline)
        again = services.attempt_finish(student_id=self.student.id, exam_id=self.exam.id, now=T0 + timedelta(days=1))
        self.assertEqual(again.finished_at, attempt.deadline)

    def test_a_student_of_another_level_cannot_start(self) -> None:
        outsider = make_student(level="Year 5")
        with self.assertRaises(ExamNotFound):
            services.attempt_start(student=outsider, exam_id=self.exam.id, now=T0)
        with self.assertRaises(ExamNotFound):
            services.answers_save(student_id=outsider.id, exam_id=self.exam.id, answers=[(self.q1, [1])], now=T0)
