"""The one rule of who writes into a subject (core.accounts.services.subjects_for_writer), and every road into it:
POST /grades/submit, POST /api/exams and PATCH, background imports, the admin's import-export."""

from __future__ import annotations

from datetime import timedelta

from django.test import TestCase
from django.utils import timezone

from core.accounts.models import Subject, User
from core.accounts.services import (
    SubjectNotYours,
    student_create,
    subject_for_writer,
    subject_get_or_create,
    subjects_for_writer,
)
from core.accounts.tests.factories import client_for, make_admin, make_doctor
from core.exams.models import Exam
from core.gradebook.services import MARKR_SUBJECT, markr_import
from core.imports.students import StudentRow, students_import

MARKR_DOC = """<mcq-test-results><mcq-test-result scanned-on="2017-12-04T12:12:10+11:00">
<first-name>A</first-name><last-name>B</last-name><student-number>{number}</student-number>
<test-id>{test}</test-id><summary-marks available="20" obtained="13" /></mcq-test-result></mcq-test-results>"""


def _exam_body(*, code: str, subject: str) -> dict[str, object]:
    now = timezone.now()
    return {
        "code": code,
        "title": "T",
        "subject": subject,
        "level": "Year 1",
        "kind": "online",
        "opens_at": (now + timedelta(days=1)).isoformat(),
        "closes_at": (now + timedelta(days=2)).isoformat(),
        "duration_minutes": 30,
    }


class SubjectForWriterTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other, cls.admin = make_doctor(subjects=["Own"]), make_doctor(subjects=["Theirs"]), make_admin()
        subject_get_or_create(name="Orphan")

    def test_a_doctor_writes_into_a_subject_they_teach(self) -> None:
        self.assertEqual(subject_for_writer(user=self.doctor, name=" Own ").name, "Own")

    def test_a_doctor_who_names_a_new_subject_creates_it_and_teaches_it(self) -> None:
        subject = subject_for_writer(user=self.doctor, name="Brand new")
        self.assertEqual(list(subject.doctors.all()), [self.doctor])

    def test_a_doctor_may_not_take_over_a_subject_that_nobody_teaches(self) -> None:
        with self.assertRaises(SubjectNotYours):
            subject_for_writer(user=self.doctor, name="Orphan")
        self.assertFalse(Subject.objects.get(name="Orphan").doctors.exists())

    def test_a_doctor_may_not_write_into_another_doctors_subject(self) -> None:
        with self.assertRaises(SubjectNotYours):
            subject_for_writer(user=self.doctor, name="Theirs")
        self.assertEqual(list(Subject.objects.get(name="Theirs").doctors.all()), [self.other])

    def test_an_admin_writes_anywhere_and_teaches_nothing(self) -> None:
        allowed = subjects_for_writer(user=self.admin, names=["Own", "Theirs", "Orphan", "Admin new"])
        self.assertEqual(sorted(allowed), ["Admin new", "Orphan", "Own", "Theirs"])
        self.assertFalse(Subject.objects.get(name="Admin new").doctors.exists())

    def test_a_student_writes_nowhere(self) -> None:
        student = student_create(student_number="SR1", full_name="S", level="Y")
        self.assertEqual(subjects_for_writer(user=student, names=["Own", "Fresh"]), {})
        self.assertFalse(Subject.objects.filter(name="Fresh").exists())


