"""Saves per minute (core/exams/save_rate.py), against the real Redis: acknowledged saves of both PUT roads are
counted, refused ones are not, and the counts of several processes add up in the same keys."""

from __future__ import annotations

import json
import multiprocessing
import time

from django.conf import settings
from django.core.cache import cache
from django.test import TestCase, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from core.exams import save_rate
from core.exams.save_rate import save_rate_flush, save_rate_read, save_rate_record
from core.exams.tests.factories import ids_of, make_doctor, make_exam, make_student, token_for

DRF_ROAD = "application/json; charset=iso-8859-1"  # a content type the lean road leaves to DRF


def saves_total(exam_id: int) -> int:
    return sum(count for _, count in save_rate_read(exam_id=exam_id, now=timezone.now(), minutes=3))


def _record_in_a_child(exam_id: int, times: int) -> None:
    for _ in range(times):
        save_rate_record(exam_id=exam_id)
    save_rate_flush()


class SaveRateTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.exam = make_exam(owner=cls.doctor, level="Year 1")
        cls.other_exam = make_exam(owner=cls.doctor, level="Year 1")
        (cls.q1, _, cls.q1_correct), (cls.q2, _, cls.q2_correct) = ids_of(cls.exam)

    def setUp(self) -> None:
        cache.clear()
        save_rate_flush()  # nothing of an earlier test is left to send into this one

    def wait_for_total(self, exam_id: int, expected: int) -> int:
        """The exam's saves in Redis once every process-local count was sent (the flusher thread may be sending
        some at this moment, so wait a little for it, but never for more than a few flushes)."""
        deadline = time.monotonic() + 5 * save_rate.FLUSH_SECONDS
        while True:
            save_rate_flush()
            total = saves_total(exam_id)
            if total >= expected or time.monotonic() > deadline:
                return total
            time.sleep(0.05)

    def client_for(self, student: object) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(student)}")  # type: ignore[arg-type]
        return client

    def put(self, client: APIClient, answers: list[dict[str, object]], content_type: str = "application/json"):
        body = json.dumps({"answers": answers})
        return client.generic("PUT", f"/api/exams/{self.exam.id}/answers", body, content_type=content_type)

    def test_acknowledged_saves_of_both_roads_are_counted_and_refused_ones_are_not(self) -> None:
        student, late = make_student(level="Year 1"), make_student(level="Year 1")
        client = self.client_for(student)
        good = [{"question": self.q1, "choices": self.q1_correct}]
        self.assertEqual(self.put(self.client_for(late), good).status_code, 409)  # not started: not counted
        self.assertEqual(client.post(f"/api/exams/{self.exam.id}/attempt").status_code, 201)
        for _ in range(3):
            self.assertEqual(self.put(client, good).status_code, 200)
        self.assertEqual(self.put(client, good, content_type=DRF_ROAD).status_code, 200)
        two_for_one = [{"question": self.q1, "choices": [*self.q1_correct, *self.q2_correct]}]
        self.assertEqual(self.put(client, two_for_one).status_code, 422)  # refused: not counted
        self.assertEqual(self.wait_for_total(self.exam.id, 4), 4)
        time.sleep(save_rate.FLUSH_SECONDS * 1.5)  # any flush under way has ended
        save_rate_flush()
        self.assertEqual(saves_total(self.exam.id), 4, "a refused save was counted")
        self.assertEqual(saves_total(self.other_exam.id), 0)

    def test_the_minutes_come_oldest_first_with_the_current_minute_last(self) -> None:
        now = timezone.now()
        save_rate_record(exam_id=self.other_exam.id)
        save_rate_record(exam_id=self.other_exam.id)
        self.assertEqual(self.wait_for_total(self.other_exam.id, 2), 2)
        minutes = save_rate_read(exam_id=self.other_exam.id, now=timezone.now(), minutes=10)
        self.assertEqual(len(minutes), 10)
        starts = [start for start, _ in minutes]
        self.assertEqual(starts, sorted(starts))
        self.assertLessEqual(starts[-1], timezone.now())
        self.assertGreater(starts[-1], now - timezone.timedelta(minutes=1, seconds=5))
        self.assertEqual(sum(count for _, count in minutes[-2:]), 2)  # this minute (or the last, at a turn)
        self.assertEqual(sum(count for _, count in minutes[:-2]), 0)

    def test_the_counts_of_several_processes_add_up_and_a_child_never_sends_its_parents(self) -> None:
        exam_id = self.other_exam.id
        save_rate_record(exam_id=exam_id)
        save_rate_record(exam_id=exam_id)  # not yet sent when the children are forked
        children = [multiprocessing.get_context("fork").Process(target=_record_in_a_child, args=(exam_id, 3))]
        children.append(multiprocessing.get_context("fork").Process(target=_record_in_a_child, args=(exam_id, 4)))
        for child in children:
            child.start()
        for child in children:
            child.join(20)
            self.assertEqual(child.exitcode, 0)
        self.assertEqual(self.wait_for_total(exam_id, 9), 9)
        time.sleep(save_rate.FLUSH_SECONDS * 1.5)
        self.assertEqual(saves_total(exam_id), 9)

    def test_the_flusher_thread_sends_the_counts_on_its_own_within_about_a_second(self) -> None:
        exam_id = self.other_exam.id
        for _ in range(3):
            save_rate_record(exam_id=exam_id)
        deadline = time.monotonic() + 3 * save_rate.FLUSH_SECONDS
        while saves_total(exam_id) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # no save_rate_flush() here: the thread alone sends them
        self.assertEqual(saves_total(exam_id), 3)
        self.assertTrue(save_rate._flusher is not None and save_rate._flusher.is_alive())

    def test_counts_made_while_redis_is_unreachable_are_sent_once_it_answers(self) -> None:
        exam_id = self.other_exam.id
        unreachable = {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:9/0"}
        with override_settings(CACHES={"default": unreachable}):
            save_rate_record(exam_id=exam_id)
            save_rate_record(exam_id=exam_id)
            self.assertEqual(save_rate_flush(), 0)
            self.assertEqual(save_rate_read(exam_id=exam_id, now=timezone.now(), minutes=2)[-1][1], 0)
        self.assertEqual(self.wait_for_total(exam_id, 2), 2)
