from django.core.cache import cache
from django.test import TestCase, override_settings
from rest_framework.test import APIClient

from core.accounts.tests.factories import PASSWORD, client_for, make_doctor, make_student


class LoginTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.student = make_student()

    def setUp(self) -> None:
        cache.clear()
        self.client = APIClient()

    def login(self, email: str, password: str = PASSWORD, **extra: str):
        return self.client.post("/api/auth/login", {"email": email, "password": password}, format="json", **extra)

    def test_it_returns_tokens_and_the_user(self) -> None:
        response = self.login(self.student.email)
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertEqual(set(body), {"access", "refresh", "user"})
        self.assertEqual(
            body["user"],
            {
                "id": self.student.id,
                "email": self.student.email,
                "role": "student",
                "full_name": self.student.full_name,
                "student_number": self.student.student_number,
            },
        )

    def test_it_accepts_the_email_in_any_case(self) -> None:
        self.assertEqual(self.login(self.student.email.upper()).status_code, 200)

    def test_it_gives_one_message_for_a_wrong_email_or_a_wrong_password(self) -> None:
        wrong_password = self.login(self.student.email, "nope-nope-nope")
        wrong_email = self.login("nobody@example.test")
        self.assertEqual(wrong_password.status_code, 401)
        self.assertEqual(wrong_email.status_code, 401)
        self.assertEqual(wrong_password.json(), wrong_email.json())
        self.assertEqual(wrong_password.json()["error"], "no_active_account")

    def test_it_refuses_a_student_without_a_usable_password(self) -> None:
        imported = make_student(password=None)
        self.assertEqual(self.login(imported.email, "").status_code, 400)
        self.assertEqual(self.login(imported.email, "anything-at-all").status_code, 401)

    def test_a_malformed_body_is_a_400_in_the_error_shape(self) -> None:
        response = self.client.post("/api/auth/login", "{not json", content_type="application/json")
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["error"], "malformed_body")

    @override_settings(NUM_PROXIES=1)
    def test_login_is_throttled_per_email_across_client_addresses(self) -> None:
        statuses = [
            self.login(self.student.email, "wrong-password", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code
            for i in range(12)
        ]
        self.assertEqual(statuses[:10], [401] * 10)
        self.assertEqual(statuses[10:], [429, 429])
        self.assertEqual(self.login(self.student.email).json()["error"], "throttled")

    @override_settings(NUM_PROXIES=1)
    def test_a_forged_forwarded_for_does_not_get_around_the_client_throttle(self) -> None:
        # Nginx appends the real address last; a client can only forge entries to its left.
        statuses = [
            self.login(f"user{i}@example.test", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}, 198.51.100.7").status_code
            for i in range(32)
        ]
        self.assertEqual(statuses.count(429), 2)


class RefreshAndLogoutTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.student = make_student()

    def setUp(self) -> None:
        cache.clear()
        self.client = APIClient()
        self.tokens = self.client.post(
            "/api/auth/login", {"email": self.student.email, "password": PASSWORD}, format="json"
        ).json()

    def refresh(self, token: str):
        return self.client.post("/api/auth/refresh", {"refresh": token}, format="json")

    def test_refresh_rotates_and_the_old_token_is_refused(self) -> None:
        first = self.refresh(self.tokens["refresh"])
        self.assertEqual(first.status_code, 200)
        self.assertEqual(set(first.json()), {"access", "refresh"})
        again = self.refresh(self.tokens["refresh"])
        self.assertEqual(again.status_code, 401)
        self.assertEqual(again.json()["error"], "token_not_valid")
        self.assertEqual(self.refresh(first.json()["refresh"]).status_code, 200)

    def test_verify_accepts_a_good_token_and_refuses_a_bad_one(self) -> None:
        ok = self.client.post("/api/auth/verify", {"token": self.tokens["access"]}, format="json")
        self.assertEqual((ok.status_code, ok.json()), (200, {}))
        bad = self.client.post("/api/auth/verify", {"token": self.tokens["access"][:-3] + "abc"}, format="json")
        self.assertEqual(bad.status_code, 401)

    def test_logout_makes_the_refresh_token_useless(self) -> None:
        client = client_for(self.student)
        self.assertEqual(
            client.post("/api/auth/logout", {"refresh": self.tokens["refresh"]}, format="json").status_code, 204
        )
        self.assertEqual(self.refresh(self.tokens["refresh"]).status_code, 401)

    def test_a_refresh_token_is_not_an_access_token(self) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.tokens['refresh']}")
        self.assertEqual(client.get("/api/me").status_code, 401)

    def test_me_returns_the_same_user_object_as_login(self) -> None:
        response = client_for(self.student).get("/api/me")
        self.assertEqual(response.json(), self.tokens["user"])

    def test_me_refuses_an_anonymous_caller_with_401(self) -> None:
        response = APIClient().get("/api/me")
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json()["error"], "not_authenticated")

    def test_a_token_signed_with_another_key_is_refused(self) -> None:
        doctor = make_doctor()
        access = str(client_for(doctor)._credentials["HTTP_AUTHORIZATION"]).split()[1]
        header, payload, _signature = access.split(".")
        forged = APIClient()
        forged.credentials(HTTP_AUTHORIZATION=f"Bearer {header}.{payload}.AAAA")
        self.assertEqual(forged.get("/api/me").status_code, 401)