class EveryRoadTests(TestCase):
    """The same refusal through each way in."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.second = make_doctor(), make_doctor()

    def test_markrs_shared_subject_is_taught_by_nobody_after_two_doctors_import(self) -> None:
        for doctor, test in ((self.doctor, "SR-M1"), (self.second, "SR-M2")):
            markr_import(user=doctor, body=MARKR_DOC.format(number=f"{test}-1", test=test).encode())
        markr = Subject.objects.get(name=MARKR_SUBJECT)
        self.assertFalse(markr.doctors.exists())
        # ... and neither doctor takes it over by writing a course grade or an exam in it.
        response = client_for(self.doctor).post(
            "/grades/submit", {"student_id": "SR-M1-1", "subject": MARKR_SUBJECT, "grade": 90}, format="json"
        )
        self.assertEqual(response.status_code, 404)
        response = client_for(self.doctor).post(
            "/api/exams", _exam_body(code="SR-E1", subject=MARKR_SUBJECT), format="json"
        )
        self.assertEqual(response.status_code, 404)
        self.assertFalse(markr.doctors.exists())
        self.assertFalse(Exam.objects.filter(code="SR-E1").exists())

    def test_creating_an_exam_in_a_new_subject_makes_the_doctor_its_teacher(self) -> None:
        response = client_for(self.doctor).post("/api/exams", _exam_body(code="SR-E2", subject="SR New"), format="json")
        self.assertEqual(response.status_code, 201)
        self.assertEqual(list(Subject.objects.get(name="SR New").doctors.all()), [self.doctor])
        # The second doctor may not put an exam in it, nor move their exam into it.
        response = client_for(self.second).post("/api/exams", _exam_body(code="SR-E3", subject="SR New"), format="json")
        self.assertEqual(response.status_code, 404)
        own = client_for(self.second).post("/api/exams", _exam_body(code="SR-E4", subject="SR Second"), format="json")
        response = client_for(self.second).patch(f"/api/exams/{own.json()['id']}", {"subject": "SR New"}, format="json")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(Exam.objects.get(code="SR-E4").subject.name, "SR Second")


class StudentsImportByADoctorTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        client_for(cls.doctor).post("/api/exams", _exam_body(code="SR-L1", subject="SR Levels"), format="json")
        cls.mine = student_create(student_number="SR-S1", full_name="Mine", level="Year 1", email="sr1@example.test")
        cls.theirs = student_create(student_number="SR-S2", full_name="Theirs", level="Year 9")

    def _row(self, line: int, number: str, name: str, email: str = "", level: str = "") -> StudentRow:
        return StudentRow(line=line, student_number=number, full_name=name, email=email, level=level)

    def test_a_doctor_neither_moves_nor_re_emails_a_known_student_and_renames_only_their_own(self) -> None:
        errors = students_import(
            user=self.doctor,
            rows=[
                self._row(2, "SR-S1", "Mine", level="Year 9"),
                self._row(3, "SR-S1", "Mine", email="new@example.test"),
                self._row(4, "SR-S2", "Renamed"),
            ],
        )
        self.assertEqual([error["row"] for error in errors], [3, 4])  # row 2 lost to row 3 (the later row wins)
        self.assertIn("only an admin changes a student's email", str(errors[0]["message"]))
        self.assertIn("only an admin renames", str(errors[1]["message"]))
        errors = students_import(user=self.doctor, rows=[self._row(2, "SR-S1", "Mine", level="Year 9")])
        self.assertIn("only an admin moves", str(errors[0]["message"]))
        mine, theirs = User.objects.get(pk=self.mine.pk), User.objects.get(pk=self.theirs.pk)
        self.assertEqual((mine.level.name, mine.email, theirs.full_name), ("Year 1", "sr1@example.test", "Theirs"))

    def test_a_doctor_renames_a_student_of_their_level_and_creates_new_students(self) -> None:
        errors = students_import(
            user=self.doctor,
            rows=[self._row(2, "SR-S1", "Mine Renamed"), self._row(3, "SR-S3", "New", "sr3@example.test", "Year 4")],
        )
        self.assertEqual(errors, [])
        self.assertEqual(User.objects.get(pk=self.mine.pk).full_name, "Mine Renamed")
        self.assertEqual(User.objects.get(student_number="SR-S3").level.name, "Year 4")

    def test_an_admin_changes_anything(self) -> None:
        errors = students_import(
            user=make_admin(), rows=[self._row(2, "SR-S2", "Moved", email="moved@example.test", level="Year 1")]
        )
        self.assertEqual(errors, [])
        theirs = User.objects.get(pk=self.theirs.pk)
        self.assertEqual((theirs.full_name, theirs.email, theirs.level.name), ("Moved", "moved@example.test", "Year 1"))
