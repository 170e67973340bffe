from __future__ import annotations

from django.test import TestCase
from rest_framework.test import APIClient

from core.accounts.models import Role, Subject, User
from core.accounts.services import subject_get_or_create
from core.accounts.tests.factories import api_key_for, client_for, make_admin, make_doctor, make_student
from core.gradebook.models import SubjectGrade


class GradeSubmitTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor(subjects=["Math"])
        cls.admin = make_admin()

    def submit(self, client: APIClient | None = None, **body: object):
        payload = {"student_id": "002299", "subject": "Math", "grade": 90} | body
        return (client or client_for(self.doctor)).post("/grades/submit", payload, format="json")

    def test_a_grade_is_stored_and_echoed(self) -> None:
        response = self.submit()
        self.assertEqual(response.status_code, 201)
        self.assertEqual(response.json(), {"student_id": "002299", "subject": "Math", "grade": 90})
        self.assertEqual(SubjectGrade.objects.get().grade, 90)

    def test_an_unknown_student_is_created_without_a_password(self) -> None:
        self.submit(student_id="000123")
        student = User.objects.get(student_number="000123")
        self.assertEqual(student.role, Role.STUDENT)
        self.assertFalse(student.has_usable_password())

    def test_an_unknown_subject_is_created_and_the_doctor_teaches_it(self) -> None:
        self.assertEqual(self.submit(subject="Physics").status_code, 201)
        self.assertTrue(Subject.objects.get(name="Physics").doctors.filter(pk=self.doctor.pk).exists())
        self.assertEqual(client_for(self.doctor).get("/grades/subject/Physics").status_code, 200)

    def test_the_last_write_wins(self) -> None:
        self.submit(grade=40)
        self.submit(grade=75)
        self.submit(grade=60)
        self.assertEqual(list(SubjectGrade.objects.values_list("grade", flat=True)), [60])

    def test_the_bounds_0_and_100_are_taken(self) -> None:
        self.assertEqual(self.submit(grade=0).status_code, 201)
        self.assertEqual(self.submit(grade=100).status_code, 201)

    def test_bad_grades_and_missing_fields_are_a_400(self) -> None:
        for body in ({"grade": 101}, {"grade": -1}, {"grade": 90.5}, {"grade": "90"}, {"grade": True},
                     {"grade": None}, {"student_id": ""}, {"subject": ""}, {"student_id": "a b"}):  # fmt: skip
            response = self.submit(**body)
            self.assertEqual(response.status_code, 400, body)
            self.assertEqual(response.json()["error"], "validation_error")
            self.assertEqual(list(response.json()["fields"]), list(body))
        for missing in ("student_id", "subject", "grade"):
            body = {"student_id": "1", "subject": "Math", "grade": 1}
            del body[missing]
            response = client_for(self.doctor).post("/grades/submit", body, format="json")
            self.assertEqual(response.status_code, 400)
            self.assertIn(missing, response.json()["fields"])
        self.assertFalse(SubjectGrade.objects.exists())

    def test_a_doctor_may_not_write_into_another_doctors_subject(self) -> None:
        make_doctor(subjects=["Chemistry"])
        self.assertEqual(self.submit(subject="Chemistry").status_code, 404)
        self.assertEqual(self.submit(client_for(self.admin), subject="Chemistry").status_code, 201)

    def test_a_doctor_does_not_take_over_a_known_subject_that_nobody_teaches(self) -> None:
        subject_get_or_create(name="Geology")
        response = self.submit(subject="Geology")
        self.assertEqual(response.status_code, 404)
        self.assertIn("an admin assigns", response.json()["detail"])
        self.assertFalse(Subject.objects.get(name="Geology").doctors.exists())
        self.assertEqual(client_for(self.doctor).get("/grades/subject/Geology").status_code, 404)

    def test_a_doctor_who_names_a_new_subject_teaches_it(self) -> None:
        self.assertEqual(self.submit(subject="Volcanology").status_code, 201)
        self.assertEqual(client_for(self.doctor).get("/grades/subject/Volcanology").status_code, 200)

    def test_an_api_key_submits_for_its_doctor(self) -> None:
        self.assertEqual(self.submit(client_for(api_key=api_key_for(self.doctor))).status_code, 201)

    def test_anonymous_is_401_and_a_student_is_403(self) -> None:
        self.assertEqual(self.submit(APIClient()).status_code, 401)
        self.assertEqual(self.submit(client_for(make_student())).status_code, 403)


class GradeReadTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor(subjects=["Math", "Art"])
        cls.admin = make_admin()
        cls.student = make_student(number="002299")
        math, art = subject_get_or_create(name="Math"), subject_get_or_create(name="Art")
        cls.other = make_doctor(subjects=["Music"])
        music = subject_get_or_create(name="Music")
        grades = [(cls.student, math, 90), (cls.student, art, 75), (cls.student, music, 30)]
        for n, grade in enumerate((60, 70, 85)):
            grades.append((make_student(number=f"9{n}"), math, grade))
        SubjectGrade.objects.bulk_create(SubjectGrade(student=s, subject=subj, grade=g) for s, subj, g in grades)

    def test_a_subject_summary_has_the_count_the_mean_and_the_true_median(self) -> None:
        response = client_for(self.doctor).get("/grades/subject/Math")
        self.assertEqual(response.status_code, 200)
        # grades 60, 70, 85, 90: an even count, so the median is the mean of 70 and 85
        self.assertEqual(
            response.json(), {"subject": "Math", "student_count": 4, "average_grade": 76.25, "median_grade": 77.5}
        )

    def test_an_odd_count_has_the_middle_grade_as_median(self) -> None:
        body = client_for(self.admin).get("/grades/subject/Art").json()
        self.assertEqual((body["student_count"], body["median_grade"], body["average_grade"]), (1, 75.0, 75.0))

    def test_a_subject_without_grades_has_nulls(self) -> None:
        subject_get_or_create(name="Empty").doctors.add(self.doctor)
        body = client_for(self.doctor).get("/grades/subject/Empty").json()
        self.assertEqual(body, {"subject": "Empty", "student_count": 0, "average_grade": None, "median_grade": None})

    def test_an_unknown_or_another_doctors_subject_is_a_404(self) -> None:
        for name in ("Nope", "Music"):
            response = client_for(self.doctor).get(f"/grades/subject/{name}")
            self.assertEqual(response.status_code, 404)
            self.assertEqual(response.json()["error"], "not_found")
        self.assertEqual(client_for(self.admin).get("/grades/subject/Music").status_code, 200)

    def test_a_students_grades_and_average(self) -> None:
        body = client_for(self.admin).get("/grades/student/002299").json()
        self.assertEqual(
            body, {"student_id": "002299", "grades": {"Art": 75, "Math": 90, "Music": 30}, "average_grade": 65.0}
        )

    def test_a_doctor_sees_the_grades_of_their_own_subjects(self) -> None:
        body = client_for(api_key=api_key_for(self.doctor)).get("/grades/student/002299").json()
        self.assertEqual(body, {"student_id": "002299", "grades": {"Art": 75, "Math": 90}, "average_grade": 82.5})

    def test_a_student_reads_their_own_grades_but_not_anothers(self) -> None:
        client = client_for(self.student)
        self.assertEqual(client.get("/grades/student/002299").json()["average_grade"], 65.0)
        response = client.get("/grades/student/90")
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.json()["error"], "forbidden")
        self.assertEqual(client.get("/grades/student/unknown").status_code, 403)
        self.assertEqual(client.get("/grades/subject/Math").status_code, 403)

    def test_an_unknown_student_is_a_404(self) -> None:
        response = client_for(self.doctor).get("/grades/student/404404")
        self.assertEqual((response.status_code, response.json()["error"]), (404, "not_found"))

    def test_a_student_without_grades_has_an_empty_map_and_a_null_average(self) -> None:
        make_student(number="555")
        body = client_for(self.admin).get("/grades/student/555").json()
        self.assertEqual(body, {"student_id": "555", "grades": {}, "average_grade": None})

    def test_anonymous_is_a_401(self) -> None:
        self.assertEqual(APIClient().get("/grades/student/002299").status_code, 401)
        self.assertEqual(APIClient().get("/grades/subject/Math").status_code, 401)
