"""Starting an import from the admin."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase

from core.accounts.services import doctor_create, student_create, subject_get_or_create
from core.exams.models import Exam
from core.imports.services import import_run
from core.jobs.models import Job


def exam_for_import(*, owner: object, code: str) -> Exam:
    return Exam.objects.create(
        code=code, title=f"Paper {code}", subject=subject_get_or_create(name="WS paper"), owner=owner, kind="paper"
    )


class ImportAdminTests(TestCase):
    def test_a_doctor_starts_an_import_and_is_sent_to_the_jobs_progress(self) -> None:
        doctor = doctor_create(email="h6-admin-import@example.test", full_name="D", password="pw-123456789")
        self.client.force_login(doctor)
        self.assertContains(self.client.get("/imports/new"), "Import a grade file")
        upload = SimpleUploadedFile("g.csv", b"student_id,subject,grade\nH6ADM1,H6 Admin subject,77\n")
        with self.captureOnCommitCallbacks() as callbacks:
            response = self.client.post("/imports/new", {"kind": "subject_grades", "file": upload})
        self.assertRedirects(response, "/admin/jobs/job/", fetch_redirect_response=False)
        self.assertEqual(len(callbacks), 1)
        job = Job.objects.get(created_by=doctor)
        import_run(job_id=job.pk)
        job.refresh_from_db()
        self.assertEqual((job.status, job.processed), ("done", 1))

    def test_a_wrong_file_is_shown_on_the_form_and_a_student_is_refused(self) -> None:
        doctor = doctor_create(email="h6-admin-import2@example.test", full_name="D", password="pw-123456789")
        self.client.force_login(doctor)
        png = SimpleUploadedFile("g.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
        response = self.client.post("/imports/new", {"kind": "subject_grades", "file": png})
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "CSV (UTF-8) or an XLSX")
        self.assertFalse(Job.objects.exists())
        student = student_create(student_number="H6ADMS", full_name="S", level="Y", password="pw-123456789")
        self.client.force_login(student)
        self.assertNotEqual(self.client.get("/imports/new").status_code, 200)


class ImportNavigationAndJobsTests(TestCase):
    """/imports/new is reachable from the admin, picks the exam from a list, and a job's failed rows show."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = doctor_create(email="ws-imports@example.test", full_name="D", password="pw-123456789")
        cls.other = doctor_create(email="ws-imports-2@example.test", full_name="E", password="pw-123456789")
        cls.paper = exam_for_import(owner=cls.doctor, code="WS-PAPER")
        cls.others_paper = exam_for_import(owner=cls.other, code="WS-THEIRS")

    def setUp(self) -> None:
        self.client.force_login(self.doctor)

    def test_the_admins_navigation_links_to_the_import_page(self) -> None:
        self.assertContains(self.client.get("/admin/"), 'href="/imports/new"')
        self.assertContains(self.client.get("/admin/jobs/job/"), 'href="/imports/new"')

    def test_the_exam_is_picked_from_the_doctors_own_exams(self) -> None:
        page = self.client.get("/imports/new")
        self.assertContains(page, "WS-PAPER: ")
        self.assertNotContains(page, "WS-THEIRS")
        upload = SimpleUploadedFile("d.csv", b"student_number,marks_obtained,marks_available\nWSI-1,3,5\nWSI-2,9,5\n")
        with self.captureOnCommitCallbacks():
            response = self.client.post("/imports/new", {"kind": "degrees", "exam": self.paper.pk, "file": upload})
        self.assertRedirects(response, "/admin/jobs/job/", fetch_redirect_response=False)
        job = Job.objects.get(created_by=self.doctor)
        self.assertEqual(job.params["exam_id"], self.paper.pk)
        import_run(job_id=job.pk)
        job.refresh_from_db()
        self.assertEqual((job.status, len(job.errors)), ("done", 1))
        # A job with failed rows is not a plain "Done", and its page lists the rows by line, without storage keys.
        listing = self.client.get("/admin/jobs/job/")
        self.assertContains(listing, "Done, 1 row failed")
        page = self.client.get(f"/admin/jobs/job/{job.pk}/change/")
        self.assertContains(page, '<table class="job-errors">')
        self.assertContains(page, "<td>3</td>", html=True)
        self.assertContains(page, "d.csv")
        self.assertNotContains(page, job.params["file"])

    def test_another_doctors_exam_cannot_be_picked(self) -> None:
        upload = SimpleUploadedFile("d.csv", b"student_number,marks_obtained,marks_available\nWSI-3,3,5\n")
        response = self.client.post("/imports/new", {"kind": "degrees", "exam": self.others_paper.pk, "file": upload})
        self.assertEqual(response.status_code, 200)
        self.assertFalse(Job.objects.exists())
