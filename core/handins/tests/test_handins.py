"""Hand-ins through HTTP, against the real SeaweedFS S3 server."""

from __future__ import annotations

import hashlib
import re
import tempfile
import threading
import urllib.error
import urllib.request
from datetime import timedelta

from botocore.config import Config
from django.conf import settings
from django.core.files.storage import storages
from django.db import connection
from django.test import TestCase, TransactionTestCase, override_settings
from django.utils import timezone

from core.exams.models import Exam
from core.handins.models import HandIn, StorageFailure, Upload
from core.handins.tasks import handins_expire_task
from core.handins.tests.helpers import (
    PDF_BYTES,
    OwnBucketPrefix,
    client_for,
    make_admin,
    make_doctor,
    make_exam,
    make_student,
    upload_file,
)


def _s3_options(**changes: object) -> dict:
    options = dict(settings.STORAGES["default"]["OPTIONS"])
    options.update(changes)
    return options


def _storages_with(default: dict) -> dict:
    return {**settings.STORAGES, "default": default}


# Our own store made unreachable: the same S3 backend pointed at a closed port, one quick attempt.
UNREACHABLE_S3 = _storages_with(
    {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": _s3_options(
            endpoint_url="http://127.0.0.1:9",
            client_config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=1,
                retries={"max_attempts": 1, "mode": "standard"},
            ),
        ),
    }
)


def _fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class HandInRegistrationTests(OwnBucketPrefix, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.exam = make_exam(owner=cls.doctor)
        cls.student = make_student()

    def test_an_owner_registers_a_student_and_gets_an_upload_code(self) -> None:
        response = client_for(self.doctor).post(
            f"/api/exams/{self.exam.pk}/handins", {"student_number": self.student.student_number}, format="json"
        )
        self.assertEqual(response.status_code, 201, response.content)
        body = response.json()
        self.assertEqual(set(body), {"student_number", "upload_code", "uploads_available"})
        self.assertEqual(body["student_number"], self.student.student_number)
        self.assertEqual(body["uploads_available"], 5)
        self.assertRegex(body["upload_code"], r"^[A-Z0-9]{8}$")

    def test_it_refuses_a_second_hand_in_for_the_same_student(self) -> None:
        client = client_for(self.doctor)
        url = f"/api/exams/{self.exam.pk}/handins"
        client.post(url, {"student_number": self.student.student_number}, format="json")
        response = client.post(url, {"student_number": self.student.student_number}, format="json")
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()["error"], "handin_exists")

    def test_an_admin_may_register_on_any_exam(self) -> None:
        response = client_for(make_admin()).post(
            f"/api/exams/{self.exam.pk}/handins", {"student_number": self.student.student_number}, format="json"
        )
        self.assertEqual(response.status_code, 201)

    def test_another_doctors_exam_is_not_found(self) -> None:
        response = client_for(make_doctor()).post(
            f"/api/exams/{self.exam.pk}/handins", {"student_number": self.student.student_number}, format="json"
        )
        self.assertEqual(response.status_code, 404)
        self.assertEqual(client_for(make_doctor()).get(f"/api/exams/{self.exam.pk}/handins").status_code, 404)

    def test_a_student_token_is_forbidden_and_no_token_is_unauthorised(self) -> None:
        self.assertEqual(client_for(self.student).get(f"/api/exams/{self.exam.pk}/handins").status_code, 403)
        self.assertEqual(client_for().get(f"/api/exams/{self.exam.pk}/handins").status_code, 401)

    def test_it_refuses_an_exam_that_is_not_a_handin_exam(self) -> None:
        online = make_exam(owner=self.doctor, kind=Exam.Kind.ONLINE)
        response = client_for(self.doctor).post(
            f"/api/exams/{online.pk}/handins", {"student_number": self.student.student_number}, format="json"
        )
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()["error"], "not_a_handin_exam")

    def test_an_unknown_student_number_is_422(self) -> None:
        response = client_for(self.doctor).post(
            f"/api/exams/{self.exam.pk}/handins", {"student_number": "nobody-here"}, format="json"
        )
        self.assertEqual(response.status_code, 422)
        self.assertIn("student_number", response.json()["fields"])

    def test_the_list_shows_totals_and_each_last_submission(self) -> None:
        other = make_student()
        client = client_for(self.doctor)
        code = client.post(
            f"/api/exams/{self.exam.pk}/handins", {"student_number": self.student.student_number}, format="json"
        ).json()["upload_code"]
        client.post(f"/api/exams/{self.exam.pk}/handins", {"student_number": other.student_number}, format="json")
        for _ in range(2):
            self.assertEqual(client_for().post(f"/submissions/{code}", {"file": upload_file()}).status_code, 201)
        body = client.get(f"/api/exams/{self.exam.pk}/handins").json()
        self.assertEqual(body["totals"], {"students": 2, "submissions": 2})
        rows = {row["student_number"]: row for row in body["handins"]}
        self.assertEqual(rows[self.student.student_number]["uploads_available"], 3)
        self.assertEqual(rows[self.student.student_number]["full_name"], self.student.full_name)
        last = rows[self.student.student_number]["last_submission"]
        self.assertEqual(set(last), {"md5", "size_bytes", "verification_code", "created_at"})
        self.assertEqual(last["md5"], hashlib.md5(PDF_BYTES).hexdigest())
        self.assertIsNone(rows[other.student_number]["last_submission"])


