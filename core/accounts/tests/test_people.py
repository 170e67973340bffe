from django.core.exceptions import ValidationError
from django.test import TestCase
from rest_framework.test import APIClient

from core.accounts.models import ApiKey, Role, User
from core.accounts.tests.factories import api_key_for, client_for, make_admin, make_doctor, make_student


class StudentsApiTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.admin = make_admin()

    def create(self, client: APIClient, **body: object):
        payload = {"full_name": "Ada Lovelace", "student_number": "002299", "level": "Year 1"} | body
        return client.post("/api/students", payload, format="json")

    def test_a_doctor_creates_a_student_keeping_leading_zeros_and_creating_the_level(self) -> None:
        response = self.create(client_for(self.doctor), email="ada@example.test")
        self.assertEqual(response.status_code, 201)
        self.assertEqual(response.json()["student_number"], "002299")
        self.assertEqual(response.json()["level"], "Year 1")
        student = User.objects.get(student_number="002299")
        self.assertEqual(student.role, Role.STUDENT)
        self.assertFalse(student.has_usable_password())

    def test_a_taken_student_number_or_email_is_a_409(self) -> None:
        client = client_for(self.doctor)
        self.create(client, email="ada@example.test")
        self.assertEqual(self.create(client).json()["error"], "conflict")
        self.assertEqual(self.create(client, student_number="1", email="ADA@example.test").status_code, 409)

    def test_bad_fields_are_a_400_naming_the_field(self) -> None:
        response = self.create(client_for(self.doctor), student_number="", email="not-an-email")
        self.assertEqual(response.status_code, 400)
        self.assertEqual(set(response.json()["fields"]), {"student_number", "email"})

    def test_a_student_number_outside_letters_digits_dash_and_underscore_is_a_400(self) -> None:
        for number in ("a b", "a/b", "é1", "x" * 65):
            response = self.create(client_for(self.doctor), student_number=number)
            self.assertEqual(response.status_code, 400, number)
            self.assertEqual(list(response.json()["fields"]), ["student_number"])
        self.assertEqual(self.create(client_for(self.doctor), student_number="A-z_09").status_code, 201)

    def test_the_model_field_refuses_the_same_numbers(self) -> None:
        student = make_student()
        for number in ("a b", "a/b", "x" * 65):
            student.student_number = number
            with self.assertRaises(ValidationError, msg=number) as refused:
                student.full_clean()
            self.assertIn("student_number", refused.exception.message_dict)

    def test_a_student_may_not_create_or_list_students(self) -> None:
        student = make_student()
        self.assertEqual(self.create(client_for(student)).status_code, 403)
        self.assertEqual(client_for(student).get("/api/students").status_code, 403)

    def test_the_list_is_paginated_and_filtered_by_level_and_search(self) -> None:
        make_student(level="Year 1", number="100001")
        make_student(level="Year 2", number="200002")
        response = client_for(self.admin).get("/api/students?level=Year 2")
        self.assertEqual(set(response.json()), {"count", "next", "previous", "results"})
        self.assertEqual([s["student_number"] for s in response.json()["results"]], ["200002"])
        found = client_for(self.admin).get("/api/students?search=10000").json()["results"]
        self.assertEqual([s["student_number"] for s in found], ["100001"])


class DoctorsApiTests(TestCase):
    def test_an_admin_creates_a_doctor_with_subjects_who_can_use_the_admin(self) -> None:
        response = client_for(make_admin()).post(
            "/api/doctors",
            {"email": "grace@example.test", "full_name": "Grace", "password": "s3cret-pass", "subjects": ["Math"]},
            format="json",
        )
        self.assertEqual(response.status_code, 201)
        self.assertEqual(response.json()["subjects"], ["Math"])
        doctor = User.objects.get(email="grace@example.test")
        self.assertEqual((doctor.role, doctor.is_staff), (Role.DOCTOR, True))

    def test_a_taken_email_is_a_409(self) -> None:
        admin = client_for(make_admin())
        body = {"email": "grace@example.test", "full_name": "Grace", "password": "s3cret-pass"}
        admin.post("/api/doctors", body, format="json")
        self.assertEqual(admin.post("/api/doctors", body, format="json").status_code, 409)

    def test_only_an_admin_creates_doctors(self) -> None:
        body = {"email": "x@example.test", "full_name": "X", "password": "s3cret-pass"}
        self.assertEqual(client_for(make_doctor()).post("/api/doctors", body, format="json").status_code, 403)
        self.assertEqual(APIClient().post("/api/doctors", body, format="json").status_code, 401)


class ApiKeysTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()

    def test_a_key_is_shown_once_and_stored_hashed(self) -> None:
        response = client_for(self.doctor).post("/api/api-keys", {"name": "scanner"}, format="json")
        self.assertEqual(response.status_code, 201)
        key = response.json()["key"]
        self.assertEqual(set(response.json()), {"id", "name", "key", "created_at"})
        self.assertFalse(ApiKey.objects.filter(key_hash=key).exists())
        listed = client_for(self.doctor).get("/api/api-keys").json()["results"]
        self.assertEqual(len(listed), 1)
        self.assertNotIn("key", listed[0])

    def test_a_key_acts_for_its_doctor_until_revoked(self) -> None:
        key = api_key_for(self.doctor)
        machine = client_for(api_key=key)
        self.assertEqual(machine.get("/api/students").status_code, 200)
        key_id = ApiKey.objects.get(user=self.doctor).id
        self.assertEqual(client_for(self.doctor).delete(f"/api/api-keys/{key_id}").status_code, 204)
        response = machine.get("/api/students")
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json()["error"], "authentication_failed")

    def test_a_doctor_cannot_see_or_revoke_another_doctors_key(self) -> None:
        api_key_for(self.doctor)
        other = make_doctor()
        key_id = ApiKey.objects.get(user=self.doctor).id
        self.assertEqual(client_for(other).get("/api/api-keys").json()["count"], 0)
        self.assertEqual(client_for(other).delete(f"/api/api-keys/{key_id}").status_code, 404)

    def test_a_key_cannot_manage_keys_or_act_as_a_person(self) -> None:
        machine = client_for(api_key=api_key_for(self.doctor))
        self.assertEqual(machine.post("/api/api-keys", {"name": "more"}, format="json").status_code, 403)
        self.assertEqual(machine.get("/api/me").status_code, 403)

    def test_an_unknown_key_is_a_401(self) -> None:
        self.assertEqual(client_for(api_key="ek_nope").get("/api/students").status_code, 401)
