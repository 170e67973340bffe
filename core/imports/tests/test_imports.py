"""Background imports: the API through HTTP, the job's rules through the service, on the real stores."""

from __future__ import annotations

import io
import threading
import zipfile
from datetime import timedelta
from unittest.mock import patch

from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase, TransactionTestCase, override_settings
from django.utils import timezone
from openpyxl import Workbook
from rest_framework.test import APIClient

from core.accounts.models import Role, Subject, User
from core.accounts.services import (
    api_key_create,
    doctor_create,
    student_create,
    subject_get_or_create,
    subject_refusal,
)
from core.accounts.tokens import SingleUseRefreshToken
from core.exams.models import Exam
from core.gradebook.models import SubjectGrade
from core.grading.models import Degree
from core.imports import services
from core.imports.services import import_run, import_start
from core.imports.tasks import import_run_task
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

    def test_a_degree_row_with_a_student_number_the_api_refuses_is_a_row_error(self) -> None:
        exam = _exam(self.doctor)
        data = b"student_number,marks_obtained,marks_available\nH6G 1,1,2\nH6G2,1,2\n"
        job = self._run(data, kind="degrees", exam_id=exam.pk)
        self.assertEqual([error["row"] for error in job.errors], [2])
        self.assertIn("student_number", job.errors[0]["message"])
        self.assertEqual(list(Degree.objects.values_list("student__student_number", flat=True)), ["H6G2"])

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
        # Only an admin moves a known student to another level (a doctor's row that would is an error).
        moved = b"student_number,full_name,email,level\nH6J1,Ann Renamed,,Year 3\n"
        refused = self._run(moved, kind="students")
        self.assertIn("only an admin moves", refused.errors[0]["message"])
        admin = User.objects.create_superuser("h6-students-admin@example.test", "pw-123456789")
        again = import_start(user=admin, kind="students", file=io.BytesIO(moved), file_name="f")
        import_run(job_id=again.pk)
        self.assertEqual(Job.objects.get(pk=again.pk).errors, [])
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

    def test_a_job_queued_under_the_tasks_former_name_still_runs(self) -> None:
        from core.celery import app

        job = import_start(
            user=self.doctor,
            kind="subject_grades",
            file=io.BytesIO(b"student_id,subject,grade\nH6K2,H6 Art,58\n"),
            file_name="f",
        )
        app.tasks["core.gradebook.imports.tasks.import_run_task"](job.pk)
        self.assertEqual(Job.objects.get(pk=job.pk).status, "done")
        self.assertEqual(_grades(self.doctor, "H6 Art"), {"H6K2": 58})


