from datetime import timedelta

from django.contrib.auth import get_user_model
from django.test import TestCase
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from core.jobs.models import Job
from core.jobs.services import JOB_LEASE, JobBusy, job_advance, job_begin, job_claim, job_create, job_finish


def make_user(email: str, role: str = "doctor", **fields: object):
    if role == "student":
        fields.setdefault("student_number", email.split("@")[0])
    return get_user_model().objects.create_user(email=email, password="pass-word-1", role=role, **fields)


def client_for(user: object) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


class JobClaimTests(TestCase):
    def setUp(self) -> None:
        self.doctor = make_user("claim-doctor@example.test")
        self.job = job_create(kind=Job.Kind.GRADE_EXAM, created_by=self.doctor, params={"exam_id": 1}, total=3)

    def test_a_new_job_is_queued(self) -> None:
        self.assertEqual(self.job.status, Job.Status.QUEUED)
        self.assertEqual((self.job.processed, self.job.errors, self.job.params), (0, [], {"exam_id": 1}))

    def test_the_first_claim_wins_and_the_second_gets_none(self) -> None:
        claimed = job_claim(job_id=self.job.id)
        self.assertEqual(claimed.status, Job.Status.RUNNING)
        self.assertIsNotNone(claimed.started_at)
        self.assertIsNone(job_claim(job_id=self.job.id))

    def test_a_running_job_with_a_fresh_lease_is_busy(self) -> None:
        job_claim(job_id=self.job.id)
        with self.assertRaises(JobBusy):
            job_begin(job_id=self.job.id)

    def test_a_running_job_whose_worker_died_is_claimed_again_from_the_start(self) -> None:
        started = timezone.now()
        job_claim(job_id=self.job.id, now=started)
        job_advance(job_id=self.job.id, processed=2, errors=[{"row": 2, "message": "bad"}])
        Job.objects.filter(id=self.job.id).update(heartbeat_at=started)
        reclaimed = job_claim(job_id=self.job.id, now=started + JOB_LEASE + timedelta(seconds=1))
        self.assertIsNotNone(reclaimed)
        self.assertEqual((reclaimed.status, reclaimed.processed, reclaimed.errors), (Job.Status.RUNNING, 0, []))

    def test_a_finished_job_is_never_claimed_again(self) -> None:
        job_claim(job_id=self.job.id)
        job_finish(job_id=self.job.id, status=Job.Status.DONE, processed=3)
        later = timezone.now() + JOB_LEASE * 10
        self.assertIsNone(job_claim(job_id=self.job.id, now=later))
        self.assertIsNone(job_begin(job_id=self.job.id, now=later))

    def test_progress_is_absolute_so_recomputed_work_does_not_count_twice(self) -> None:
        job_claim(job_id=self.job.id)
        job_advance(job_id=self.job.id, processed=2)
        job_advance(job_id=self.job.id, processed=2)
        job_advance(job_id=self.job.id, processed=3, errors=[{"row": 3, "message": "no such student"}])
        job_finish(job_id=self.job.id, status=Job.Status.DONE, errors=[{"row": 4, "message": "empty"}])
        self.job.refresh_from_db()
        self.assertEqual(self.job.processed, 3)
        self.assertEqual(self.job.errors, [{"row": 3, "message": "no such student"}, {"row": 4, "message": "empty"}])
        self.assertEqual(self.job.status, Job.Status.DONE)
        self.assertIsNotNone(self.job.finished_at)

    def test_a_job_that_is_not_running_does_not_advance(self) -> None:
        job_advance(job_id=self.job.id, processed=2)
        self.job.refresh_from_db()
        self.assertEqual(self.job.processed, 0)


class JobsApiTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_user("api-doctor@example.test")
        cls.other = make_user("api-other@example.test")
        cls.admin = make_user("api-admin@example.test", role="admin")
        cls.older = job_create(kind=Job.Kind.GRADE_EXAM, created_by=cls.doctor, params={"exam_id": 1})
        cls.newer = job_create(kind=Job.Kind.IMPORT_DEGREES, created_by=cls.doctor, total=10)
        cls.others = job_create(kind=Job.Kind.IMPORT_MARKR, created_by=cls.other)

    def test_the_starter_sees_the_job_with_its_progress(self) -> None:
        response = client_for(self.doctor).get(f"/api/jobs/{self.newer.id}")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(
            set(response.json()),
            {"id", "kind", "status", "total", "processed", "errors", "created_at", "started_at", "finished_at"},
        )
        self.assertEqual(response.json()["kind"], "degrees")
        self.assertEqual(response.json()["total"], 10)

    def test_someone_elses_job_is_a_404_but_an_admin_sees_it(self) -> None:
        self.assertEqual(client_for(self.other).get(f"/api/jobs/{self.newer.id}").status_code, 404)
        self.assertEqual(client_for(self.other).get(f"/api/jobs/{self.newer.id}").json()["error"], "not_found")
        self.assertEqual(client_for(self.admin).get(f"/api/jobs/{self.newer.id}").status_code, 200)

    def test_an_anonymous_caller_is_a_401(self) -> None:
        self.assertEqual(APIClient().get(f"/api/jobs/{self.newer.id}").status_code, 401)

    def test_mine_lists_the_callers_jobs_newest_first_paginated(self) -> None:
        body = client_for(self.doctor).get("/api/jobs?mine=1").json()
        self.assertEqual(set(body), {"count", "next", "previous", "results"})
        self.assertEqual([j["id"] for j in body["results"]], [self.newer.id, self.older.id])

    def test_an_admin_sees_everyones_jobs_without_mine_and_only_their_own_with_it(self) -> None:
        mine = job_create(kind=Job.Kind.IMPORT_MARKR, created_by=self.admin)
        everyone = client_for(self.admin).get("/api/jobs").json()
        self.assertEqual(everyone["count"], 4)
        self.assertEqual([j["id"] for j in client_for(self.admin).get("/api/jobs?mine=1").json()["results"]], [mine.id])

    def test_a_doctor_without_mine_still_sees_only_their_own(self) -> None:
        ids = [j["id"] for j in client_for(self.other).get("/api/jobs").json()["results"]]
        self.assertEqual(ids, [self.others.id])


class JobAdminTests(TestCase):
    def test_the_admin_list_shows_progress_bars_that_poll_a_json_view(self) -> None:
        admin = get_user_model().objects.create_superuser("jobs-admin@example.test", "pass-word-1")
        job = job_create(kind=Job.Kind.GRADE_EXAM, created_by=admin, total=4)
        job_claim(job_id=job.id)
        job_advance(job_id=job.id, processed=1)
        self.client.force_login(admin)
        page = self.client.get("/admin/jobs/job/")
        self.assertContains(page, f"/admin/jobs/job/{job.id}/progress.json")
        self.assertContains(page, '<progress class="job-progress-bar" max="4" value="1">1 / 4</progress>', html=True)
        progress = self.client.get(f"/admin/jobs/job/{job.id}/progress.json")
        self.assertEqual(progress.status_code, 200)
        self.assertEqual((progress.json()["status"], progress.json()["processed"]), ("running", 1))

    def test_a_doctor_polls_only_their_own_jobs(self) -> None:
        doctor = make_user("jobs-doctor@example.test", is_staff=True)
        someone = make_user("jobs-someone@example.test")
        theirs = job_create(kind=Job.Kind.GRADE_EXAM, created_by=someone)
        own = job_create(kind=Job.Kind.GRADE_EXAM, created_by=doctor)
        self.client.force_login(doctor)
        self.assertEqual(self.client.get(f"/admin/jobs/job/{own.id}/progress.json").status_code, 200)
        self.assertEqual(self.client.get(f"/admin/jobs/job/{theirs.id}/progress.json").status_code, 404)
