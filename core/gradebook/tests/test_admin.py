from __future__ import annotations

import tablib
from django.test import TestCase

from core.accounts.models import User
from core.accounts.services import subject_get_or_create
from core.accounts.tests.factories import make_admin, make_doctor, make_student
from core.gradebook.models import SubjectGrade
from core.gradebook.resources import SubjectGradeResource


def dataset(*rows: tuple) -> tablib.Dataset:
    return tablib.Dataset(*rows, headers=["student_number", "subject", "grade"])


class SubjectGradeResourceTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor(subjects=["Math"])
        cls.student = make_student(number="002299")
        SubjectGrade.objects.create(student=cls.student, subject=subject_get_or_create(name="Math"), grade=50)

    def test_export_is_keyed_by_student_number_and_subject_name(self) -> None:
        exported = SubjectGradeResource().export()
        self.assertEqual(exported.headers, ["student_number", "subject", "grade"])
        self.assertEqual(exported.dict, [{"student_number": "002299", "subject": "Math", "grade": "50"}])

    def test_import_replaces_a_grade_and_creates_unknown_students_and_subjects(self) -> None:
        result = SubjectGradeResource().import_data(
            dataset(("002299", "Math", 70), ("000777", "Art", 88), (4242.0, "Art", 1))
        )
        self.assertFalse(result.has_errors() or result.has_validation_errors())
        grades = set(SubjectGrade.objects.values_list("student__student_number", "subject__name", "grade"))
        self.assertEqual(grades, {("002299", "Math", 70), ("000777", "Art", 88), ("4242", "Art", 1)})
        self.assertEqual(User.objects.get(student_number="000777").role, "student")

    def test_an_xlsx_export_imports_back_keeping_leading_zeros(self) -> None:
        workbook = SubjectGradeResource().export().export("xlsx")
        SubjectGrade.objects.all().delete()
        loaded = tablib.Dataset().load(workbook, format="xlsx")
        result = SubjectGradeResource().import_data(loaded)
        self.assertFalse(result.has_errors() or result.has_validation_errors())
        self.assertEqual(
            list(SubjectGrade.objects.values_list("student__student_number", "subject__name", "grade")),
            [("002299", "Math", 50)],
        )

    def test_an_invalid_grade_is_a_row_error(self) -> None:
        result = SubjectGradeResource().import_data(dataset(("002299", "Math", 101), ("1", "Math", "x")))
        self.assertTrue(result.has_validation_errors() or result.has_errors())
        self.assertEqual(SubjectGrade.objects.get().grade, 50)

    def test_a_student_number_the_api_refuses_is_a_row_error(self) -> None:
        result = SubjectGradeResource().import_data(dataset(("a b", "Math", 70), ("x" * 65, "Math", 70)))
        self.assertTrue(result.has_validation_errors() or result.has_errors())
        self.assertEqual(list(SubjectGrade.objects.values_list("student__student_number", "grade")), [("002299", 50)])

    def test_a_doctor_imports_only_into_their_subjects(self) -> None:
        make_doctor(subjects=["Physics"])
        subject_get_or_create(name="Markr")  # shared, taught by nobody
        for name in ("Physics", "Markr"):
            result = SubjectGradeResource(user=self.doctor).import_data(dataset(("002299", name, 70)))
            self.assertTrue(result.has_errors() or result.has_validation_errors())
            self.assertFalse(SubjectGrade.objects.filter(subject__name=name).exists())
        self.assertFalse(self.doctor.subjects.filter(name="Markr").exists())

    def test_a_doctor_who_imports_into_a_new_subject_teaches_it(self) -> None:
        result = SubjectGradeResource(user=self.doctor).import_data(dataset(("002299", "Optics", 70)))
        self.assertFalse(result.has_errors() or result.has_validation_errors())
        self.assertTrue(self.doctor.subjects.filter(name="Optics").exists())


class SubjectGradeAdminTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor(subjects=["Math"])
        math, music = subject_get_or_create(name="Math"), subject_get_or_create(name="Music")
        SubjectGrade.objects.create(student=make_student(number="111"), subject=math, grade=60)
        SubjectGrade.objects.create(student=make_student(number="222"), subject=music, grade=70)

    def test_an_admin_lists_searches_and_filters_all_grades(self) -> None:
        self.client.force_login(make_admin())
        page = self.client.get("/admin/gradebook/subjectgrade/")
        self.assertEqual(page.status_code, 200)
        self.assertContains(page, "111")
        self.assertContains(page, "222")
        self.assertNotContains(self.client.get("/admin/gradebook/subjectgrade/?q=222"), ">111<")
        self.assertEqual(self.client.get("/admin/gradebook/subjectgrade/export/").status_code, 200)
        self.assertEqual(self.client.get("/admin/gradebook/subjectgrade/import/").status_code, 200)

    def test_a_doctor_sees_only_their_subjects_grades(self) -> None:
        self.client.force_login(self.doctor)
        page = self.client.get("/admin/gradebook/subjectgrade/")
        self.assertEqual(page.status_code, 200)
        self.assertContains(page, "111")
        self.assertNotContains(page, ">222<")
