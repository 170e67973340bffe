"""The admin's people pages, through Django's test client: who sees whom, who changes what, and accounts."""

from __future__ import annotations

from django.test import TestCase

from core.accounts.models import Level, Role, Subject, User
from core.accounts.services import student_create, subject_get_or_create
from core.accounts.tests.factories import PASSWORD, make_admin, make_doctor
from core.common.tests.forms import form_data
from core.exams.tests.factories import make_exam
from core.jobs.models import Job


class DoctorScopeTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other = make_doctor(subjects=["Own subject"]), make_doctor(subjects=["Their subject"])
        subject_get_or_create(name="Nobody's subject")
        make_exam(owner=cls.doctor, level="Own level", subject="Own subject")
        make_exam(owner=cls.other, level="Their level", subject="Their subject")
        cls.mine = student_create(student_number="SC-1", full_name="Mine", level="Own level", email="sc1@example.test")
        cls.theirs = student_create(student_number="SC-2", full_name="Theirs", level="Their level")
        Job.objects.create(kind="grade_exam", created_by=cls.doctor, params={})
        Job.objects.create(kind="grade_exam", created_by=cls.other, params={"marker": "theirs"})

    def setUp(self) -> None:
        self.client.force_login(self.doctor)

    def test_a_doctor_sees_only_the_subjects_they_teach(self) -> None:
        page = self.client.get("/admin/accounts/subject/")
        self.assertContains(page, "Own subject")
        self.assertNotContains(page, "Their subject")
        self.assertNotContains(page, "Nobody&#x27;s subject")

    def test_a_doctor_sees_only_the_levels_of_their_exams(self) -> None:
        page = self.client.get("/admin/accounts/level/")
        self.assertContains(page, "Own level")
        self.assertNotContains(page, "Their level")

    def test_a_doctor_sees_only_the_students_of_their_levels(self) -> None:
        page = self.client.get("/admin/accounts/student/")
        self.assertContains(page, "SC-1")
        self.assertNotContains(page, "SC-2")
        self.assertNotContains(page, "Their level")  # nor in the level filter
        self.assertEqual(self.client.get(f"/admin/accounts/student/{self.theirs.pk}/change/").status_code, 302)

    def test_the_list_filters_name_no_exam_or_subject_of_another_doctor(self) -> None:
        theirs = make_exam(owner=self.other, kind="handin", level="Their level", subject="Their subject")
        handins = self.client.get("/admin/handins/handin/")
        self.assertEqual(handins.status_code, 200)
        self.assertNotContains(handins, theirs.code)
        grades = self.client.get("/admin/gradebook/subjectgrade/")
        self.assertEqual(grades.status_code, 200)
        self.assertNotContains(grades, "Their subject")

    def test_a_doctor_sees_only_their_own_jobs(self) -> None:
        page = self.client.get("/admin/jobs/job/")
        self.assertEqual(page.status_code, 200)
        self.assertEqual(len(page.context["cl"].result_list), 1)

    def test_a_doctor_renames_their_student_but_cannot_change_the_email_level_or_active_flag(self) -> None:
        page = self.client.get(f"/admin/accounts/student/{self.mine.pk}/change/")
        data = form_data(page.content.decode(), "student_form")
        self.assertNotIn("email", data)
        data.update(
            full_name="Mine renamed", email="moved@example.test", level=str(Level.objects.get(name="Their level").pk)
        )
        data["is_active"] = ""
        response = self.client.post(f"/admin/accounts/student/{self.mine.pk}/change/", data)
        self.assertEqual(response.status_code, 302, response.content[:2000])
        student = User.objects.get(pk=self.mine.pk)
        self.assertEqual(
            (student.full_name, student.email, student.level.name, student.is_active),
            ("Mine renamed", "sc1@example.test", "Own level", True),
        )

    def test_a_doctor_cannot_assign_subjects_or_reach_people_pages(self) -> None:
        subject = Subject.objects.get(name="Own subject")
        page = self.client.get(f"/admin/accounts/subject/{subject.pk}/change/")
        self.assertNotContains(page, 'name="doctors"')
        response = self.client.post(f"/admin/accounts/subject/{subject.pk}/change/", {"name": "Renamed"})
        self.assertEqual(response.status_code, 403)
        for url in ("/admin/accounts/doctor/", "/admin/accounts/user/"):
            self.assertEqual(self.client.get(url).status_code, 403, url)

    def test_a_doctor_who_adds_a_subject_teaches_it(self) -> None:
        self.client.post("/admin/accounts/subject/add/", {"name": "Doctor-made"})
        self.assertEqual(list(Subject.objects.get(name="Doctor-made").doctors.all()), [self.doctor])

    def test_staff_set_a_students_password_and_the_student_can_sign_in(self) -> None:
        response = self.client.post(
            f"/admin/accounts/student/{self.mine.pk}/password/",
            {"password1": "a-new-student-password", "password2": "a-new-student-password"},
        )
        self.assertEqual(response.status_code, 302)
        self.assertTrue(User.objects.get(pk=self.mine.pk).check_password("a-new-student-password"))
        self.assertEqual(self.client.get(f"/admin/accounts/student/{self.theirs.pk}/password/").status_code, 404)


class AccountsAdminTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.admin = make_admin()
        subject_get_or_create(name="Chemistry")

    def setUp(self) -> None:
        self.client.force_login(self.admin)

    def test_an_admin_adds_a_doctor_with_a_password_and_subjects(self) -> None:
        chemistry = Subject.objects.get(name="Chemistry")
        response = self.client.post(
            "/admin/accounts/doctor/add/",
            {
                "email": "new.doctor@example.test",
                "full_name": "New Doctor",
                "is_active": "on",
                "subjects": [str(chemistry.pk)],
                "password1": "a-long-doctor-password",
                "password2": "a-long-doctor-password",
            },
        )
        self.assertEqual(response.status_code, 302, response.content[:2000])
        doctor = User.objects.get(email="new.doctor@example.test")
        self.assertEqual((doctor.role, doctor.is_staff), (Role.DOCTOR, True))
        self.assertTrue(doctor.check_password("a-long-doctor-password"))
        self.assertEqual(list(doctor.subjects.values_list("name", flat=True)), ["Chemistry"])

    def test_an_admin_assigns_an_existing_subject_to_a_doctor(self) -> None:
        doctor = make_doctor()
        page = self.client.get(f"/admin/accounts/doctor/{doctor.pk}/change/")
        data = form_data(page.content.decode(), "doctor_form")
        data["subjects"] = [str(Subject.objects.get(name="Chemistry").pk)]
        self.assertEqual(self.client.post(f"/admin/accounts/doctor/{doctor.pk}/change/", data).status_code, 302)
        self.assertEqual(list(doctor.subjects.values_list("name", flat=True)), ["Chemistry"])

    def test_role_and_staff_flags_cannot_contradict_each_other(self) -> None:
        student = student_create(student_number="SC-9", full_name="S", level="Y")
        page = self.client.get(f"/admin/accounts/user/{student.pk}/change/")
        data = form_data(page.content.decode(), "user_form")
        data["is_staff"] = "on"
        response = self.client.post(f"/admin/accounts/user/{student.pk}/change/", data)
        self.assertContains(response, "Doctors and admins are staff; students are not.")
        data.pop("is_staff")
        data["role"], data["is_superuser"] = "doctor", "on"
        response = self.client.post(f"/admin/accounts/user/{student.pk}/change/", data)
        self.assertContains(response, "Only an admin may be a superuser.")
        self.assertFalse(User.objects.get(pk=student.pk).is_staff)

    def test_a_student_at_the_admin_login_is_sent_to_the_student_site(self) -> None:
        student_create(student_number="SC-8", full_name="S", level="Y", email="sc8@example.test", password=PASSWORD)
        self.client.logout()
        response = self.client.post("/admin/login/", {"username": "sc8@example.test", "password": PASSWORD})
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Students take their exams on the student site at /app/")
