from django.contrib.auth import get_user_model
from django.db import DatabaseError, transaction
from django.test import TestCase

from core.audit.models import AuditRecord
from core.audit.services import audit_record, audit_records


class _Exam:
    def __init__(self, pk: int, code: str) -> None:
        self.pk = pk
        self.code = code


class AuditRecordTests(TestCase):
    def setUp(self) -> None:
        self.doctor = get_user_model().objects.create_user(email="doc@example.com", password="x", role="doctor")

    def test_it_keeps_who_did_what_to_which_exam(self) -> None:
        record = audit_record(actor=self.doctor, action="exam.edited", exam=_Exam(7, "MATH-1"), detail={"a": 1})
        record.refresh_from_db()
        self.assertEqual((record.actor_id, record.actor), (self.doctor.pk, "doc@example.com"))
        self.assertEqual(
            (record.action, record.exam_id, record.exam, record.detail), ("exam.edited", 7, "MATH-1", {"a": 1})
        )

    def test_the_system_is_named_when_there_is_no_actor(self) -> None:
        self.assertEqual(audit_record(actor=None, action="exam.graded", exam=None, detail={}).actor, "system")

    def test_the_database_refuses_to_edit_or_delete_a_record(self) -> None:
        record = audit_record(actor=self.doctor, action="exam.edited", exam=_Exam(1, "X"), detail={})
        with self.assertRaises(DatabaseError), transaction.atomic():
            AuditRecord.objects.filter(pk=record.pk).update(action="nothing.happened")
        with self.assertRaises(DatabaseError), transaction.atomic():
            AuditRecord.objects.filter(pk=record.pk).delete()
        self.assertEqual(AuditRecord.objects.get(pk=record.pk).action, "exam.edited")

    def test_deleting_the_actor_leaves_the_record_as_it_was(self) -> None:
        audit_record(actor=self.doctor, action="exam.edited", exam=_Exam(1, "X"), detail={})
        self.doctor.delete()
        self.assertEqual(AuditRecord.objects.get().actor, "doc@example.com")

    def test_records_are_listed_newest_first_and_scoped_to_exams(self) -> None:
        for exam_id, action in ((1, "first"), (2, "other"), (1, "second")):
            audit_record(actor=self.doctor, action=action, exam=_Exam(exam_id, str(exam_id)), detail={})
        self.assertEqual([r.action for r in audit_records(exam_ids=[1])], ["second", "first"])
        self.assertEqual([r.action for r in audit_records(exam_id=2)], ["other"])
        self.assertEqual(audit_records().count(), 3)
