"""Small builders for people, shared by every app's tests."""

from __future__ import annotations

import itertools

from rest_framework.test import APIClient

from core.accounts.models import Role, User
from core.accounts.services import api_key_create, doctor_create, level_get_or_create, student_create
from core.accounts.tokens import SingleUseRefreshToken

_sequence = itertools.count(1)
PASSWORD = "correct-horse-battery"


def make_student(*, level: str = "Year 1", number: str | None = None, password: str | None = PASSWORD) -> User:
    n = next(_sequence)
    return student_create(
        student_number=number or f"{n:06d}",
        full_name=f"Student {n}",
        level=level,
        email=f"student{n}@example.test",
        password=password,
    )


def make_doctor(*, subjects: list[str] | None = None) -> User:
    n = next(_sequence)
    return doctor_create(email=f"doctor{n}@example.test", full_name=f"Doctor {n}", password=PASSWORD, subjects=subjects)


def make_admin() -> User:
    n = next(_sequence)
    return User.objects.create_superuser(f"admin{n}@example.test", PASSWORD, full_name=f"Admin {n}")


def client_for(user: User | None = None, *, api_key: str | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {SingleUseRefreshToken.for_user(user).access_token}")
    if api_key is not None:
        client.credentials(HTTP_X_API_KEY=api_key)
    return client


def api_key_for(user: User, name: str = "scanner") -> str:
    return api_key_create(user=user, name=name)[1]


__all__ = [
    "PASSWORD",
    "Role",
    "api_key_for",
    "client_for",
    "level_get_or_create",
    "make_admin",
    "make_doctor",
    "make_student",
]
