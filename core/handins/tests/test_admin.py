"""The hand-ins admin: a doctor sees the hand-ins of their own exams, with their uploads and download links."""

from __future__ import annotations

from django.test import TestCase
from rest_framework.test import APIClient

from core.handins.models import HandIn
from core.handins.tests.helpers import OwnBucketPrefix, make_admin, make_doctor, make_exam, make_student, upload_file
from core.handins.tests.test_handins import _code


class HandInAdminTests(OwnBucketPrefix, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.mine = HandIn.objects.create(exam=make_exam(owner=cls.doctor), student=make_student(), upload_code=_code())
        cls.theirs = HandIn.objects.create(
            exam=make_exam(owner=make_doctor()), student=make_student(), upload_code=_code()
        )

    def test_a_doctor_sees_only_the_hand_ins_of_their_own_exams(self) -> None:
        self.client.force_login(self.doctor)
        page = self.client.get("/admin/handins/handin/")
        self.assertEqual(page.status_code, 200)
        self.assertContains(page, self.mine.upload_code)
        self.assertNotContains(page, self.theirs.upload_code)
        self.assertEqual(self.client.get(f"/admin/handins/handin/{self.theirs.pk}/change/").status_code, 302)

    def test_the_hand_in_page_lists_uploads_with_a_download_link(self) -> None:
        APIClient().post(f"/submissions/{self.mine.upload_code}", {"file": upload_file()})
        self.client.force_login(self.doctor)
        page = self.client.get(f"/admin/handins/handin/{self.mine.pk}/change/")
        self.assertEqual(page.status_code, 200)
        upload = self.mine.uploads.get()
        self.assertContains(page, upload.verification_code)
        self.assertContains(page, "X-Amz-Signature")

    def test_an_admin_sees_every_hand_in(self) -> None:
        self.client.force_login(make_admin())
        page = self.client.get("/admin/handins/handin/")
        self.assertContains(page, self.mine.upload_code)
        self.assertContains(page, self.theirs.upload_code)
