"""Background imports: the API through HTTP, the job's rules through the service, on the real stores."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase, override_settings
from django.utils import timezone
from openpyxl import Workbook
from rest_framework.test import APIClient

from core.accounts.models import Role, Subject, User
from core.accounts.services import api_key_create, doctor_create, student_create, subject_get_or_create
from core.accounts.tokens import SingleUseRefreshToken
from core.exams.models import Exam
from core.gradebook.imports.services import import_run, import_start
from core.gradebook.imports.tasks import import_run_task
from core.gradebook.models import SubjectGrade
from core.grading.models import Degree
from core.jobs.models import Job

_counter = iter(range(1, 1_000_000))


def _doctor() -> User:
    n = next(_counter)
    return doctor_create(email=f"h6imp{n}@example.test", full_name=f"Doctor {n}", password="pw-123456789")


def _client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {SingleUseRefreshToken.for_user(user).access_token}")
    return client


def _exam(owner: User, kind: str = Exam.Kind.PAPER) -> Exam:
    n = next(_counter)
    return Exam.objects.create(
        code=f"H6IMP-{n}-{timezone.now().timestamp()}",
        title="Imported",
        subject=subject_get_or_create(name="Import subject"),
        owner=owner,
        kind=kind,
        status=Exam.Status.PUBLISHED,
        closes_at=timezone.now() + timedelta(days=1),
    )


def _xlsx(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _grades(user: User, subject: str) -> dict[str, int]:
    return dict(SubjectGrade.objects.filter(subject__name=subject).values_list("student__student_number", "grade"))


class ImportApiTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = _doctor()

    def _post(self, data: bytes, name: str = "grades.csv", client: APIClient | None = None, **fields: object):
        body = {"file": SimpleUploadedFile(name, data, content_type="text/csv"), "kind": "subject_grades"}
        body.update(fields)
        return (client or _client(self.doctor)).post("/api/imports", body)

    def test_a_grade_file_is_stored_and_a_queued_job_is_answered_with_202(self) -> None:
        with self.captureOnCommitCallbacks() as callbacks:
            response = self._post(b"student_id,subject,grade\nA1,H6 Math,90\n")
        self.assertEqual(response.status_code, 202, response.content)
        job = response.json()["job"]
        self.assertEqual(job["status"], "queued")
        self.assertEqual(job["kind"], "subject_grades")
        self.assertEqual(len(callbacks), 1)  # the task is enqueued once the job is committed
        stored = Job.objects.get(pk=job["id"]).params["file"]
        self.assertRegex(stored, r"^imports/[0-9a-f]{32}$")
        self.assertTrue(storages["default"].exists(stored))
        import_run(job_id=job["id"])
        self.assertFalse(storages["default"].exists(stored))  # the file goes once the job is finished
        self.assertEqual(_client(self.doctor).get(f"/api/jobs/{job['id']}").json()["status"], "done")

    def test_an_api_key_may_start_an_import_and_a_student_may_not(self) -> None:
        _, raw = api_key_create(user=self.doctor, name="scanner")
        machine = APIClient()
        machine.credentials(HTTP_X_API_KEY=raw)
        response = self._post(b"student_id,subject,grade\n", client=machine)
        self.assertEqual(response.status_code, 202)
        import_run(job_id=response.json()["job"]["id"])  # runs it, which also removes the stored file
        student = student_create(student_number="H6S1", full_name="S", level="Year 1", password="pw-123456789")
        self.assertEqual(self._post(b"student_id,subject,grade\n", client=_client(student)).status_code, 403)

    def test_a_wrong_file_type_is_415(self) -> None:
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
        self.assertEqual(self._post(png, "grades.csv").status_code, 415)
        self.assertEqual(self._post(b"<?xml version='1.0'?><a/>", "grades.csv").status_code, 415)
        not_xlsx = io.BytesIO()
        with zipfile.ZipFile(not_xlsx, "w") as archive:
            archive.writestr("hello.txt", "hi")
        self.assertEqual(self._post(not_xlsx.getvalue(), "grades.xlsx").status_code, 415)
        response = self._post(b"student_id,subject,grade\n", "results.xml", kind="markr")
        self.assertEqual(response.status_code, 415)
        self.assertEqual(response.json()["error"], "unsupported_media_type")
        self.assertFalse(Job.objects.exists())

    def test_a_zip_bomb_posing_as_xlsx_is_refused_before_it_is_opened(self) -> None:
        bomb = io.BytesIO()
        with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("xl/workbook.xml", "<workbook/>")
            archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * (50 * 1024 * 1024))
        self.assertLess(len(bomb.getvalue()), 200 * 1024)
        self.assertEqual(self._post(bomb.getvalue(), "grades.xlsx").status_code, 415)

    @override_settings(IMPORT_MAX_BYTES=1000)
    def test_a_file_above_the_configured_size_is_413(self) -> None:
        response = self._post(b"student_id,subject,grade\n" + b"A1,Math,90\n" * 200)
        self.assertEqual(response.status_code, 413)
        self.assertFalse(Job.objects.exists())

    def test_a_csv_that_is_not_utf8_is_422(self) -> None:
        response = self._post("student_id,subject,grade\nA1,Mathématiques,90\n".encode("latin-1"))
        self.assertEqual(response.status_code, 422)
        self.assertEqual(response.json()["error"], "not_utf8")

    def test_degrees_into_an_online_exam_is_409_and_another_doctors_exam_is_404(self) -> None:
        online = _exam(self.doctor, Exam.Kind.ONLINE)
        data = b"student_number,marks_obtained,marks_available\nA1,5,10\n"
        response = self._post(data, kind="degrees", exam=online.pk)
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()["error"], "exam_not_importable")
        self.assertEqual(self._post(data, kind="degrees", exam=_exam(_doctor()).pk).status_code, 404)
        self.assertEqual(self._post(data, kind="degrees").status_code, 422)

    def test_a_body_without_a_file_or_with_an_unknown_kind_is_400(self) -> None:
        self.assertEqual(_client(self.doctor).post("/api/imports", {"kind": "subject_grades"}).status_code, 400)
        self.assertEqual(self._post(b"a\n", kind="nonsense").status_code, 400)


class ImportJobTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = _doctor()

    def _run(self, data: bytes, kind: str = "subject_grades", **fields: object) -> Job:
        job = import_start(user=self.doctor, kind=kind, file=io.BytesIO(data), file_name="f", **fields)
        import_run(job_id=job.pk)
        return Job.objects.get(pk=job.pk)

    def test_good_rows_are_kept_and_each_bad_row_is_listed_with_its_line(self) -> None:
        data = (
            "\ufeffStudent_ID , SUBJECT,Grade,comment\n"
            "H6A1,H6 Physics,90,fine\n"
            "H6A2,H6 Physics,101,too high\n"
            "H6A3,H6 Physics,abc,\n"
            "H6A4,H6 Physics\n"
            "\n"
            "H6 A5,H6 Physics,50,bad number\n"
            "H6A6,H6 Physics,0,\n"
        ).encode()
        job = self._run(data)
        self.assertEqual(job.status, Job.Status.DONE)
        self.assertEqual(job.processed, 6)
        self.assertEqual([error["row"] for error in job.errors], [3, 4, 5, 7])
        self.assertIn("grade", job.errors[0]["message"])
        self.assertEqual(_grades(self.doctor, "H6 Physics"), {"H6A1": 90, "H6A6": 0})
        # Unknown students and subjects are created, and the doctor teaches the new subject.
        self.assertTrue(User.objects.filter(student_number="H6A6", role=Role.STUDENT).exists())
        self.assertTrue(Subject.objects.get(name="H6 Physics").doctors.filter(pk=self.doctor.pk).exists())

    def test_running_the_same_file_twice_leaves_the_same_data_and_a_later_row_wins(self) -> None:
        data = b"student_id,subject,grade\nH6B1,H6 Chem,70\nH6B2,H6 Chem,60\nH6B1,H6 Chem,75\n"
        first = self._run(data)
        after_first = _grades(self.doctor, "H6 Chem")
        second = self._run(data)
        self.assertEqual(after_first, {"H6B1": 75, "H6B2": 60})
        self.assertEqual(_grades(self.doctor, "H6 Chem"), after_first)
        self.assertEqual((first.status, second.status), ("done", "done"))

    def test_a_doctor_cannot_write_grades_into_another_doctors_subject(self) -> None:
        subject_get_or_create(name="H6 Theirs").doctors.add(_doctor())
        job = self._run(b"student_id,subject,grade\nH6C1,H6 Theirs,80\n")
        self.assertEqual([error["row"] for error in job.errors], [2])
        self.assertFalse(SubjectGrade.objects.filter(subject__name="H6 Theirs").exists())

    def test_an_xlsx_is_read_like_a_csv(self) -> None:
        data = _xlsx(
            [
                ["Student_id", "Subject", "Grade"],
                ["H6D1", "H6 Bio", 88],
                ["H6D2", "H6 Bio", 88.0],
                ["H6D3", "H6 Bio", "x"],
            ]
        )
        job = self._run(data)
        self.assertEqual(job.status, Job.Status.DONE)
        self.assertEqual([error["row"] for error in job.errors], [4])
        self.assertEqual(_grades(self.doctor, "H6 Bio"), {"H6D1": 88, "H6D2": 88})

    def test_a_missing_column_fails_the_job_with_a_clear_error(self) -> None:
        job = self._run(b"student,subject,grade\nX,Y,1\n")
        self.assertEqual(job.status, Job.Status.FAILED)
        self.assertIn("student_id", job.errors[-1]["message"])
        self.assertIsNone(job.errors[-1]["row"])

    def test_bytes_that_are_not_utf8_past_the_sniffed_head_fail_the_job_and_keep_earlier_batches(self) -> None:
        head = b"student_id,subject,grade\n" + b"H6E1,H6 Geo,50\n" * 6000
        job = self._run(head + "H6E2,Géo,50\n".encode("latin-1"))
        self.assertEqual(job.status, Job.Status.FAILED)
        self.assertIn("UTF-8", job.errors[-1]["message"])

    def test_degrees_keep_the_highest_obtained_and_available_each_on_its_own(self) -> None:
        exam = _exam(self.doctor)
        student = student_create(student_number="H6F1", full_name="F", level="Year 1")
        Degree.objects.create(
            student=student, exam=exam, marks_obtained=5, marks_available=10, source="upload", graded_at=timezone.now()
        )
        data = b"STUDENT_NUMBER,marks_obtained,marks_available\nH6F1,7,8\nH6F2,3,4\nH6F2,2,6\nH6F3,9,8\nH6F4,1,0\n"
        job = self._run(data, kind="degrees", exam_id=exam.pk)
        again = self._run(data, kind="degrees", exam_id=exam.pk)
        marks = {
            number: (o, a)
            for number, o, a in Degree.objects.filter(exam=exam).values_list(
                "student__student_number", "marks_obtained", "marks_available"
            )
        }
        self.assertEqual(marks, {"H6F1": (7, 10), "H6F2": (3, 6)})
        self.assertEqual([error["row"] for error in job.errors], [5, 6])
        self.assertEqual(again.errors, job.errors)

    def test_markr_results_are_merged_in_the_background_and_bad_results_are_listed(self) -> None:
        code = f"H6MK{next(_counter)}"
        xml = f"""<?xml version="1.0" encoding="UTF-8" ?>
