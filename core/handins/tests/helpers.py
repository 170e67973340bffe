"""Small builders for the hand-in tests."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from core.accounts.models import User
from core.accounts.services import doctor_create, student_create, subject_get_or_create
from core.accounts.tokens import SingleUseRefreshToken
from core.exams.models import Exam

_sequence = itertools.count(1)
PDF_BYTES = b"%PDF-1.4\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 40 + b"%%EOF\n"


def make_doctor() -> User:
    n = next(_sequence)
    return doctor_create(email=f"h6doctor{n}@example.test", full_name=f"Doctor {n}", password="pw-123456789")


def make_admin() -> User:
    n = next(_sequence)
    return User.objects.create_superuser(f"h6admin{n}@example.test", "pw-123456789", full_name=f"Admin {n}")


def make_student(number: str | None = None) -> User:
    n = next(_sequence)
    return student_create(student_number=number or f"h6{n:06d}", full_name=f"Student {n}", level="Year 1")


def make_exam(*, owner: User, kind: str = Exam.Kind.HANDIN, **fields: object) -> Exam:
    n = next(_sequence)
    defaults: dict[str, object] = {
        "code": f"H6-{n}",
        "title": f"Hand-in {n}",
        "subject": subject_get_or_create(name="Hand-in subject"),
        "owner": owner,
        "kind": kind,
        "status": Exam.Status.PUBLISHED,
        "opens_at": timezone.now() - timedelta(hours=1),
        "closes_at": timezone.now() + timedelta(days=1),
    }
    defaults.update(fields)
    return Exam.objects.create(**defaults)


def client_for(user: User | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {SingleUseRefreshToken.for_user(user).access_token}")
    return client


def upload_file(content: bytes = PDF_BYTES, name: str = "essay.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


class OwnBucketPrefix:
    """A test mixin: the test's files live under a prefix of their own in the real bucket (other suites share
    the bucket, and exam ids repeat across test databases), and everything under it is deleted afterwards."""

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        default = settings.STORAGES["default"]
        self.bucket_prefix = f"test-runs/{uuid.uuid4().hex}"
        options = {**default.get("OPTIONS", {}), "location": self.bucket_prefix}
        self._prefix_override = override_settings(
            STORAGES={**settings.STORAGES, "default": {**default, "OPTIONS": options}}
        )
        self._prefix_override.enable()

    def tearDown(self) -> None:
        try:
            bucket = storages["default"].bucket
            bucket.objects.filter(Prefix=f"{self.bucket_prefix}/").delete()
        finally:
            self._prefix_override.disable()
            super().tearDown()  # type: ignore[misc]