class SubmissionTests(OwnBucketPrefix, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()

    def setUp(self) -> None:
        super().setUp()
        self.exam = make_exam(owner=self.doctor)
        self.handin = HandIn.objects.create(exam=self.exam, student=make_student(), upload_code=_code())
        self.url = f"/submissions/{self.handin.upload_code}"
        self.client = client_for()

    def _stored(self, upload: Upload) -> bool:
        return storages["default"].exists(upload.storage_key)

    def test_an_upload_is_stored_and_its_presigned_link_downloads_the_same_bytes(self) -> None:
        content = PDF_BYTES + b"unique:" + _code().encode()
        response = self.client.post(self.url, {"file": upload_file(content)})
        self.assertEqual(response.status_code, 201, response.content)
        body = response.json()
        self.assertEqual(body["uploads_available"], 4)
        submission = body["last_submission"]
        self.assertEqual(submission["md5"], hashlib.md5(content).hexdigest())
        self.assertEqual(submission["size_bytes"], len(content))
        self.assertRegex(submission["verification_code"], r"^[a-z0-9]{9}$")

        link = client_for().get(f"/verifications/{submission['verification_code']}/download_url")
        self.assertEqual(link.status_code, 200)
        self.assertEqual(link.json()["expires_seconds"], 600)
        url = link.json()["download_url"]
        self.assertTrue(url.startswith(settings.S3["PUBLIC_ENDPOINT_URL"]), url)
        self.assertIn("X-Amz-Expires=600", url)
        status, headers, data = _fetch(url)
        self.assertEqual(status, 200)
        self.assertEqual(hashlib.md5(data).hexdigest(), submission["md5"])
        self.assertEqual(headers["Content-Type"], "application/octet-stream")
        self.assertTrue(headers["Content-Disposition"].startswith("attachment;"))
        self.assertRegex(headers["Content-Disposition"], r'filename="[A-Za-z0-9_-]+-[A-Za-z0-9_-]+-[a-z0-9]{9}\.pdf"')

    def test_a_tampered_link_is_refused_by_the_store(self) -> None:
        code = self.client.post(self.url, {"file": upload_file()}).json()["last_submission"]["verification_code"]
        url = client_for().get(f"/verifications/{code}/download_url").json()["download_url"]
        tampered = re.sub(r"X-Amz-Expires=600", "X-Amz-Expires=6000", url)
        self.assertEqual(_fetch(tampered)[0], 403)

    def test_a_new_upload_deletes_the_previous_file_from_the_bucket(self) -> None:
        self.client.post(self.url, {"file": upload_file(b"first version\n", "a.txt")})
        first = Upload.objects.get(hand_in=self.handin)
        self.assertTrue(self._stored(first))
        response = self.client.post(self.url, {"file": upload_file(b"second version\n", "b.txt")})
        self.assertEqual(response.status_code, 201)
        first.refresh_from_db()
        self.assertFalse(self._stored(first))
        self.assertEqual(first.state, Upload.State.REPLACED)
        self.assertIsNotNone(first.file_deleted_at)
        second = Upload.objects.get(hand_in=self.handin, state=Upload.State.STORED)
        self.assertTrue(self._stored(second))
        # The replaced upload's verification code no longer gives a link.
        self.assertEqual(client_for().get(f"/verifications/{first.verification_code}/download_url").status_code, 404)

    def test_five_uploads_are_taken_and_the_sixth_is_refused(self) -> None:
        for used in range(1, 6):
            response = self.client.post(self.url, {"file": upload_file(f"v{used}\n".encode(), "v.txt")})
            self.assertEqual(response.status_code, 201)
            self.assertEqual(response.json()["uploads_available"], 5 - used)
        response = self.client.post(self.url, {"file": upload_file(b"one too many\n", "v.txt")})
        self.assertEqual(response.status_code, 422)
        self.assertEqual(response.json()["error"], "upload_limit_reached")
        self.handin.refresh_from_db()
        self.assertEqual(self.handin.uploads_used, 5)
        self.assertEqual(Upload.objects.filter(hand_in=self.handin).count(), 5)
        self.assertEqual(Upload.objects.filter(hand_in=self.handin, state=Upload.State.STORED).count(), 1)

    def test_a_file_one_byte_over_the_limit_is_413_and_nothing_is_stored(self) -> None:
        content = b"%PDF-" + b"x" * (settings.HANDIN_MAX_BYTES + 1 - 5)
        response = self.client.post(self.url, {"file": upload_file(content)})
        self.assertEqual(response.status_code, 413)
        self.assertEqual(response.json()["error"], "file_too_large")
        self._assert_nothing_stored()

    def test_a_file_exactly_at_the_limit_is_taken(self) -> None:
        content = b"%PDF-" + b"x" * (settings.HANDIN_MAX_BYTES - 5)
        response = self.client.post(self.url, {"file": upload_file(content)})
        self.assertEqual(response.status_code, 201)
        self.assertEqual(response.json()["last_submission"]["size_bytes"], settings.HANDIN_MAX_BYTES)

    def test_a_body_declared_far_too_large_is_refused_before_it_is_read(self) -> None:
        response = self.client.post(self.url, {"file": upload_file(b"%PDF-" + b"x" * (4 * 1024 * 1024))})
        self.assertEqual(response.status_code, 413)
        self._assert_nothing_stored()

    def test_an_empty_file_is_422(self) -> None:
        response = self.client.post(self.url, {"file": upload_file(b"", "empty.pdf")})
        self.assertEqual(response.status_code, 422)
        self.assertEqual(response.json()["error"], "empty_file")
        self._assert_nothing_stored()

    def test_a_file_whose_content_is_not_allowed_is_415_whatever_it_claims(self) -> None:
        response = self.client.post(self.url, {"file": upload_file(b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64, "a.pdf")})
        self.assertEqual(response.status_code, 415)
        self.assertEqual(response.json()["error"], "unsupported_media_type")
        self._assert_nothing_stored()

    def test_a_closed_exam_refuses_uploads(self) -> None:
        Exam.objects.filter(pk=self.exam.pk).update(status=Exam.Status.CLOSED)
        response = self.client.post(self.url, {"file": upload_file()})
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()["error"], "exam_closed")

    def test_an_exam_past_its_closing_time_refuses_uploads(self) -> None:
        Exam.objects.filter(pk=self.exam.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
        self.assertEqual(self.client.post(self.url, {"file": upload_file()}).status_code, 409)
        self._assert_nothing_stored()

    def test_an_unknown_or_malformed_code_is_404(self) -> None:
        for code in ("ZZZZZZZZ", "abc", "abcdefgh", "A" * 9, "%00"):
            self.assertEqual(self.client.post(f"/submissions/{code}", {"file": upload_file()}).status_code, 404, code)
            self.assertEqual(self.client.get(f"/submissions/{code}").status_code, 404, code)

    def test_a_body_without_the_file_field_or_with_two_files_is_400(self) -> None:
        self.assertEqual(self.client.post(self.url, {"other": "x"}).status_code, 400)
        self.assertEqual(self.client.post(self.url, {"document": upload_file()}).status_code, 400)
        response = self.client.post(self.url, {"file": [upload_file(), upload_file()]})
        self.assertEqual(response.status_code, 400)
        self.assertIn("file", response.json()["fields"])
        self.assertEqual(self.client.post(self.url, {"file": upload_file(), "second": upload_file()}).status_code, 400)
        self._assert_nothing_stored()

    def test_a_hostile_file_name_does_not_matter(self) -> None:
        for name in ("../../etc/passwd.pdf", "a\x00b.pdf", "n" * 300 + ".pdf"):
            response = self.client.post(self.url, {"file": upload_file(name=name)})
            self.assertEqual(response.status_code, 201, name)
        for upload in Upload.objects.filter(hand_in=self.handin):
            self.assertRegex(upload.storage_key, rf"^handins/{self.exam.pk}/[0-9a-f]{{32}}$")

    def test_get_shows_the_same_state_as_the_upload_answer(self) -> None:
        self.assertEqual(self.client.get(self.url).json(), {"uploads_available": 5, "last_submission": None})
        posted = self.client.post(self.url, {"file": upload_file()}).json()
        self.assertEqual(self.client.get(self.url).json(), posted)

    def test_an_unknown_verification_code_is_404(self) -> None:
        for code in ("aaaaaaaaa", "AAAAAAAAA", "short"):
            self.assertEqual(self.client.get(f"/verifications/{code}/download_url").status_code, 404)

    @override_settings(STORAGES=UNREACHABLE_S3)
    def test_storage_down_is_503_the_event_is_recorded_and_no_upload_is_used(self) -> None:
        response = self.client.post(self.url, {"file": upload_file()})
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json()["error"], "storage_unavailable")
        self.handin.refresh_from_db()
        self.assertEqual(self.handin.uploads_used, 0)
        self.assertFalse(Upload.objects.filter(hand_in=self.handin).exists())
        self.assertEqual(StorageFailure.objects.filter(hand_in=self.handin, operation="upload").count(), 1)

    def test_retention_deletes_old_files_and_keeps_their_metadata_marked_expired(self) -> None:
        body = self.client.post(self.url, {"file": upload_file()}).json()
        code = body["last_submission"]["verification_code"]
        upload = Upload.objects.get(verification_code=code)
        with override_settings(HANDIN_RETENTION_DAYS=1):
            self.assertEqual(handins_expire_task(), 0)  # not old yet
            self.assertTrue(self._stored(upload))
            Upload.objects.filter(pk=upload.pk).update(created_at=timezone.now() - timedelta(days=1, seconds=1))
            # Downloads refuse it at once, even before the task has run.
            self.assertEqual(client_for().get(f"/verifications/{code}/download_url").status_code, 404)
            self.assertEqual(handins_expire_task(), 1)
            self.assertEqual(handins_expire_task(), 0)  # running it twice changes nothing
        upload.refresh_from_db()
        self.assertEqual(upload.state, Upload.State.EXPIRED)
        self.assertIsNotNone(upload.file_deleted_at)
        self.assertFalse(self._stored(upload))
        self.assertEqual(client_for().get(f"/verifications/{code}/download_url").status_code, 404)
        self.assertEqual(self.client.get(self.url).json()["last_submission"]["verification_code"], code)

    def _assert_nothing_stored(self) -> None:
        self.handin.refresh_from_db()
        self.assertEqual(self.handin.uploads_used, 0)
        self.assertFalse(Upload.objects.filter(hand_in=self.handin).exists())
        _, files = storages["default"].listdir(f"handins/{self.exam.pk}/")
        self.assertEqual(files, [])


