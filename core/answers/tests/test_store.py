from __future__ import annotations

import io

from django.conf import settings
from django.core.management import call_command
from django.test import SimpleTestCase, override_settings

from core.answers.cassandra import CassandraAnswerStore
from core.answers.postgres import PostgresAnswerStore
from core.answers.store import answer_store, reset_after_fork
from core.answers.tests.test_contract import quiet_driver
from core.common.health import run_checks


class AnswerStoreChoiceTests(SimpleTestCase):
    def test_it_builds_the_configured_backend_once_per_process(self):
        with override_settings(ANSWER_STORE="cassandra"):
            store = answer_store()
            self.assertIsInstance(store, CassandraAnswerStore)
            self.assertIs(answer_store(), store)
        with override_settings(ANSWER_STORE="postgres"):
            self.assertIsInstance(answer_store(), PostgresAnswerStore)

    def test_after_a_fork_the_cassandra_backend_makes_a_new_session(self):
        with override_settings(ANSWER_STORE="cassandra"):
            store = answer_store()
            self.assertTrue(store.ping())
            before = store.connection.session()
            reset_after_fork()
            self.assertIs(answer_store(), store)
            self.assertIsNot(store.connection.session(), before)
            self.assertTrue(store.ping())
            before.cluster.shutdown()  # in a real child this would belong to the parent

    def test_the_health_check_reports_the_answer_store(self):
        with override_settings(ANSWER_STORE="cassandra"):
            self.assertEqual(run_checks()["answers"], "UP")
        with override_settings(ANSWER_STORE="cassandra", CASSANDRA={**settings.CASSANDRA, "PORT": 1}), quiet_driver():
            self.assertEqual(run_checks()["answers"], "DOWN")


class CassandraSyncCommandTests(SimpleTestCase):
    def test_it_does_nothing_when_answers_live_in_postgres(self):
        out = io.StringIO()
        with override_settings(ANSWER_STORE="postgres"):
            call_command("cassandra_sync", stdout=out)
        self.assertIn("nothing to sync", out.getvalue())

    def test_it_is_idempotent(self):
        out = io.StringIO()
        with override_settings(ANSWER_STORE="cassandra"):
            call_command("cassandra_sync", stdout=out)
            call_command("cassandra_sync", stdout=out)
        self.assertIn(f"Keyspace {settings.CASSANDRA['KEYSPACE']} is up to date.", out.getvalue())


class AnswerHistorySwitchTests(SimpleTestCase):
    databases = {"default"}

    def test_with_the_history_switched_off_answers_are_saved_without_it_and_a_check_warns(self):
        from datetime import UTC, datetime
        from random import randrange

        from django.core import checks

        exam_id = randrange(1, 2**62)
        for kind in ("cassandra", "postgres"):
            with self.subTest(kind), override_settings(ANSWER_STORE=kind, ANSWER_HISTORY=False):
                store = answer_store()
                store.save(exam_id=exam_id, student_id=1, answers=[(1, [2])], saved_at=datetime.now(UTC))
                self.assertEqual([a.choice_ids for a in store.for_student(exam_id=exam_id, student_id=1)], [(2,)])
                self.assertEqual(store.history(exam_id=exam_id, student_id=1), [])
                self.assertIn("answers.W001", [m.id for m in checks.run_checks()])
        self.assertNotIn("answers.W001", [m.id for m in checks.run_checks()])
