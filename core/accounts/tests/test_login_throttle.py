"""Login throttling counts failures only, is shared by the API and the admin, and does not lock the owner out."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.test import TestCase, override_settings
from rest_framework.test import APIClient

from core.accounts.tests.factories import PASSWORD, make_doctor, make_student
from core.accounts.throttles import DEVICE_COOKIE


def login(client: APIClient, email: str, password: str = PASSWORD, **extra: str):
    return client.post("/api/auth/login", {"email": email, "password": password}, format="json", **extra)


def admin_login(client: APIClient, email: str, password: str = PASSWORD, **extra: str):
    return client.post("/admin/login/?next=/admin/", {"username": email, "password": password}, **extra)


# Small limits with long windows, so that slow password hashing on a busy machine cannot outlast a window.
SMALL = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login_ip": "6/hour", "login_email": "3/hour"}}


@override_settings(REST_FRAMEWORK=SMALL)
class FailureThrottleTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.student = make_student()
        cls.doctor = make_doctor()

    def setUp(self) -> None:
        cache.clear()

    def test_successful_logins_are_never_counted(self) -> None:
        client = APIClient()
        statuses = {login(client, self.student.email).status_code for _ in range(8)}
        self.assertEqual(statuses, {200})

    def test_wrong_passwords_up_to_the_lock_then_the_right_one_from_the_owners_device_gets_in(self) -> None:
        owner = APIClient()
        self.assertEqual(login(owner, self.student.email).status_code, 200)  # yesterday, on this device
        self.assertIn(DEVICE_COOKIE, owner.cookies)
        attacker = APIClient()
        guesses = [
            login(attacker, self.student.email, "guess", HTTP_X_FORWARDED_FOR=f"10.1.0.{i}").status_code
            for i in range(5)
        ]
        self.assertEqual(guesses, [401] * 3 + [429] * 2)
        self.assertEqual(login(attacker, self.student.email, HTTP_X_FORWARDED_FOR="10.1.0.99").status_code, 429)
        self.assertEqual(login(owner, self.student.email).status_code, 200)

    def test_a_locked_attempt_is_429_with_retry_after_before_the_password_is_checked(self) -> None:
        client = APIClient()
        for _ in range(3):
            login(client, self.student.email, "guess")
        response = login(client, self.student.email)  # the right password, from an untrusted client
        self.assertEqual(response.status_code, 429)
        self.assertEqual(response.json()["error"], "throttled")
        self.assertGreater(int(response["Retry-After"]), 0)

    def test_a_trusted_device_is_limited_by_its_own_failures(self) -> None:
        owner = APIClient()
        login(owner, self.student.email)
        statuses = [login(owner, self.student.email, "typo").status_code for _ in range(4)]
        self.assertEqual(statuses, [401] * 3 + [429])

    def test_a_device_cookie_of_another_email_earns_no_trust(self) -> None:
        client = APIClient()
        login(client, self.doctor.email)
        for i in range(3):
            login(APIClient(), self.student.email, "guess", HTTP_X_FORWARDED_FOR=f"10.2.0.{i}")
        self.assertEqual(login(client, self.student.email).status_code, 429)

    def test_the_admin_login_and_the_api_login_share_the_counts(self) -> None:
        attacker = APIClient()
        for i in range(2):
            response = login(attacker, self.doctor.email, "guess", HTTP_X_FORWARDED_FOR=f"10.3.0.{i}")
            self.assertEqual(response.status_code, 401)
        for i in range(1):
            response = admin_login(attacker, self.doctor.email, "guess", HTTP_X_FORWARDED_FOR=f"10.3.1.{i}")
            self.assertEqual(response.status_code, 200)  # the form again, with its error
        refused = admin_login(APIClient(), self.doctor.email, HTTP_X_FORWARDED_FOR="10.3.2.1")
        self.assertContains(refused, "Too many failed logins")
        self.assertEqual(login(APIClient(), self.doctor.email, HTTP_X_FORWARDED_FOR="10.3.2.2").status_code, 429)

    def test_the_admin_login_gets_the_owner_in_from_a_trusted_device(self) -> None:
        first = APIClient()
        self.assertEqual(admin_login(first, self.doctor.email).status_code, 302)
        owner = APIClient()  # the same browser, another day: only the device cookie is left
        owner.cookies[DEVICE_COOKIE] = first.cookies[DEVICE_COOKIE].value
        for i in range(4):
            admin_login(APIClient(), self.doctor.email, "guess", HTTP_X_FORWARDED_FOR=f"10.4.0.{i}")
        self.assertEqual(admin_login(owner, self.doctor.email).status_code, 302)

    def test_one_address_guessing_many_emails_is_stopped(self) -> None:
        client = APIClient()
        statuses = [login(client, f"nobody{i}@example.test", "guess").status_code for i in range(8)]
        self.assertEqual(statuses, [401] * 6 + [429] * 2)

    def test_a_right_password_clears_the_emails_failures(self) -> None:
        client = APIClient()
        for _ in range(2):
            login(client, self.student.email, "guess")
        self.assertEqual(login(APIClient(), self.student.email, HTTP_X_FORWARDED_FOR="10.5.0.1").status_code, 200)
        statuses = [
            login(APIClient(), self.student.email, "guess", HTTP_X_FORWARDED_FOR=f"10.5.1.{i}").status_code
            for i in range(3)
        ]
        self.assertEqual(statuses, [401] * 3)
