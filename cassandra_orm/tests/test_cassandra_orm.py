"""cassandra_orm against the real Cassandra (CASSANDRA_HOSTS / CASSANDRA_PORT, default 127.0.0.1:59042), in a
throwaway keyspace. Plain unittest: no Django. Run: manage.py test cassandra_orm."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
import unittest
from unittest import mock

from cassandra import WriteTimeout

import cassandra_orm
from cassandra_orm import Column, Connection, Table, Unavailable, consistency_level, sync
from cassandra_orm import connection as connection_module

HOSTS = [h.strip() for h in os.environ.get("CASSANDRA_HOSTS", "127.0.0.1").split(",")]
PORT = int(os.environ.get("CASSANDRA_PORT", "59042"))


def write_timeout() -> WriteTimeout:
    return WriteTimeout("timed out", consistency=6, required_responses=1, received_responses=0, write_type=0)


@contextlib.contextmanager
def quiet():
    """The driver logs a traceback for every refused connection; these tests expect them."""
    loggers = [logging.getLogger(name) for name in ("cassandra", "cassandra_orm")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Reading(Table):
    __table__ = "readings"
    sensor_id = Column("bigint", partition_key=True)
    day = Column("int", partition_key=True)
    at = Column("bigint", clustering="DESC")
    value = Column("double")
    tags = Column("frozen<set<text>>")


class TableDefinitionTests(unittest.TestCase):
    def test_it_builds_create_table_with_a_composite_partition_key_and_clustering_order(self):
        cql = Reading.create_cql("ks")
        self.assertIn("CREATE TABLE IF NOT EXISTS ks.readings (", cql)
        self.assertIn("PRIMARY KEY ((sensor_id, day), at)", cql)
        self.assertIn("WITH CLUSTERING ORDER BY (at DESC)", cql)
        self.assertIn("tags frozen<set<text>>", cql)

    def test_it_builds_upserts_and_selects_with_bind_markers(self):
        self.assertEqual(
            Reading.insert_cql("ks", columns=["sensor_id", "day", "at"], using_timestamp=True, ttl=True),
            "INSERT INTO ks.readings (sensor_id, day, at) VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?",
        )
        self.assertEqual(
            Reading.select_cql("ks", columns=["at", "value"], limit=5),
            "SELECT at, value FROM ks.readings WHERE sensor_id = ? AND day = ? LIMIT 5",
        )

    def test_it_refuses_unknown_columns_and_odd_identifiers(self):
        with self.assertRaises(ValueError):
            Reading.select_cql("ks", columns=["nope"])
        with self.assertRaises(ValueError):
            Reading.create_cql("Bad-Keyspace")
        with self.assertRaises(TypeError):

            class NoKey(Table):
                __table__ = "nokey"
                a = Column("int")

    def test_instances_are_plain_records(self):
        row = Reading(sensor_id=1, day=2, at=3, value=1.5)
        self.assertEqual(row, Reading(sensor_id=1, day=2, at=3, value=1.5, tags=None))
        with self.assertRaises(TypeError):
            Reading(colour="red")

    def test_it_reads_consistency_levels_by_name(self):
        from cassandra import ConsistencyLevel

        self.assertEqual(consistency_level("local_quorum"), ConsistencyLevel.LOCAL_QUORUM)
        self.assertEqual(consistency_level("ONE"), ConsistencyLevel.ONE)
        with self.assertRaises(ValueError):
            consistency_level("MOST")


class AgainstCassandraTests(unittest.TestCase):
    keyspace = f"orm_test_{os.getpid()}"

    @classmethod
    def setUpClass(cls):
        cls.conn = Connection(hosts=HOSTS, port=PORT, keyspace=cls.keyspace, consistency="LOCAL_QUORUM")
        cls.ran = sync(cls.conn.session(), cls.keyspace, [Reading], replication_factor=1)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.conn.session().execute(f"DROP KEYSPACE IF EXISTS {cls.keyspace}", timeout=60)
        finally:
            cls.conn.close()

    def test_sync_creates_the_keyspace_and_table_and_is_idempotent(self):
        self.assertTrue(any(cql.startswith("CREATE KEYSPACE IF NOT EXISTS") for cql in self.ran))
        self.assertEqual(sync(self.conn.session(), self.keyspace, [Reading], 1), [])
        meta = self.conn.session().cluster.metadata.keyspaces[self.keyspace]
        self.assertEqual(meta.replication_strategy.replication_factor, 1)
        self.assertIn("tags", meta.tables["readings"].columns)

    def test_sync_adds_a_missing_column(self):
        class Note(Table):
            __table__ = "notes"
            id = Column("bigint", partition_key=True)

        sync(self.conn.session(), self.keyspace, [Note])

        class NoteWithBody(Table):
            __table__ = "notes"
            id = Column("bigint", partition_key=True)
            body = Column("text")

        ran = sync(self.conn.session(), self.keyspace, [NoteWithBody])
        self.assertEqual(ran, [f"ALTER TABLE {self.keyspace}.notes ADD body text"])
        self.conn.execute(NoteWithBody.insert_cql(self.keyspace), (1, "hello"), idempotent=True)
        rows = self.conn.execute(NoteWithBody.select_cql(self.keyspace), (1,))
        self.assertEqual(rows, [{"id": 1, "body": "hello"}])

    def test_sync_refuses_a_column_that_exists_with_another_type(self):
        class Entry(Table):
            __table__ = "save_log"
            id = Column("bigint", partition_key=True)
            items = Column("frozen<list<frozen<tuple<bigint, frozen<set<bigint>>>>>>")

        sync(self.conn.session(), self.keyspace, [Entry])
        self.assertEqual(sync(self.conn.session(), self.keyspace, [Entry]), [])  # the same type, spelled alike

        class EntryAsText(Table):
            __table__ = "save_log"
            id = Column("bigint", partition_key=True)
            items = Column("text")

        with self.assertRaisesRegex(RuntimeError, r"save_log\.items exists as frozen<list<.*declared text"):
            sync(self.conn.session(), self.keyspace, [EntryAsText])

    def test_statements_are_prepared_once_per_session(self):
        cql = Reading.select_cql(self.keyspace)
        self.assertIs(self.conn.prepare(cql), self.conn.prepare(cql))

    def test_it_writes_and_reads_concurrently_in_order(self):
        insert = Reading.insert_cql(self.keyspace, using_timestamp=True)
        params = [(7, 1, at, float(at), {"a", str(at % 3)}, 1_000 + at) for at in range(500)]
        self.conn.execute_concurrent(insert, params, idempotent=True, concurrency=50)
        rows = self.conn.execute(Reading.select_cql(self.keyspace), (7, 1), idempotent=True)
        self.assertEqual([r["at"] for r in rows], list(range(499, -1, -1)))  # clustering DESC
        results = self.conn.execute_concurrent(
            Reading.select_cql(self.keyspace, where=["sensor_id", "day", "at"]),
            [(7, 1, at) for at in (3, 1, 2)],
            idempotent=True,
        )
        self.assertEqual([r[0]["value"] for r in results], [3.0, 1.0, 2.0])

    def test_an_older_write_time_does_not_replace_a_newer_one(self):
        insert = Reading.insert_cql(self.keyspace, columns=["sensor_id", "day", "at", "value"], using_timestamp=True)
        self.conn.execute(insert, (8, 1, 1, 2.0, 2_000), idempotent=True)
        self.conn.execute(insert, (8, 1, 1, 1.0, 1_000), idempotent=True)
        self.assertEqual(self.conn.execute(Reading.select_cql(self.keyspace), (8, 1))[0]["value"], 2.0)

    def test_idempotent_statements_that_time_out_are_sent_again(self):
        real = connection_module.execute_concurrent_with_args
        calls = []

        def flaky(session, statement, params, **kwargs):
            calls.append(len(params))
            outcomes = real(session, statement, params, **kwargs)
            if len(calls) == 1:  # the first attempt of the first statement "timed out" (it may have landed)
                outcomes[0] = (
                    False,
                    write_timeout(),
                )
            return outcomes

        insert = Reading.insert_cql(self.keyspace, columns=["sensor_id", "day", "at", "value"])
        with quiet(), mock.patch.object(connection_module, "execute_concurrent_with_args", flaky):
            self.conn.execute_concurrent(insert, [(9, 1, 1, 1.0), (9, 1, 2, 2.0)], idempotent=True)
        self.assertEqual(calls, [2, 1])
        self.assertEqual(len(self.conn.execute(Reading.select_cql(self.keyspace), (9, 1))), 2)

    def test_a_statement_that_keeps_timing_out_raises_unavailable_after_bounded_tries(self):
        calls = []

        def always_late(session, statement, params, **kwargs):
            calls.append(len(params))
            return [
                (
                    False,
                    write_timeout(),
                )
                for _ in params
            ]

        insert = Reading.insert_cql(self.keyspace, columns=["sensor_id", "day", "at", "value"])
        with quiet(), mock.patch.object(connection_module, "execute_concurrent_with_args", always_late):
            with self.assertRaises(Unavailable):
                self.conn.execute_concurrent(insert, [(10, 1, 1, 1.0)], idempotent=True)
            self.assertEqual(len(calls), self.conn.write_attempts)
            calls.clear()
            with self.assertRaises(Unavailable):
                self.conn.execute_concurrent(insert, [(10, 1, 1, 1.0)], idempotent=False)
            self.assertEqual(len(calls), 1)  # never resend a statement that is not idempotent

    def test_ping_answers_when_the_cluster_is_up(self):
        self.assertTrue(self.conn.ping())

    def test_a_new_session_is_made_after_a_fork(self):
        cql = Reading.select_cql(self.keyspace)
        insert = Reading.insert_cql(self.keyspace, columns=["sensor_id", "day", "at"])
        self.conn.execute_concurrent(insert, [(11, 1, at) for at in range(5)], idempotent=True)
        before = self.conn.session()
        pid = os.fork()
        if pid == 0:  # the child: must not reuse the parent's session, and must work
            signal.alarm(20)
            code = 1
            try:
                session = self.conn.session()
                rows = self.conn.execute(cql, (11, 1), idempotent=True)
                code = 0 if session is not before and len(rows) == 5 else 2
            except BaseException:
                code = 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        self.assertIs(self.conn.session(), before)  # the parent keeps its own
        self.assertEqual(len(self.conn.execute(cql, (11, 1))), 5)


class UnreachableClusterTests(unittest.TestCase):
    def test_a_closed_port_fails_fast_with_unavailable(self):
        conn = Connection(hosts=["127.0.0.1"], port=closed_port(), keyspace="nowhere", connect_timeout=2.0)
        started = time.monotonic()
        with quiet(), self.assertRaises(cassandra_orm.Unavailable):
            conn.execute("SELECT release_version FROM system.local")
        self.assertLess(time.monotonic() - started, 2.5)
        started = time.monotonic()
        with quiet():
            self.assertFalse(conn.ping())
        self.assertLess(time.monotonic() - started, 2.5)

    def test_a_node_that_never_answers_fails_within_the_connect_timeout(self):
        # A socket that accepts connections (the kernel's backlog) but never speaks: a frozen node.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(16)
            conn = Connection(hosts=["127.0.0.1"], port=silent.getsockname()[1], keyspace="x", connect_timeout=1.0)
            started = time.monotonic()
            with quiet():
                self.assertFalse(conn.ping())
            self.assertLess(time.monotonic() - started, 2.5)
