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
