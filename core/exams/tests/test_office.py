"""What an exam office does to a running exam: accommodations, changes of its times, reopening, releasing only
once nobody can save, the attempts list and the save history; every rule on both roads of the hot path."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from core.audit.models import AuditRecord
from core.exams import services
from core.exams.caching import hot_context_get
from core.exams.models import Attempt, Exam
from core.exams.tests.factories import ids_of, make_doctor, make_exam, make_student, token_for

# A content type the lean PUT road leaves to DRF's road.
DRF_ROAD = "application/json; charset=iso-8859-1"


class OfficeTestCase(TestCase):
    def setUp(self) -> None:
        cache.clear()
        self.doctor = make_doctor()
        self.office = APIClient()
        self.office.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(self.doctor)}")

    def exam(self, **kwargs: object) -> Exam:
        exam = make_exam(owner=self.doctor, **kwargs)  # type: ignore[arg-type]
        self.questions = ids_of(exam)
        return exam

    def started(self, exam: Exam, *, ago: timedelta, student=None):
        """A student who started `ago` before now (through the service, at that moment)."""
        student = student or make_student()
        services.attempt_start(student=student, exam_id=exam.id, now=timezone.now() - ago)
        return student

    def save(self, exam: Exam, student, *, road: str = "lean", agent: str = "Tests/1.0"):
        client = APIClient()
        tokens = self.__dict__.setdefault("tokens", {})
        token = tokens[student.id] = tokens.get(student.id) or token_for(student)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        q, choices, _ = self.questions[0]
        body = json.dumps({"answers": [{"question": q, "choices": [choices[0]]}]})
        content_type = "application/json" if road == "lean" else DRF_ROAD
        return client.generic(
            "PUT", f"/api/exams/{exam.id}/answers", body, content_type=content_type, HTTP_USER_AGENT=agent
        )

    def deadline(self, exam: Exam, student) -> datetime:
        return Attempt.objects.get(exam=exam, student=student).deadline

    def assert_saves(self, exam: Exam, student, status: int) -> None:
        for road in ("lean", "drf"):
            response = self.save(exam, student, road=road)
            self.assertEqual(response.status_code, status, (road, response.content))


class AccommodationTests(OfficeTestCase):
    def test_extra_time_reaches_a_running_attempt_at_once_on_both_roads(self) -> None:
        exam = self.exam(duration_minutes=30)
        student = self.started(exam, ago=timedelta(minutes=31))
        self.assertEqual(self.save(exam, student).status_code, 409)  # the warm window holds the old deadline
        response = self.office.put(
            f"/api/exams/{exam.id}/accommodations/{student.student_number}", {"extra_minutes": 15}, format="json"
        )
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(
            response.json(), {"student_number": student.student_number, "extra_minutes": 15, "closes_at": None}
        )
        attempt = Attempt.objects.get(exam=exam, student=student)
        self.assertEqual(attempt.deadline, attempt.started_at + timedelta(minutes=45))
        self.assert_saves(exam, student, 200)

    def test_a_warm_save_after_an_accommodation_makes_no_database_query(self) -> None:
        exam = self.exam(duration_minutes=30)
        student = self.started(exam, ago=timedelta(minutes=5))
        self.office.put(
            f"/api/exams/{exam.id}/accommodations/{student.student_number}", {"extra_minutes": 5}, format="json"
        )
        self.assertEqual(self.save(exam, student).status_code, 200)  # refills the dropped window
        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(self.save(exam, student).status_code, 200)
        self.assertEqual(len(queries), 0, [q["sql"] for q in queries])

    def test_the_extra_time_is_capped_by_the_exams_closing_time_plus_the_extra(self) -> None:
        now = timezone.now()
        exam = self.exam(duration_minutes=120, closes_at=now + timedelta(minutes=10))
        student = self.started(exam, ago=timedelta(minutes=5))
        self.office.put(
            f"/api/exams/{exam.id}/accommodations/{student.student_number}", {"extra_minutes": 20}, format="json"
        )
        self.assertEqual(self.deadline(exam, student), exam.closes_at + timedelta(minutes=20))

    def test_a_closing_time_of_their_own_replaces_the_exams_plus_the_extra(self) -> None:
        now = timezone.now()
        exam = self.exam(duration_minutes=120, closes_at=now + timedelta(minutes=10))
        student = self.started(exam, ago=timedelta(minutes=5))
        own = exam.closes_at + timedelta(minutes=60)
        response = self.office.put(
            f"/api/exams/{exam.id}/accommodations/{student.student_number}",
            {"extra_minutes": 20, "closes_at": own.isoformat()},
            format="json",
        )
        self.assertEqual(response.status_code, 200, response.content)
        attempt = Attempt.objects.get(exam=exam, student=student)
        self.assertEqual(attempt.deadline, min(attempt.started_at + timedelta(minutes=140), own))

    def test_a_student_with_a_later_closing_time_can_start_after_the_exam_closes(self) -> None:
        now = timezone.now()
        exam = self.exam(closes_at=now + timedelta(minutes=1), duration_minutes=30)
        student = make_student()
        self.office.put(
            f"/api/exams/{exam.id}/accommodations/{student.student_number}", {"extra_minutes": 30}, format="json"
        )
        Exam.objects.filter(pk=exam.pk).update(closes_at=now - timedelta(minutes=1))  # closed for everybody else
        attempt, created = services.attempt_start(student=student, exam_id=exam.id, now=now)
        self.assertTrue(created)
        self.assertEqual(attempt.deadline, now - timedelta(minutes=1) + timedelta(minutes=30))

    def test_removing_it_never_ends_a_running_attempt_before_now(self) -> None:
        exam = self.exam(duration_minutes=30)
        student = self.started(exam, ago=timedelta(minutes=40))
        url = f"/api/exams/{exam.id}/accommodations/{student.student_number}"
        self.office.put(url, {"extra_minutes": 30}, format="json")
        self.assertEqual(self.save(exam, student).status_code, 200)
        before = timezone.now()
        self.assertEqual(self.office.delete(url).status_code, 204)
        self.assertGreaterEqual(self.deadline(exam, student), before)  # not started_at + 30 min, 10 min ago
        self.assertEqual(self.office.delete(url).status_code, 404)

    def test_it_lists_them_and_refuses_strangers(self) -> None:
        exam = self.exam()
        a, b = make_student(), make_student()
        for student, extra in ((b, 10), (a, 5)):
            self.office.put(
                f"/api/exams/{exam.id}/accommodations/{student.student_number}", {"extra_minutes": extra}, format="json"
            )
        page = self.office.get(f"/api/exams/{exam.id}/accommodations").json()
        self.assertEqual(page["count"], 2)
        self.assertEqual([r["student_number"] for r in page["results"]], sorted([a.student_number, b.student_number]))
        elsewhere = make_student(level="Year 2")
        url = f"/api/exams/{exam.id}/accommodations/{elsewhere.student_number}"
        self.assertEqual(self.office.put(url, {"extra_minutes": 5}, format="json").status_code, 404)
        other = APIClient()
        other.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(make_doctor())}")
        url = f"/api/exams/{exam.id}/accommodations/{a.student_number}"
        self.assertEqual(other.put(url, {"extra_minutes": 5}, format="json").status_code, 404)
        self.assertEqual(self.office.put(url, {"extra_minutes": -1}, format="json").status_code, 400)
        early = (exam.closes_at - timedelta(minutes=1)).isoformat()
        response = self.office.put(url, {"extra_minutes": 5, "closes_at": early}, format="json")
        self.assertEqual(response.status_code, 422, response.content)

    def test_each_change_is_in_the_audit_record(self) -> None:
        exam = self.exam()
        student = make_student()
        url = f"/api/exams/{exam.id}/accommodations/{student.student_number}"
        self.office.put(url, {"extra_minutes": 10}, format="json")
        self.office.put(url, {"extra_minutes": 25}, format="json")
        self.office.delete(url)
        records = list(AuditRecord.objects.filter(exam_id=exam.id).order_by("id"))
        self.assertEqual(
            [r.action for r in records], ["accommodation.set", "accommodation.set", "accommodation.removed"]
        )
        self.assertEqual(records[1].detail["previous"], {"extra_minutes": 10, "closes_at": None})
        self.assertEqual(records[1].actor_id, self.doctor.id)


class ExamTimeChangeTests(OfficeTestCase):
    def patch(self, exam: Exam, **changes: object):
        body = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in changes.items()}
        response = self.office.patch(f"/api/exams/{exam.id}", body, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        return response

    def test_a_later_closing_time_reaches_every_running_attempt(self) -> None:
        now = timezone.now()
        exam = self.exam(duration_minutes=120, closes_at=now + timedelta(minutes=1), grace_seconds=0)
        students = [self.started(exam, ago=timedelta(minutes=m)) for m in (1, 2)]
        for student in students:
            self.assertEqual(self.save(exam, student).status_code, 200)  # windows cached, ending at closes_at
        Exam.objects.filter(pk=exam.pk).update(closes_at=now - timedelta(seconds=5))
        services.exam_update(user=self.doctor, exam_id=exam.id, changes={"closes_at": now + timedelta(minutes=30)})
        for student in students:
            _, window = hot_context_get(exam_id=exam.id, student_id=student.id)  # what the next save reads
            self.assertEqual(window.deadline if window else None, now + timedelta(minutes=30))
            self.assert_saves(exam, student, 200)
            attempt = Attempt.objects.get(exam=exam, student=student)
            self.assertEqual(attempt.deadline, now + timedelta(minutes=30))

    def test_an_earlier_closing_time_never_ends_a_running_attempt_before_the_change(self) -> None:
        exam = self.exam(duration_minutes=60, grace_seconds=30)
        student = self.started(exam, ago=timedelta(minutes=10))
        self.assertEqual(self.save(exam, student).status_code, 200)
        before = timezone.now()
        self.patch(exam, closes_at=before - timedelta(minutes=5))
        deadline = self.deadline(exam, student)
        self.assertGreaterEqual(deadline, before)
        self.assertLess(deadline, timezone.now() + timedelta(seconds=1))
        self.assert_saves(exam, student, 200)  # within the grace after the moment of the change

    def test_a_shorter_duration_reaches_the_hot_path(self) -> None:
        exam = self.exam(duration_minutes=60, grace_seconds=0)
        student = self.started(exam, ago=timedelta(minutes=20))
        self.assertEqual(self.save(exam, student).status_code, 200)
        self.patch(exam, duration_minutes=30)
        attempt = Attempt.objects.get(exam=exam, student=student)
        self.assertEqual(attempt.deadline, attempt.started_at + timedelta(minutes=30))
        Attempt.objects.filter(pk=attempt.pk).update(deadline=timezone.now() - timedelta(seconds=1))
        Exam.objects.filter(pk=exam.pk).update(timing_version=exam.timing_version + 7)  # the window is stale
        self.assertEqual(self.save(exam, student).status_code, 409)

    def test_a_grace_change_reaches_the_hot_path(self) -> None:
        exam = self.exam(duration_minutes=30, grace_seconds=0)
        student = self.started(exam, ago=timedelta(minutes=31))
        self.assertEqual(self.save(exam, student).status_code, 409)
        self.patch(exam, grace_seconds=300)
        self.assert_saves(exam, student, 200)

    def test_an_edit_in_the_admin_or_the_shell_reaches_running_attempts_too(self) -> None:
        exam = self.exam(duration_minutes=30)
        student = self.started(exam, ago=timedelta(minutes=31))
        self.assertEqual(self.save(exam, student).status_code, 409)
        exam.refresh_from_db()
        exam.duration_minutes = 60
        exam.save()
        self.assertEqual(exam.timing_version, 1)
        self.assert_saves(exam, student, 200)

    def test_edits_status_and_release_changes_are_in_the_audit_record(self) -> None:
        now = timezone.now()
        exam = self.exam(opens_at=now - timedelta(hours=3), closes_at=now - timedelta(hours=2))
        q, choices, correct = self.questions[0]
        wrong = next(c for c in choices if c not in correct)
        body = [
            {"id": qid, "text": "Q", "choices": [{"id": c, "text": "c", "is_correct": c == wrong} for c in cids]}
            for qid, cids, _ in self.questions[:1]
        ] + [
            {"id": qid, "text": "Q", "choices": [{"id": c, "text": "c", "is_correct": c in right} for c in cids]}
            for qid, cids, right in self.questions[1:]
        ]
        self.patch(exam, title="Renamed", questions=body)
        self.patch(exam, status="closed", results_released=True)
        records = {r.action: r for r in AuditRecord.objects.filter(exam_id=exam.id)}
        self.assertEqual(records["exam.edited"].detail["fields"]["title"]["to"], "Renamed")
        self.assertEqual(records["exam.edited"].detail["questions"], "replaced")
        corrected = records["question.key_corrected"].detail
        self.assertEqual((corrected["question"], corrected["after"]["correct_choices"]), (q, [wrong]))
        self.assertEqual(records["exam.status_changed"].detail, {"from": "published", "to": "closed"})
        self.assertEqual(records["exam.results_released"].detail, {"from": False, "to": True})


class ReleaseTests(OfficeTestCase):
    def release(self, exam: Exam):
        return self.office.patch(f"/api/exams/{exam.id}", {"results_released": True}, format="json")

    def test_it_refuses_to_release_while_the_exam_is_open(self) -> None:
        exam = self.exam()
        response = self.release(exam)
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()["error"], "exam_not_closed")
        exam.refresh_from_db()
        self.assertFalse(exam.results_released)

    def test_it_refuses_within_the_grace_after_closing(self) -> None:
        now = timezone.now()
        exam = self.exam(opens_at=now - timedelta(hours=1), closes_at=now - timedelta(seconds=5), grace_seconds=60)
        self.assertEqual(self.release(exam).status_code, 409)

    def test_the_largest_extension_counts(self) -> None:
        now = timezone.now()
        exam = self.exam(opens_at=now - timedelta(hours=2), closes_at=now + timedelta(minutes=1), grace_seconds=0)
        student = make_student()
        self.office.put(
            f"/api/exams/{exam.id}/accommodations/{student.student_number}", {"extra_minutes": 30}, format="json"
        )
        Exam.objects.filter(pk=exam.pk).update(closes_at=now - timedelta(minutes=10))
        self.assertEqual(self.release(exam).status_code, 409)  # they may still start and save for 20 minutes
        Exam.objects.filter(pk=exam.pk).update(closes_at=now - timedelta(minutes=31))
        self.assertEqual(self.release(exam).status_code, 200)

    def test_a_reopened_attempt_blocks_the_release_even_on_a_closed_exam(self) -> None:
        exam = self.exam(duration_minutes=30)
        student = self.started(exam, ago=timedelta(minutes=40))
        self.office.post(
            f"/api/exams/{exam.id}/attempts/{student.student_number}/reopen",
            {"extra_minutes": 10, "reason": "Power cut in room B"},
            format="json",
        )
        Exam.objects.filter(pk=exam.pk).update(
            status=Exam.Status.CLOSED, closes_at=timezone.now() - timedelta(minutes=1)
        )
        self.assertEqual(self.release(exam).status_code, 409)

    def test_it_releases_once_nobody_can_save(self) -> None:
        now = timezone.now()
        exam = self.exam(opens_at=now - timedelta(hours=2), closes_at=now - timedelta(minutes=5), grace_seconds=30)
        self.assertEqual(self.release(exam).status_code, 200)
        record = AuditRecord.objects.get(exam_id=exam.id, action="exam.results_released")
        self.assertEqual(record.detail, {"from": False, "to": True})
        # And once released, a change of the times that would let somebody save again is refused.
        response = self.office.patch(
            f"/api/exams/{exam.id}", {"closes_at": (now + timedelta(hours=1)).isoformat()}, format="json"
        )
        self.assertEqual(response.status_code, 409)
        student = make_student()
        url = f"/api/exams/{exam.id}/accommodations/{student.student_number}"
        response = self.office.put(url, {"extra_minutes": 60}, format="json")
        self.assertEqual((response.status_code, response.json()["error"]), (409, "results_released"))


class ReopenTests(OfficeTestCase):
    def reopen(self, exam: Exam, student, **body: object):
        return self.office.post(
            f"/api/exams/{exam.id}/attempts/{student.student_number}/reopen",
            body or {"extra_minutes": 10, "reason": "Power cut in room B"},
            format="json",
        )

    def test_a_finished_attempt_can_save_again_until_now_plus_the_extra_minutes(self) -> None:
        exam = self.exam()
        student = self.started(exam, ago=timedelta(minutes=5))
        services.attempt_finish(student_id=student.id, exam_id=exam.id, now=timezone.now())
        self.assertEqual(self.save(exam, student).status_code, 409)
        before = timezone.now()
        response = self.reopen(exam, student)
        self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        self.assertIsNone(body["finished_at"])
        self.assertEqual(body["student_number"], student.student_number)
        self.assertGreaterEqual(datetime.fromisoformat(body["reopened_until"]), before + timedelta(minutes=10))
        self.assert_saves(exam, student, 200)
        record = AuditRecord.objects.get(exam_id=exam.id, action="attempt.reopened")
        self.assertEqual(record.detail["reason"], "Power cut in room B")
        self.assertIsNotNone(record.detail["previous"]["finished_at"])

    def test_an_expired_attempt_of_a_closed_exam_can_save_again(self) -> None:
        exam = self.exam(duration_minutes=30)
        student = self.started(exam, ago=timedelta(minutes=60))
        Exam.objects.filter(pk=exam.pk).update(status=Exam.Status.CLOSED)
        self.assertEqual(self.reopen(exam, student).status_code, 200)
        self.assert_saves(exam, student, 200)
        self.assertEqual(self.save(exam, self.started_closed(exam)).status_code, 409)  # nobody else

    def started_closed(self, exam: Exam):
        """A student whose attempt expired on the same closed exam, and was not reopened."""
        student = make_student()
        Exam.objects.filter(pk=exam.pk).update(status=Exam.Status.PUBLISHED)
        services.attempt_start(student=student, exam_id=exam.id, now=timezone.now() - timedelta(minutes=10))
        Exam.objects.filter(pk=exam.pk).update(status=Exam.Status.CLOSED)
        cache.clear()
        return student

    def test_it_needs_a_reason_an_attempt_and_unreleased_results(self) -> None:
        exam = self.exam()
        student = self.started(exam, ago=timedelta(minutes=5))
        self.assertEqual(self.reopen(exam, student, extra_minutes=10, reason="  ").status_code, 400)
        self.assertEqual(self.reopen(exam, student, extra_minutes=0, reason="why").status_code, 400)
        self.assertEqual(self.reopen(exam, make_student()).status_code, 404)
        Exam.objects.filter(pk=exam.pk).update(results_released=True)
        response = self.reopen(exam, student)
        self.assertEqual((response.status_code, response.json()["error"]), (409, "results_released"))


class AttemptsAndHistoryTests(OfficeTestCase):
    def test_the_attempts_list_shows_progress(self) -> None:
        exam = self.exam()
        busy = self.started(exam, ago=timedelta(minutes=5))
        idle = self.started(exam, ago=timedelta(minutes=4))
        self.save(exam, busy)
        page = self.office.get(f"/api/exams/{exam.id}/attempts").json()
        self.assertEqual(page["count"], 2)
        rows = {r["student_number"]: r for r in page["results"]}
        self.assertEqual(rows[busy.student_number]["answered"], 1)
        self.assertIsNotNone(rows[busy.student_number]["last_saved_at"])
        self.assertEqual(rows[idle.student_number]["answered"], 0)
        self.assertIsNone(rows[idle.student_number]["last_saved_at"])
        self.assertEqual(rows[idle.student_number]["full_name"], idle.full_name)
        self.assertEqual(
            set(rows[idle.student_number]),
            {
                "student_number",
                "full_name",
                "started_at",
                "deadline",
                "finished_at",
                "reopened_until",
                "answered",
                "last_saved_at",
            },
        )

    def test_the_history_has_every_acknowledged_save_from_both_roads_in_order(self) -> None:
        exam = self.exam()
        student = self.started(exam, ago=timedelta(minutes=5))
        self.assertEqual(self.save(exam, student, road="lean", agent="Phone/1").status_code, 200)
        self.assertEqual(self.save(exam, student, road="drf", agent="Laptop/2").status_code, 200)
        services.attempt_finish(student_id=student.id, exam_id=exam.id, now=timezone.now())
        self.assertEqual(self.save(exam, student, agent="Late/3").status_code, 409)  # refused: not in the history
        response = self.office.get(f"/api/exams/{exam.id}/attempts/{student.student_number}/history")
        self.assertEqual(response.status_code, 200, response.content)
        events = response.json()["events"]
        self.assertEqual([e["user_agent"] for e in events], ["Phone/1", "Laptop/2"])
        self.assertEqual({e["client_ip"] for e in events}, {"127.0.0.1"})
        self.assertEqual(events[0]["question"], self.questions[0][0])
        self.assertLessEqual(events[0]["saved_at"], events[1]["saved_at"])
        nobody = self.office.get(f"/api/exams/{exam.id}/attempts/{make_student().student_number}/history")
        self.assertEqual(nobody.status_code, 404)
