"""One contract, run against both answer stores (real servers: PostgreSQL, and Cassandra in the test
keyspace that core/test_runner.py sets up). If Cassandra is not reachable the Cassandra tests fail."""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import time
from datetime import UTC, datetime, timedelta

from django.db import connections
from django.test import SimpleTestCase, TestCase

from core.answers.store import (
    USER_AGENT_MAX,
    AnswerStore,
    AnswerStoreUnavailable,
    SaveEvent,
    SaveOrigin,
    StoredAnswer,
    build_answer_store,
)

T0 = datetime(2026, 5, 1, 9, 0, 0, 123_456, tzinfo=UTC)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def quiet_driver():
    """The Cassandra driver logs a traceback for every refused connection; these tests expect them."""
    logger = logging.getLogger("cassandra")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


class AnswerStoreContract:
    """Mixed into one TestCase per backend; `store` is the backend under test, `down_store()` one that
    points at a server that is not there."""

    store: AnswerStore

    def down_store(self) -> AnswerStore:
        raise NotImplementedError

    def setUp(self) -> None:
        super().setUp()
        # Cassandra keeps rows between tests (no transaction to roll back): every test gets its own exam id.
        self.exam_id = random.randrange(1, 2**62)

    def test_it_reads_back_a_students_answers_ordered_by_question(self):
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(30, [5]), (10, [2, 1]), (20, [])], saved_at=T0)
        answers = self.store.for_student(exam_id=self.exam_id, student_id=1)
        self.assertEqual([a.question_id for a in answers], [10, 20, 30])
        self.assertEqual(answers[0], StoredAnswer(question_id=10, choice_ids=(1, 2), saved_at=answers[0].saved_at))
        self.assertEqual(answers[1].choice_ids, ())  # an emptied answer is kept as empty
        self.assertEqual(answers[2].choice_ids, (5,))

    def test_saved_at_comes_back_in_utc_to_the_millisecond(self):
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [1])], saved_at=T0)
        (answer,) = self.store.for_student(exam_id=self.exam_id, student_id=1)
        self.assertEqual(answer.saved_at, T0.replace(microsecond=123_000))
        self.assertEqual(answer.saved_at.utcoffset(), timedelta(0))

    def test_choice_ids_come_back_sorted_without_duplicates(self):
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [9, 3, 9, 2**40])], saved_at=T0)
        self.assertEqual(self.store.for_student(exam_id=self.exam_id, student_id=1)[0].choice_ids, (3, 9, 2**40))

    def test_a_later_save_replaces_that_question_only(self):
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [1]), (2, [2])], saved_at=T0)
        later = T0 + timedelta(seconds=5)
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [7, 8])], saved_at=later)
        answers = {a.question_id: a for a in self.store.for_student(exam_id=self.exam_id, student_id=1)}
        self.assertEqual(answers[1].choice_ids, (7, 8))
        self.assertEqual(answers[1].saved_at, later.replace(microsecond=123_000))
        self.assertEqual(answers[2].choice_ids, (2,))
        self.assertEqual(len(answers), 2)

    def test_an_older_save_that_arrives_late_does_not_replace_a_newer_one(self):
        # Two racing requests: the one the server timed later wins, whatever order they reach the store in.
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [2])], saved_at=T0 + timedelta(seconds=1))
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [1])], saved_at=T0)
        (answer,) = self.store.for_student(exam_id=self.exam_id, student_id=1)
        self.assertEqual(answer.choice_ids, (2,))

    def test_a_question_repeated_in_one_save_keeps_its_last_choices(self):
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [1]), (1, [2])], saved_at=T0)
        self.assertEqual(self.store.for_student(exam_id=self.exam_id, student_id=1)[0].choice_ids, (2,))

    def test_answers_are_kept_apart_per_exam_and_student(self):
        other_exam = self.exam_id + 1
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [1])], saved_at=T0)
        self.store.save(exam_id=self.exam_id, student_id=2, answers=[(1, [2])], saved_at=T0)
        self.store.save(exam_id=other_exam, student_id=1, answers=[(1, [3])], saved_at=T0)
        self.assertEqual(self.store.for_student(exam_id=self.exam_id, student_id=1)[0].choice_ids, (1,))
        self.assertEqual(self.store.for_student(exam_id=self.exam_id, student_id=2)[0].choice_ids, (2,))
        self.assertEqual(self.store.for_student(exam_id=other_exam, student_id=1)[0].choice_ids, (3,))
        self.assertEqual(self.store.for_student(exam_id=self.exam_id, student_id=3), [])

    def test_saving_nothing_is_a_no_op(self):
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[], saved_at=T0)
        self.assertEqual(self.store.for_student(exam_id=self.exam_id, student_id=1), [])

    def test_for_exam_reads_every_student_at_once(self):
        students, questions = 200, 20
        for student_id in range(1, students + 1):
            answers = [(q, [q * 10 + student_id % 4]) for q in range(1, questions + 1)]
            self.store.save(exam_id=self.exam_id, student_id=student_id, answers=answers, saved_at=T0)
        silent = [students + 1, students + 2]  # enrolled, saved nothing
        started = time.monotonic()
        found = self.store.for_exam(exam_id=self.exam_id, student_ids=[*range(1, students + 1), *silent])
        elapsed = time.monotonic() - started
        self.assertEqual(len(found), students + 2)
        self.assertEqual(sum(len(a) for a in found.values()), students * questions)
        self.assertEqual([a.question_id for a in found[17]], list(range(1, questions + 1)))
        self.assertEqual(found[17][4].choice_ids, (51,))
        self.assertEqual(found[silent[0]], [])
        self.assertLess(elapsed, 5.0)
        self.assertEqual(self.store.for_exam(exam_id=self.exam_id, student_ids=[]), {})

    # --- the save history ---

    def test_the_history_keeps_every_save_in_server_time_order_also_the_replaced_ones(self):
        phone = SaveOrigin(client_ip="10.0.0.7", user_agent="Phone/1.0")
        laptop = SaveOrigin(client_ip="2001:db8::1", user_agent="Laptop/2.0")
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [2])], saved_at=T0, origin=phone)
        later = T0 + timedelta(seconds=3)
        self.store.save(
            exam_id=self.exam_id, student_id=1, answers=[(1, [3]), (2, [5, 4])], saved_at=later, origin=laptop
        )
        self.assertEqual(
            self.store.history(exam_id=self.exam_id, student_id=1),
            [
                SaveEvent(1, (2,), T0.replace(microsecond=123_000), "10.0.0.7", "Phone/1.0"),
                SaveEvent(1, (3,), later.replace(microsecond=123_000), "2001:db8::1", "Laptop/2.0"),
                SaveEvent(2, (4, 5), later.replace(microsecond=123_000), "2001:db8::1", "Laptop/2.0"),
            ],
        )
        # The answers themselves keep only the last save of each question.
        self.assertEqual(
            [a.choice_ids for a in self.store.for_student(exam_id=self.exam_id, student_id=1)], [(3,), (4, 5)]
        )

    def test_the_history_orders_by_server_time_not_by_arrival(self):
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [2])], saved_at=T0 + timedelta(seconds=1))
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [1])], saved_at=T0)
        events = self.store.history(exam_id=self.exam_id, student_id=1)
        self.assertEqual([e.choice_ids for e in events], [(1,), (2,)])
        self.assertEqual(self.store.for_student(exam_id=self.exam_id, student_id=1)[0].choice_ids, (2,))

    def test_the_history_orders_saves_a_microsecond_apart(self):
        for step in range(5):
            moment = T0 + timedelta(microseconds=step)
            self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [step])], saved_at=moment)
        self.assertEqual(
            [e.choice_ids for e in self.store.history(exam_id=self.exam_id, student_id=1)],
            [(0,), (1,), (2,), (3,), (4,)],
        )

    def test_two_saves_at_the_same_moment_are_both_kept(self):
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [1])], saved_at=T0)
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [2])], saved_at=T0)
        self.assertEqual(
            sorted(e.choice_ids for e in self.store.history(exam_id=self.exam_id, student_id=1)), [(1,), (2,)]
        )

    def test_the_items_of_one_save_keep_their_order(self):
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(30, [1]), (10, [2]), (20, [3])], saved_at=T0)
        self.assertEqual([e.question_id for e in self.store.history(exam_id=self.exam_id, student_id=1)], [30, 10, 20])

    def test_a_save_without_an_origin_records_empty_strings_and_a_long_user_agent_is_cut(self):
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [1])], saved_at=T0)
        long_agent = SaveOrigin(client_ip="127.0.0.1", user_agent="x" * (USER_AGENT_MAX + 100))
        self.store.save(
            exam_id=self.exam_id,
            student_id=1,
            answers=[(1, [2])],
            saved_at=T0 + timedelta(seconds=1),
            origin=long_agent,
        )
        first, second = self.store.history(exam_id=self.exam_id, student_id=1)
        self.assertEqual((first.client_ip, first.user_agent), ("", ""))
        self.assertEqual(len(second.user_agent), USER_AGENT_MAX)

    def test_the_history_is_kept_apart_per_exam_and_student(self):
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[(1, [1])], saved_at=T0)
        self.store.save(exam_id=self.exam_id, student_id=2, answers=[(1, [2])], saved_at=T0)
        self.store.save(exam_id=self.exam_id + 1, student_id=1, answers=[(1, [3])], saved_at=T0)
        self.assertEqual([e.choice_ids for e in self.store.history(exam_id=self.exam_id, student_id=1)], [(1,)])
        self.assertEqual([e.choice_ids for e in self.store.history(exam_id=self.exam_id, student_id=2)], [(2,)])
        self.assertEqual(self.store.history(exam_id=self.exam_id, student_id=3), [])

    def test_saving_nothing_adds_nothing_to_the_history(self):
        self.store.save(exam_id=self.exam_id, student_id=1, answers=[], saved_at=T0)
        self.assertEqual(self.store.history(exam_id=self.exam_id, student_id=1), [])

    def test_ping_is_true_when_the_store_answers(self):
        self.assertIs(self.store.ping(), True)

    def test_a_store_that_is_down_refuses_with_answer_store_unavailable(self):
        down = self.down_store()
        try:
            started = time.monotonic()
            with quiet_driver():
                with self.assertRaises(AnswerStoreUnavailable) as raised:
                    down.save(exam_id=self.exam_id, student_id=1, answers=[(1, [1])], saved_at=T0)
                self.assertEqual(raised.exception.status, 503)
                with self.assertRaises(AnswerStoreUnavailable):
                    down.for_student(exam_id=self.exam_id, student_id=1)
                with self.assertRaises(AnswerStoreUnavailable):
                    down.for_exam(exam_id=self.exam_id, student_ids=[1, 2])
                with self.assertRaises(AnswerStoreUnavailable):
                    down.history(exam_id=self.exam_id, student_id=1)
                self.assertIs(down.ping(), False)
            self.assertLess(time.monotonic() - started, 5.0)
        finally:
            down.close()


class CassandraAnswerStoreTests(AnswerStoreContract, SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.store = build_answer_store("cassandra")

    @classmethod
    def tearDownClass(cls):
        cls.store.close()
        super().tearDownClass()

    def down_store(self) -> AnswerStore:
        return build_answer_store("cassandra", port=closed_port(), connect_timeout=1.0)

    def test_it_uses_the_test_keyspace_not_the_dev_one(self):
        from django.conf import settings

        self.assertNotEqual(self.store.connection.keyspace, "exams")
        self.assertEqual(self.store.connection.keyspace, settings.CASSANDRA["KEYSPACE"])


class PostgresAnswerStoreTests(AnswerStoreContract, TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.store = build_answer_store("postgres")

    def down_store(self) -> AnswerStore:
        live = connections["default"]
        settings_dict = {**live.settings_dict, "PORT": str(closed_port())}
        return build_answer_store("postgres", connection=type(live)(settings_dict, alias="answers_down"))