class LocalStorageTests(TestCase):
    """`make run` keeps files on the local disk; links are signed and expiring, served by a small view."""

    def setUp(self) -> None:
        self.media = tempfile.TemporaryDirectory()
        local = _storages_with(
            {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": self.media.name}}
        )
        self.override = override_settings(STORAGES=local)
        self.override.enable()
        exam = make_exam(owner=make_doctor())
        self.handin = HandIn.objects.create(exam=exam, student=make_student(), upload_code=_code())

    def tearDown(self) -> None:
        self.override.disable()
        self.media.cleanup()

    def test_a_local_link_downloads_the_file_as_an_attachment_that_is_never_sniffed(self) -> None:
        content = b"plain text answer\n"
        url = f"/submissions/{self.handin.upload_code}"
        body = client_for().post(url, {"file": upload_file(content, "a.txt")}).json()
        link = client_for().get(f"/verifications/{body['last_submission']['verification_code']}/download_url").json()
        self.assertEqual(link["expires_seconds"], 600)
        self.assertTrue(link["download_url"].startswith("http://testserver/handins/files/"))
        path = link["download_url"].removeprefix("http://testserver")
        response = client_for().get(path)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(b"".join(response.streaming_content), content)
        self.assertEqual(response["X-Content-Type-Options"], "nosniff")
        self.assertEqual(response["Content-Type"], "application/octet-stream")
        self.assertTrue(response["Content-Disposition"].startswith("attachment;"))
        self.assertEqual(client_for().get(path[:-3] + "xyz").status_code, 404)


class ConcurrentUploadTests(OwnBucketPrefix, TransactionTestCase):
    def test_two_concurrent_uploads_cannot_both_pass_the_limit(self) -> None:
        handin = HandIn.objects.create(
            exam=make_exam(owner=make_doctor()), student=make_student(), upload_code=_code(), uploads_used=4
        )
        statuses: list[int] = []
        barrier = threading.Barrier(2)

        def upload(n: int) -> None:
            try:
                barrier.wait()
                url = f"/submissions/{handin.upload_code}"
                response = client_for().post(url, {"file": upload_file(f"{n}\n".encode(), "a.txt")})
                statuses.append(response.status_code)
            finally:
                connection.close()

        threads = [threading.Thread(target=upload, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(sorted(statuses), [201, 422])
        handin.refresh_from_db()
        self.assertEqual(handin.uploads_used, 5)
        self.assertEqual(Upload.objects.filter(hand_in=handin).count(), 1)


def _code() -> str:
    from core.handins.services import UPLOAD_CODE_ALPHABET, _new_code

    return _new_code(UPLOAD_CODE_ALPHABET, 8)


@override_settings(CODE_FAILURES_PER_CLIENT="3/hour")
class CodeGuessingTests(TestCase):
    """Unknown upload and verification codes (404) are counted per client address; at the limit, that address
    gets 429 with Retry-After, for known codes too, while other addresses go on."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.handin = HandIn.objects.create(
            exam=make_exam(owner=make_doctor()), student=make_student(), upload_code=_code()
        )

    def setUp(self) -> None:
        from django.core.cache import cache

        cache.clear()
        self.client = client_for()

    def test_guessing_upload_codes_is_throttled_per_client(self) -> None:
        guesses = [
            self.client.get(f"/submissions/{_code()}", HTTP_X_FORWARDED_FOR="10.9.0.1").status_code for _ in range(4)
        ]
        self.assertEqual(guesses, [404, 404, 404, 429])
        refused = self.client.get(f"/submissions/{self.handin.upload_code}", HTTP_X_FORWARDED_FOR="10.9.0.1")
        self.assertEqual(refused.status_code, 429)
        self.assertEqual(refused.json()["error"], "throttled")
        self.assertGreater(int(refused["Retry-After"]), 0)
        other = self.client.get(f"/submissions/{self.handin.upload_code}", HTTP_X_FORWARDED_FOR="10.9.0.2")
        self.assertEqual(other.status_code, 200)

    def test_guessing_verification_codes_is_throttled_per_client_and_shares_the_count(self) -> None:
        self.client.get(f"/submissions/{_code()}")
        statuses = [self.client.get(f"/verifications/abcdefgh{i}/download_url").status_code for i in range(3)]
        self.assertEqual(statuses, [404, 404, 429])

    def test_known_codes_are_never_counted(self) -> None:
        statuses = {self.client.get(f"/submissions/{self.handin.upload_code}").status_code for _ in range(5)}
        self.assertEqual(statuses, {200})
