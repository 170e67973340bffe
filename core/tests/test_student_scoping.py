"""Which students a doctor can list through the API: those of the levels their exams are offered to
(docs/product.md rule 7, docs/admin.md "Who sees what"), the same rule as the admin's student pages."""

from __future__ import annotations

from django.test import TestCase

from core.accounts.services import student_create
from core.accounts.tests.factories import api_key_for, client_for, make_admin, make_doctor
from core.exams.tests.factories import make_exam


class StudentsApiScopeTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other, cls.admin = make_doctor(), make_doctor(), make_admin()
        make_exam(owner=cls.doctor, level="Scope level A", subject="Scope subject A")
        make_exam(owner=cls.other, level="Scope level B", subject="Scope subject B")
        student_create(student_number="SS-A1", full_name="Alma Mine", level="Scope level A", email="ssa1@example.test")
        student_create(student_number="SS-B1", full_name="Bert Other", level="Scope level B", email="ssb1@example.test")
        student_create(student_number="SS-C1", full_name="Cleo Nobody", level="Scope level C")

    def numbers(self, client: object, query: str = "") -> list[str]:
        response = client.get(f"/api/students{query}")  # type: ignore[attr-defined]
        self.assertEqual(response.status_code, 200)
        return [s["student_number"] for s in response.json()["results"]]

    def test_a_doctor_lists_only_the_students_of_the_levels_of_their_exams(self) -> None:
        self.assertEqual(self.numbers(client_for(self.doctor), "?search=SS-"), ["SS-A1"])
        self.assertEqual(self.numbers(client_for(self.other), "?search=SS-"), ["SS-B1"])

    def test_a_doctor_naming_another_level_or_searching_another_student_gets_an_empty_page(self) -> None:
        doctor = client_for(self.doctor)
        self.assertEqual(self.numbers(doctor, "?level=Scope level B"), [])
        self.assertEqual(self.numbers(doctor, "?search=Bert"), [])
        self.assertEqual(self.numbers(doctor, "?search=ssb1@example.test"), [])
        self.assertEqual(self.numbers(doctor, "?level=Scope level A"), ["SS-A1"])

    def test_a_doctors_api_key_sees_what_the_doctor_sees(self) -> None:
        self.assertEqual(self.numbers(client_for(api_key=api_key_for(self.doctor)), "?search=SS-"), ["SS-A1"])

    def test_a_doctor_without_exams_lists_no_students(self) -> None:
        self.assertEqual(self.numbers(client_for(make_doctor())), [])

    def test_an_admin_lists_every_student(self) -> None:
        self.assertEqual(self.numbers(client_for(self.admin), "?search=SS-"), ["SS-A1", "SS-B1", "SS-C1"])
