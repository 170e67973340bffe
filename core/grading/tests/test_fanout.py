"""Grading fanned out: one exam's grading split into chunks of students that any worker grades, one job whose
progress counts every chunk, the same degrees as one pass gives, and a chunk whose worker died redone after its
lease (well within the job's), not after the broker's visibility timeout."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.test import TestCase, override_settings
from django.utils import timezone

from core.grading.models import Degree
from core.grading.services import exam_grade, grading_rescue
from core.grading.tests.factories import answer, celery_eager, degrees_of, make_doctor, make_exam, make_student, start
from core.jobs.models import Job, JobChunk
from core.jobs.services import CHUNK_LEASE, CHUNK_SWEEP, JOB_LEASE, job_create

KEY = [(1, 3, {0}), (2, 4, {1, 2}), (3, 2, {1})]
PICKS = [{0: {0}, 1: {1, 2}, 2: {1}}, {0: {0}, 1: {1}, 2: {0}}, {1: {1, 2, 3}, 2: {1}}, {}, {2: {1}}, {0: {1}}, {}]


class FannedOutGradingTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.exam = make_exam(owner=cls.doctor, questions=KEY)
        cls.students = [make_student() for _ in PICKS]

    def setUp(self) -> None:
        for student, picks in zip(self.students, PICKS, strict=True):
            start(self.exam, student)
            if picks:
                answer(self.exam, student, picks)

    def job(self) -> Job:
        return job_create(kind=Job.Kind.GRADE_EXAM, created_by=self.doctor, params={"exam_id": self.exam.id})

    def test_chunks_give_the_same_degrees_as_one_pass_and_the_job_counts_every_chunk(self) -> None:
        one = self.job()
        exam_grade(job_id=one.id, chunk_size=1000)
        in_one_pass = degrees_of(self.exam)
        Degree.objects.filter(exam=self.exam).delete()

        job = self.job()
        with celery_eager():
            exam_grade(job_id=job.id, chunk_size=3, batch_size=2, fan_out=True)  # each chunk is a task
        job.refresh_from_db()
        chunks = list(JobChunk.objects.filter(job=job))
        self.assertEqual([c.size for c in chunks], [3, 3, 1])
        self.assertEqual({c.status for c in chunks}, {JobChunk.Status.DONE})
        self.assertEqual((job.status, job.processed, job.total), (Job.Status.DONE, 7, 7))
        self.assertEqual(degrees_of(self.exam), in_one_pass)
        self.assertEqual(len(in_one_pass), 7)

    def test_a_chunk_whose_worker_died_is_sent_again_after_its_lease_and_redone(self) -> None:
        job = self.job()
        exam_grade(job_id=job.id, chunk_size=3)
        expected = degrees_of(self.exam)
        # A worker died mid-chunk: its chunk still says running, its students' degrees are not written, the job
        # is still running, and its message sits unacknowledged in the broker.
        dead = JobChunk.objects.get(job=job, index=1)
        Degree.objects.filter(exam=self.exam, student_id__in=dead.params["student_ids"]).delete()
        died_at = timezone.now()
        Job.objects.filter(id=job.id).update(status=Job.Status.RUNNING, finished_at=None, heartbeat_at=died_at)
        JobChunk.objects.filter(id=dead.id).update(status=JobChunk.Status.RUNNING, processed=2, heartbeat_at=died_at)

        with celery_eager():
            self.assertEqual(grading_rescue(now=died_at + CHUNK_LEASE - timedelta(seconds=1)), {"chunks": 0, "jobs": 0})
            self.assertEqual(grading_rescue(now=died_at + CHUNK_LEASE + timedelta(seconds=1)), {"chunks": 1, "jobs": 0})
        dead.refresh_from_db()
        job.refresh_from_db()
        self.assertEqual((dead.status, dead.claims), (JobChunk.Status.DONE, 2))
        self.assertEqual((job.status, job.processed, job.total), (Job.Status.DONE, 7, 7))
        self.assertEqual(degrees_of(self.exam), expected)

    def test_a_chunk_held_by_a_live_worker_is_not_taken_from_it(self) -> None:
        job = self.job()
        exam_grade(job_id=job.id, chunk_size=3)
        now = timezone.now()
        Job.objects.filter(id=job.id).update(status=Job.Status.RUNNING, heartbeat_at=now)
        JobChunk.objects.filter(job=job, index=0).update(status=JobChunk.Status.RUNNING, heartbeat_at=now)
        with celery_eager():
            self.assertEqual(grading_rescue(now=now + CHUNK_LEASE / 2), {"chunks": 0, "jobs": 0})
        self.assertEqual(JobChunk.objects.get(job=job, index=0).claims, 1)

    def test_a_job_whose_worker_died_before_splitting_it_is_sent_again_after_the_job_lease(self) -> None:
        job = self.job()
        died_at = timezone.now()
        Job.objects.filter(id=job.id).update(status=Job.Status.RUNNING, started_at=died_at, heartbeat_at=died_at)
        with celery_eager():
            self.assertEqual(grading_rescue(now=died_at + JOB_LEASE / 2), {"chunks": 0, "jobs": 0})
            self.assertEqual(grading_rescue(now=died_at + JOB_LEASE + timedelta(seconds=1)), {"chunks": 0, "jobs": 1})
        job.refresh_from_db()
        self.assertEqual((job.status, job.processed), (Job.Status.DONE, 7))

    def test_by_default_a_dead_workers_chunk_is_redone_within_the_job_lease(self) -> None:
        schedule = settings.CELERY_BEAT_SCHEDULE["grading-rescue"]
        self.assertEqual(schedule["task"], "core.grading.tasks.grading_rescue_task")
        self.assertEqual(timedelta(seconds=schedule["schedule"]), CHUNK_SWEEP)
        self.assertLess(CHUNK_LEASE + CHUNK_SWEEP, JOB_LEASE)
        self.assertGreater(settings.CELERY_VISIBILITY_TIMEOUT, JOB_LEASE.total_seconds())

    @override_settings(GRADING_CHUNK_STUDENTS=2)
    def test_the_chunk_size_comes_from_settings(self) -> None:
        job = self.job()
        exam_grade(job_id=job.id)
        self.assertEqual(JobChunk.objects.filter(job=job).count(), 4)
