"""The test runner: Django's, ending with the line `N passed, N failed, N skipped`.

It also points the Cassandra answer store at a keyspace of its own (CASSANDRA_TEST_KEYSPACE, or else the
test database's name, so parallel runs with their own TEST_DATABASE_NAME do not share one), creates its
schema, and drops it afterwards unless --keepdb.
"""

import logging
import re
import sys
import unittest
from typing import Any

from django.conf import settings
from django.test.runner import DiscoverRunner


def test_keyspace() -> str:
    conf = settings.CASSANDRA
    name = conf.get("TEST_KEYSPACE") or settings.DATABASES["default"]["TEST"].get("NAME") or "test"
    name = re.sub(r"[^a-z0-9_]", "_", name.lower())[:48]
    if not name[0].isalpha():
        name = f"t{name}"[:48]
    if name == conf["KEYSPACE"]:
        name = f"{name[:43]}_test"
    return name


class CountingTestRunner(DiscoverRunner):
    def setup_test_environment(self, **kwargs: Any) -> None:
        super().setup_test_environment(**kwargs)
        # One line per request and per task is for servers; tests that check them capture them themselves.
        for name in ("exams.request", "exams.task"):
            logging.getLogger(name).setLevel(logging.WARNING)

    def setup_databases(self, **kwargs: Any) -> Any:
        old_config = super().setup_databases(**kwargs)
        self._cassandra_keyspace = self._setup_cassandra()
        return old_config

    def teardown_databases(self, old_config: Any, **kwargs: Any) -> None:
        self._teardown_cassandra()
        super().teardown_databases(old_config, **kwargs)

    def _setup_cassandra(self) -> str:
        from core.answers.cassandra import CassandraAnswerStore, schema_options
        from core.answers.store import AnswerStoreUnavailable, reset_answer_store

        keyspace = test_keyspace()
        settings.CASSANDRA["KEYSPACE"] = keyspace
        reset_answer_store()
        store = CassandraAnswerStore.from_settings()
        try:
            store.sync_schema(**schema_options())
        except AnswerStoreUnavailable as exc:
            # Suites that use Cassandra fail on their own; the others can run without it.
            if settings.ANSWER_STORE == "cassandra":
                raise
            print(f"Cassandra is unreachable, keyspace {keyspace} not synced: {exc.__cause__}", file=sys.stderr)
        finally:
            store.close()
        return keyspace

    def _teardown_cassandra(self) -> None:
        from core.answers.cassandra import CassandraAnswerStore
        from core.answers.store import reset_answer_store

        reset_answer_store()
        if self.keepdb:
            return
        store = CassandraAnswerStore.from_settings()
        try:
            store.drop_keyspace()
        except Exception as exc:  # best effort: never hide the test results
            print(f"Could not drop the Cassandra keyspace {self._cassandra_keyspace}: {exc}", file=sys.stderr)
        finally:
            store.close()

    def run_suite(self, suite: unittest.TestSuite, **kwargs: object) -> unittest.TextTestResult:
        result = super().run_suite(suite, **kwargs)
        self._result = result
        return result

    def suite_result(self, suite: unittest.TestSuite, result: unittest.TextTestResult, **kwargs: object) -> int:
        failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
        skipped = len(result.skipped) + len(result.expectedFailures)
        passed = result.testsRun - failed - skipped
        print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
        return super().suite_result(suite, result, **kwargs)