<mcq-test-results>
  <mcq-test-result scanned-on="2017-12-04T12:12:10+11:00">
    <first-name>Jane</first-name><last-name>Austen</last-name>
    <student-number>H6G1</student-number><test-id>{code}</test-id>
    <summary-marks available="20" obtained="13" />
  </mcq-test-result>
  <mcq-test-result>
    <student-number>H6G1</student-number><test-id>{code}</test-id>
    <summary-marks available="18" obtained="15" />
  </mcq-test-result>
  <mcq-test-result>
    <student-number>H6G2</student-number><test-id>{code}</test-id>
    <summary-marks available="20" obtained="21" />
  </mcq-test-result>
</mcq-test-results>""".encode()
        job = self._run(xml, kind="markr")
        self.assertEqual(job.status, Job.Status.DONE)
        self.assertEqual(job.processed, 3)
        self.assertEqual([error["row"] for error in job.errors], [12])
        degree = Degree.objects.get(exam__code=code, student__student_number="H6G1")
        self.assertEqual((degree.marks_obtained, degree.marks_available, degree.source), (15, 20, "markr"))
        self.assertEqual(User.objects.get(student_number="H6G1").full_name, "Jane Austen")

    def test_a_markr_document_with_a_dtd_fails_the_job_and_stores_nothing(self) -> None:
        xml = b"""<?xml version="1.0"?>
