import threading
import time

import jwt
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import TestCase, TransactionTestCase
from rest_framework.test import APIClient

from core.accounts.tests.factories import PASSWORD, make_student


class TokenClaimsTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.student = make_student()

    def claims(self, **overrides: object) -> dict:
        now = int(time.time())
        base = {
            "token_type": "access",
            "exp": now + 300,
            "iat": now,
            "jti": "x" * 32,
            "user_id": str(self.student.id),
            "aud": settings.SIMPLE_JWT["AUDIENCE"],
            "iss": settings.SIMPLE_JWT["ISSUER"],
        }
        return base | overrides

    def get_me(self, token: str) -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.get("/api/me").status_code

    def test_a_well_formed_token_is_accepted(self) -> None:
        token = jwt.encode(self.claims(), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
        self.assertEqual(self.get_me(token), 200)

    def test_it_refuses_another_audience(self) -> None:
        token = jwt.encode(self.claims(aud="someone-else"), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
        self.assertEqual(self.get_me(token), 401)

    def test_it_refuses_the_none_algorithm(self) -> None:
        token = jwt.encode(self.claims(), None, algorithm="none")
        self.assertEqual(self.get_me(token), 401)

    def test_it_refuses_a_token_signed_with_the_django_secret(self) -> None:
        token = jwt.encode(self.claims(), settings.SECRET_KEY, algorithm="HS256")
        self.assertEqual(self.get_me(token), 401)

    def test_it_refuses_a_refresh_typed_token_as_access(self) -> None:
        token = jwt.encode(self.claims(token_type="refresh"), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
        self.assertEqual(self.get_me(token), 401)

    def test_it_refuses_an_expired_token(self) -> None:
        now = int(time.time())
        token = jwt.encode(
            self.claims(exp=now - 10, iat=now - 400), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256"
        )
        self.assertEqual(self.get_me(token), 401)


class ConcurrentRefreshTests(TransactionTestCase):
    def test_a_refresh_token_presented_twice_at_once_succeeds_exactly_once(self) -> None:
        cache.clear()
        student = make_student()
        refresh = (
            APIClient()
            .post("/api/auth/login", {"email": student.email, "password": PASSWORD}, format="json")
            .json()["refresh"]
        )
        statuses: list[int] = []
        barrier = threading.Barrier(4)

        def present() -> None:
            try:
                barrier.wait()
                statuses.append(APIClient().post("/api/auth/refresh", {"refresh": refresh}, format="json").status_code)
            finally:
                connection.close()

        threads = [threading.Thread(target=present) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        self.assertEqual(sorted(statuses), [200, 401, 401, 401])
