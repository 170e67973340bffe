"""The bulk student import service (used by background `students` import jobs)."""

from __future__ import annotations

from django.test import TestCase

from core.accounts.models import Role, User
from core.accounts.services import doctor_create, student_create
from core.imports.students import StudentRow, students_import


def _row(line: int, number: str, name: str = "A Student", email: str = "", level: str = "Year 1") -> StudentRow:
    return StudentRow(line=line, student_number=number, full_name=name, email=email, level=level)


class StudentsImportTests(TestCase):
    def test_it_creates_unknown_students_without_a_usable_password(self) -> None:
        errors = students_import(rows=[_row(2, "002299", "Zero Lead", "Zero.Lead@Example.test")])
        self.assertEqual(errors, [])
        student = User.objects.get(student_number="002299")
        self.assertEqual((student.role, student.full_name, student.level.name), (Role.STUDENT, "Zero Lead", "Year 1"))
        self.assertEqual(student.email, "zero.lead@example.test")
        self.assertFalse(student.has_usable_password())

    def test_it_updates_a_known_student_by_number_and_a_later_row_wins(self) -> None:
        student_create(student_number="IMP1", full_name="Old", level="Year 1", email="imp1@example.test")
        errors = students_import(
            rows=[_row(2, "IMP1", "Middle", level="Year 2"), _row(3, "IMP1", "New", level="Year 3")]
        )
        self.assertEqual(errors, [])
        student = User.objects.get(student_number="IMP1")
        self.assertEqual((student.full_name, student.level.name, student.email), ("New", "Year 3", "imp1@example.test"))

    def test_each_bad_row_fails_alone_with_its_line(self) -> None:
        doctor_create(email="taken@example.test", full_name="Doc", password="pw-123456789")
        errors = students_import(
            rows=[
                _row(2, "OK1"),
                _row(3, "bad number"),
                _row(4, "OK2", name=""),
                _row(5, "OK3", email="not-an-email"),
                _row(6, "OK4", email="TAKEN@example.test"),
                _row(7, "OK5", email="dup@example.test"),
                _row(8, "OK6", email="dup@example.test"),
            ]
        )
        self.assertEqual([error["row"] for error in errors], [3, 4, 5, 6, 8])
        self.assertEqual(
            set(User.objects.filter(student_number__startswith="OK").values_list("student_number", flat=True)),
            {"OK1", "OK5"},
        )

    def test_importing_the_same_rows_twice_leaves_the_same_students(self) -> None:
        rows = [_row(2, "TW1", "Twice", "tw1@example.test"), _row(3, "TW2", "Twice Too")]
        students_import(rows=rows)
        first = list(
            User.objects.filter(student_number__startswith="TW").values_list(
                "student_number", "full_name", "email", "level__name"
            )
        )
        self.assertEqual(students_import(rows=rows), [])
        again = list(
            User.objects.filter(student_number__startswith="TW").values_list(
                "student_number", "full_name", "email", "level__name"
            )
        )
        self.assertEqual(first, again)