class SubjectGradesRules:
    """The COPY-and-merge path of subject_grades, through the service on the real database: run by
    SubjectGradesImportTests on one connection and by SubjectGradesParallelWritersTests on parallel writers."""

    doctor: User

    def _run(self, text: str, user: User | None = None) -> Job:
        data = ("student_id,subject,grade\n" + text).encode()
        job = import_start(user=user or self.doctor, kind="subject_grades", file=io.BytesIO(data), file_name="f")
        import_run(job_id=job.pk)
        return Job.objects.get(pk=job.pk)

    def test_a_student_named_twice_for_a_subject_keeps_the_grade_of_the_last_line(self) -> None:
        job = self._run("H10A1,H10 Dup,10\nH10A2,H10 Dup,20\nH10A1,H10 Dup,30\nH10A1,H10 Dup,40\nH10A2,H10 Dup,5\n")
        self.assertEqual((job.status, job.processed, job.errors), ("done", 5, []))
        self.assertEqual(_grades(self.doctor, "H10 Dup"), {"H10A1": 40, "H10A2": 5})

    def test_the_last_line_wins_across_batches_too(self) -> None:
        with patch("core.imports.services.GRADE_BATCH_SIZE", 2):
            job = self._run("H10B1,H10 Across,10\nH10B2,H10 Across,20\nH10B1,H10 Across,30\nH10B1,H10 Across,7\n")
        self.assertEqual(job.status, "done")
        self.assertEqual(_grades(self.doctor, "H10 Across"), {"H10B1": 7, "H10B2": 20})

    def test_a_subject_taught_by_another_doctor_is_a_row_error_and_the_other_rows_are_kept(self) -> None:
        subject_get_or_create(name="H10 Theirs").doctors.add(_doctor())
        job = self._run("H10C1,H10 Mine,80\nH10C1,H10 Theirs,70\nH10C2, H10 Theirs ,60\nbad id,H10 Mine,1\n")
        self.assertEqual(
            job.errors,
            [
                {"row": 3, "message": "subject 'H10 Theirs': " + subject_refusal(name="H10 Theirs")},
                {"row": 4, "message": "subject 'H10 Theirs': " + subject_refusal(name="H10 Theirs")},
                {"row": 5, "message": "student_id must be 1 to 64 letters, digits, '-' or '_'."},
            ],
        )
        self.assertEqual(_grades(self.doctor, "H10 Mine"), {"H10C1": 80})
        self.assertFalse(SubjectGrade.objects.filter(subject__name="H10 Theirs").exists())
        self.assertFalse(Subject.objects.get(name="H10 Theirs").doctors.filter(pk=self.doctor.pk).exists())

    def test_a_subject_the_doctor_teaches_or_names_first_is_written_and_one_nobody_teaches_is_refused(self) -> None:
        subject_get_or_create(name="H10 Own").doctors.add(self.doctor)
        subject_get_or_create(name="H10 Orphan")
        job = self._run("H10D1,H10 Own,55\nH10D1,H10 Orphan,66\nH10D1,H10 Brand new,77\n")
        self.assertEqual(
            job.errors, [{"row": 3, "message": "subject 'H10 Orphan': " + subject_refusal(name="H10 Orphan")}]
        )
        self.assertEqual(_grades(self.doctor, "H10 Own"), {"H10D1": 55})
        self.assertEqual(_grades(self.doctor, "H10 Brand new"), {"H10D1": 77})
        self.assertFalse(Subject.objects.get(name="H10 Orphan").doctors.exists())
        self.assertEqual(list(Subject.objects.get(name="H10 Brand new").doctors.all()), [self.doctor])

    def test_an_admin_writes_into_any_subject_and_adopts_none(self) -> None:
        admin = User.objects.create_superuser("h10admin@example.test", "pw-123456789")
        other = _doctor()
        subject_get_or_create(name="H10 Taught").doctors.add(other)
        job = self._run("H10E1,H10 Taught,91\nH10E1,H10 Fresh,92\n", user=admin)
        self.assertEqual(job.errors, [])
        self.assertEqual(_grades(admin, "H10 Taught"), {"H10E1": 91})
        self.assertEqual(list(Subject.objects.get(name="H10 Taught").doctors.all()), [other])
        self.assertFalse(Subject.objects.get(name="H10 Fresh").doctors.exists())

    def test_unknown_students_and_subjects_are_created(self) -> None:
        job = self._run("H10F1,H10 New One,1\nH10F2,H10 New Two,2\nH10F1,H10 New Two,3\n")
        self.assertEqual(job.errors, [])
        students = User.objects.filter(student_number__in=["H10F1", "H10F2"])
        self.assertEqual(sorted(s.student_number for s in students), ["H10F1", "H10F2"])
        for student in students:
            self.assertEqual((student.role, student.full_name, student.has_usable_password()), ("student", "", False))
        for name in ("H10 New One", "H10 New Two"):
            self.assertEqual(list(Subject.objects.get(name=name).doctors.all()), [self.doctor])
        self.assertEqual(_grades(self.doctor, "H10 New Two"), {"H10F2": 2, "H10F1": 3})

    def test_bad_rows_are_listed_with_their_lines_and_the_good_rows_are_kept(self) -> None:
        job = self._run(
            "H10G1,H10 Mixed,100\n"  # 2 good
            "H10G2,H10 Mixed,-1\n"  # 3 bad grade
            "H10G3,H10 Mixed,007\n"  # 4 good: leading zeros
            "H10G4,,50\n"  # 5 no subject
            "H10G5,H10 Mixed\n"  # 6 too short
            f"H10G6,H10 Mixed,{'9' * 5000}\n"  # 7 bad grade, however long
            "H10G7,H10 Mixed,4.5\n"  # 8 bad grade
            f"H10G8,{'x' * 101},1\n"  # 9 subject too long
            " H10G9 ,H10 Mixed, 0 \n"  # 10 good: trimmed
        )
        self.assertEqual(job.status, "done")
        self.assertEqual(job.processed, 9)
        self.assertEqual([error["row"] for error in job.errors], [3, 5, 6, 7, 8, 9])
        self.assertEqual(job.errors[0]["message"], "grade '-1' is not an integer from 0 to 100.")
        self.assertEqual(job.errors[1]["message"], "subject must be 1 to 100 characters.")
        self.assertEqual(job.errors[2]["message"], "The row has fewer columns than the header.")
        self.assertEqual(_grades(self.doctor, "H10 Mixed"), {"H10G1": 100, "H10G3": 7, "H10G9": 0})

    def test_running_the_same_file_again_leaves_the_same_data(self) -> None:
        text = "H10H1,H10 Again,70\nH10H2,H10 Again,60\nH10H1,H10 Again,75\nH10H3,H10 Again,x\n"
        first = self._run(text)
        rows = list(SubjectGrade.objects.filter(subject__name="H10 Again").values_list("id", "student_id", "grade"))
        second = self._run(text)
        self.assertEqual(first.errors, second.errors)
        self.assertEqual(
            list(SubjectGrade.objects.filter(subject__name="H10 Again").values_list("id", "student_id", "grade")), rows
        )
        self.assertEqual(User.objects.filter(student_number__startswith="H10H").count(), 2)
        self.assertEqual(Subject.objects.filter(name="H10 Again").count(), 1)

    def test_a_later_file_overwrites_an_earlier_grade(self) -> None:
        self._run("H10J1,H10 Later,70\n")
        self._run("H10J1,H10 Later,71\n")
        self.assertEqual(_grades(self.doctor, "H10 Later"), {"H10J1": 71})


