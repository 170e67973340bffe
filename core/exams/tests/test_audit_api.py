"""GET /api/audit: the owner reads their exams' records, an admin every record, newest first; nobody edits."""

from __future__ import annotations

from django.test import TestCase
from rest_framework.test import APIClient

from core.accounts.services import api_key_create
from core.audit.models import AuditRecord
from core.audit.services import audit_record
from core.exams.tests.factories import make_admin, make_doctor, make_exam, make_student, token_for


def client_for(user: object) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return client


class AuditApiTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.owner, cls.other, cls.admin = make_doctor(), make_doctor(), make_admin()
        cls.exam = make_exam(owner=cls.owner)
        cls.second = make_exam(owner=cls.owner)
        cls.others_exam = make_exam(owner=cls.other)
        cls.first = audit_record(actor=cls.owner, action="degree.overridden", exam=cls.exam, detail={"n": 1})
        cls.latest = audit_record(actor=cls.owner, action="exam.graded", exam=cls.second, detail={"n": 2})
        audit_record(actor=cls.other, action="exam.graded", exam=cls.others_exam, detail={"n": 3})
        audit_record(actor=None, action="system.cleanup", exam=None, detail={})

    def get(self, user: object, query: str = "") -> list[dict]:
        response = client_for(user).get(f"/api/audit{query}")
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()["results"]

    def test_the_owner_reads_their_exams_records_newest_first(self) -> None:
        records = self.get(self.owner)
        self.assertEqual([r["detail"] for r in records], [{"n": 2}, {"n": 1}])
        first = records[1]
        self.assertEqual(
            {k: first[k] for k in ("actor", "action", "exam", "exam_code")},
            {
                "actor": self.owner.email,
                "action": "degree.overridden",
                "exam": self.exam.id,
                "exam_code": self.exam.code,
            },
        )
        self.assertTrue(first["at"].endswith("Z"))

    def test_exam_keeps_one_exams_records_and_another_doctors_exam_is_a_404(self) -> None:
        self.assertEqual([r["detail"] for r in self.get(self.owner, f"?exam={self.exam.id}")], [{"n": 1}])
        self.assertEqual(client_for(self.owner).get(f"/api/audit?exam={self.others_exam.id}").status_code, 404)
        self.assertEqual(client_for(self.owner).get("/api/audit?exam=abc").status_code, 400)

    def test_an_admin_reads_every_record_and_an_api_key_acts_for_its_doctor(self) -> None:
        self.assertEqual(len(self.get(self.admin)), 4)
        key = api_key_create(user=self.owner, name="script")[1]
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=key)
        self.assertEqual(client.get("/api/audit").json()["count"], 2)

    def test_students_and_strangers_are_refused(self) -> None:
        self.assertEqual(APIClient().get("/api/audit").status_code, 401)
        self.assertEqual(client_for(make_student()).get("/api/audit").status_code, 403)

    def test_the_api_only_reads(self) -> None:
        for method in ("post", "put", "patch", "delete"):
            with self.subTest(method=method):
                self.assertEqual(getattr(client_for(self.admin), method)("/api/audit").status_code, 405)
        self.assertEqual(AuditRecord.objects.count(), 4)

    def test_the_admin_lists_records_read_only(self) -> None:
        self.client.force_login(self.admin)
        page = self.client.get("/admin/audit/auditrecord/")
        self.assertEqual(page.status_code, 200)
        self.assertContains(page, "degree.overridden")
        self.assertEqual(self.client.get(f"/admin/audit/auditrecord/{self.first.id}/delete/").status_code, 403)
        self.assertEqual(self.client.get("/admin/audit/auditrecord/add/").status_code, 403)
        self.client.force_login(self.owner)
        self.assertIn(self.client.get("/admin/audit/auditrecord/").status_code, (302, 403))
