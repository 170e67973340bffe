"""Starting an import from the admin."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase

from core.accounts.services import doctor_create, student_create
from core.gradebook.imports.services import import_run
from core.jobs.models import Job


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