<!DOCTYPE mcq-test-results [<!ENTITY x "boom">]>
<mcq-test-results><mcq-test-result><student-number>H6H1</student-number><test-id>H6DTD</test-id>
<summary-marks available="2" obtained="&x;" /></mcq-test-result></mcq-test-results>"""
        job = self._run(xml, kind="markr")
        self.assertEqual(job.status, Job.Status.FAILED)
        self.assertIn("DTD", job.errors[-1]["message"])
        self.assertFalse(Exam.objects.filter(code="H6DTD").exists())

    def test_students_are_upserted_by_number(self) -> None:
        data = b"student_number,full_name,email,level\nH6J1,Ann One,ann.h6@example.test,Year 2\nH6J2,,,Year 2\n"
        job = self._run(data, kind="students")
        self.assertEqual([error["row"] for error in job.errors], [3])
        again = self._run(b"student_number,full_name,email,level\nH6J1,Ann Renamed,,Year 3\n", kind="students")
        self.assertEqual(again.errors, [])
        ann = User.objects.get(student_number="H6J1")
        self.assertEqual((ann.full_name, ann.email, ann.level.name), ("Ann Renamed", "ann.h6@example.test", "Year 3"))

    def test_the_task_runs_twice_with_the_same_outcome(self) -> None:
        job = import_start(
            user=self.doctor,
            kind="subject_grades",
            file=io.BytesIO(b"student_id,subject,grade\nH6K1,H6 Art,61\n"),
            file_name="f",
        )
        import_run_task(job.pk)
        finished = Job.objects.get(pk=job.pk)
        import_run_task(job.pk)
        again = Job.objects.get(pk=job.pk)
        self.assertEqual((again.status, again.processed, again.finished_at), ("done", 1, finished.finished_at))
        self.assertEqual(_grades(self.doctor, "H6 Art"), {"H6K1": 61})
