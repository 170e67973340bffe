"""students_ensure: the one way students come into being, for the grades API, Markr, imports and the admin."""

from __future__ import annotations

from django.test import TestCase

from core.accounts.models import Level, Role, User
from core.accounts.services import StudentFields, levels_ensure, student_ensure, students_ensure
from core.accounts.tests.factories import make_doctor, make_student
from core.common.errors import Invalid


class StudentsEnsureTests(TestCase):
    def test_it_creates_the_unknown_numbers_as_students_who_cannot_log_in(self) -> None:
        ids = students_ensure(rows=[StudentFields("SE-1", "One"), StudentFields("SE-2", "Two")])
        students = {user.student_number: user for user in User.objects.filter(pk__in=ids.values())}
        self.assertEqual({number: user.pk for number, user in students.items()}, ids)
        for number, name in (("SE-1", "One"), ("SE-2", "Two")):
            user = students[number]
            self.assertEqual((user.role, user.full_name, user.email, user.level_id), (Role.STUDENT, name, None, None))
            self.assertFalse(user.has_usable_password())
            self.assertEqual(len(user.password), 41)  # Django's "!" and 40 random characters
        self.assertNotEqual(students["SE-1"].password, students["SE-2"].password)

    def test_it_answers_known_numbers_and_leaves_their_people_as_they_are(self) -> None:
        student = make_student(number="SE-3")
        doctor = make_doctor()
        User.objects.filter(pk=doctor.pk).update(student_number="SE-4")
        ids = students_ensure(rows=[StudentFields("SE-3", "Renamed?"), StudentFields("SE-4", "")])
        self.assertEqual(ids, {"SE-3": student.pk, "SE-4": doctor.pk})
        student.refresh_from_db()
        self.assertNotEqual(student.full_name, "Renamed?")
        self.assertTrue(student.has_usable_password())

    def test_a_later_row_for_the_same_number_wins(self) -> None:
        ids = students_ensure(rows=[StudentFields("SE-5", "First"), StudentFields("SE-5", "Second")])
        self.assertEqual(User.objects.get(pk=ids["SE-5"]).full_name, "Second")

    def test_it_refuses_a_number_that_breaks_the_student_number_rule(self) -> None:
        with self.assertRaises(Invalid):
            students_ensure(rows=[StudentFields("SE-6", "Fine"), StudentFields("no spaces", "Bad")])
        self.assertFalse(User.objects.filter(student_number="SE-6").exists())

    def test_update_renames_known_students_and_keeps_what_a_row_leaves_empty(self) -> None:
        student = make_student(number="SE-7", level="Year 1")
        doctor = make_doctor()
        User.objects.filter(pk=doctor.pk).update(student_number="SE-8")
        level = levels_ensure(names=["Year 2"])["Year 2"]
        ids = students_ensure(
            rows=[
                StudentFields("SE-7", "New name"),
                StudentFields("SE-8", "Not a student"),
                StudentFields("SE-9", "New", "New@Example.test", level),
            ],
            update=True,
        )
        self.assertEqual(set(ids), {"SE-7", "SE-9"})
        student.refresh_from_db()
        self.assertEqual((student.full_name, student.level.name), ("New name", "Year 1"))
        self.assertTrue(student.email)
        doctor.refresh_from_db()
        self.assertEqual(doctor.role, Role.DOCTOR)
        self.assertNotEqual(doctor.full_name, "Not a student")
        new = User.objects.get(pk=ids["SE-9"])
        self.assertEqual((new.email, new.level_id, new.has_usable_password()), ("new@example.test", level, False))

    def test_student_ensure_gives_the_user(self) -> None:
        user = student_ensure(student_number="SE-10", full_name="Ten")
        self.assertEqual((user.student_number, user.full_name), ("SE-10", "Ten"))
        self.assertEqual(student_ensure(student_number="SE-10").pk, user.pk)

    def test_levels_ensure_creates_only_the_unknown_levels(self) -> None:
        known = Level.objects.create(name="SE level")
        ids = levels_ensure(names={"SE level", "SE other"})
        self.assertEqual(ids["SE level"], known.pk)
        self.assertEqual(Level.objects.get(name="SE other").pk, ids["SE other"])