class SubjectGradesImportTests(SubjectGradesRules, TestCase):
    """Inside the test's transaction the import writes on its one connection, reading and writing in turn."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = _doctor()


@override_settings(IMPORT_GRADE_WRITERS=2)
class SubjectGradesParallelWritersTests(SubjectGradesRules, TransactionTestCase):
    """Outside a transaction (as in the worker) two writer threads, each on its own connection, write the
    batches while the job's thread reads the file: the same rules hold, batch by batch."""

    def setUp(self) -> None:
        self.doctor = _doctor()

    def test_both_writers_write_and_progress_and_errors_come_in_file_order(self) -> None:
        threads: set[str] = set()
        write = services._GradeWriter.write

        def spy(writer: services._GradeWriter, good: list[tuple[int, str, str, int]]) -> list[dict[str, object]]:
            threads.add(threading.current_thread().name)
            return write(writer, good)

        subject_get_or_create(name="H11 Theirs").doctors.add(_doctor())
        lines = [f"H11S{n},H11 Mine,{n}" for n in range(40)]
        lines[7] = "H11S7,H11 Theirs,7"
        lines[30] = "H11 bad,H11 Mine,1"
        lines[33] = "H11S3,H11 Theirs,3"
        with patch("core.imports.services.GRADE_BATCH_SIZE", 4), patch.object(services._GradeWriter, "write", spy):
            job = self._run("\n".join(lines) + "\n")
        self.assertEqual(len({name.rsplit("_", 1)[0] for name in threads}), 2)
        self.assertEqual((job.status, job.processed, job.total), ("done", 40, 40))
        self.assertEqual([error["row"] for error in job.errors], [9, 32, 35])
        expected = {f"H11S{n}": n for n in range(40) if n not in (7, 30, 33)}
        self.assertEqual(_grades(self.doctor, "H11 Mine"), expected)

    def test_a_file_broken_midway_keeps_and_counts_the_batches_written_before(self) -> None:
        good = "".join(f"H11B{n},H11 Broken,{n}\n" for n in range(6))
        # blank lines (skipped) carry the bad byte past the head that is checked at submit
        data = f"student_id,subject,grade\n{good}{chr(10) * 70_000}H11B9,Géo,1\n".encode("latin-1")
        job = import_start(user=self.doctor, kind="subject_grades", file=io.BytesIO(data), file_name="f")
        with patch("core.imports.services.GRADE_BATCH_SIZE", 2):
            import_run(job_id=job.pk)
        job.refresh_from_db()
        self.assertEqual((job.status, job.processed), ("failed", 6))
        self.assertIn("not UTF-8", job.errors[-1]["message"])
        self.assertEqual(_grades(self.doctor, "H11 Broken"), {f"H11B{n}": n for n in range(6)})
