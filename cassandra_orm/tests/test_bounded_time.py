"""How long a statement may take when the store stops answering: a TCP proxy in front of the real Cassandra
freezes (holds every byte, closes nothing), as a node stopped with SIGSTOP does. Plain unittest: no Django."""

from __future__ import annotations

import os
import socket
import threading
import time
import unittest
import uuid

from cassandra_orm import Column, Connection, Table, Unavailable, sync
from cassandra_orm.tests.test_cassandra_orm import HOSTS, PORT, quiet


class FreezingProxy:
    """127.0.0.1:<port> -> the Cassandra node; freeze() stops forwarding (the bytes wait), thaw() lets them go."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.flowing = threading.Event()
        self.flowing.set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                s.close()

    def freeze(self) -> None:
        self.flowing.clear()

    def thaw(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.thaw()
        for s in self.sockets:
            s.close()


class Note(Table):
    __table__ = "notes"
    id = Column("bigint", partition_key=True)
    body = Column("text")


@unittest.skipIf(int(os.environ.get("CASSANDRA_NODES", "1")) > 1, "the driver would find the other nodes directly")
class FrozenStoreTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.keyspace = f"orm_frozen_{uuid.uuid4().hex[:8]}"
        cls.admin = Connection(hosts=HOSTS, port=PORT, keyspace=cls.keyspace)
        sync(cls.admin.session(), cls.keyspace, [Note], 1)
        cls.insert = Note.insert_cql(cls.keyspace, columns=("id", "body"))

    @classmethod
    def tearDownClass(cls) -> None:
        cls.admin.session().execute(f"DROP KEYSPACE IF EXISTS {cls.keyspace}", timeout=60)
        cls.admin.close()

    def setUp(self) -> None:
        self.proxy = FreezingProxy((HOSTS[0], PORT))
        self.connection = Connection(
            hosts=["127.0.0.1"],
            port=self.proxy.port,
            keyspace=self.keyspace,
            request_timeout=0.5,
            deadline=1.2,
            probe_interval=0.5,
        )
        self.addCleanup(self.proxy.close)
        self.addCleanup(self.connection.close)

    def timed(self, *params: object) -> float:
        started = time.monotonic()
        self.connection.execute(self.insert, params, idempotent=True)
        return time.monotonic() - started

    def test_a_frozen_store_is_answered_within_the_deadline_then_at_once_until_it_answers_again(self) -> None:
        self.timed(1, "before")
        self.proxy.freeze()
        with quiet():
            started = time.monotonic()
            with self.assertRaises(Unavailable):
                self.connection.execute(self.insert, (2, "frozen"), idempotent=True)
            self.assertLess(time.monotonic() - started, 1.2 + 0.3)
            # the next callers do not each wait a timeout in turn: they are refused at once
            for n in range(5):
                started = time.monotonic()
                with self.assertRaises(Unavailable):
                    self.connection.execute(self.insert, (3 + n, "frozen"), idempotent=True)
                self.assertLess(time.monotonic() - started, 0.1)
            self.proxy.thaw()
            # within a probe interval (and a reconnection, if the driver dropped the connection), saves succeed
            deadline = time.monotonic() + 15
            while True:
                try:
                    self.timed(10, "after")
                    break
                except Unavailable:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        self.assertLess(self.timed(11, "after"), 0.5)
        rows = self.admin.execute(f"SELECT id, body FROM {self.keyspace}.notes WHERE id IN (1, 10, 11)")  # noqa: S608 - our own keyspace name
        self.assertEqual(sorted(r["id"] for r in rows), [1, 10, 11])

    def test_the_retries_of_a_batch_end_at_the_deadline(self) -> None:
        connection = Connection(
            hosts=["127.0.0.1"], port=self.proxy.port, keyspace=self.keyspace, request_timeout=0.5, deadline=1.2
        )
        self.addCleanup(connection.close)
        connection.execute(self.insert, (20, "before"), idempotent=True)  # connected and prepared
        self.proxy.freeze()
        with quiet():
            started = time.monotonic()
            with self.assertRaises(Unavailable):
                connection.execute_concurrent(self.insert, [(21 + n, "frozen") for n in range(20)], idempotent=True)
            self.assertLess(time.monotonic() - started, 1.2 + 0.3)

    def test_a_batch_on_a_frozen_store_is_refused_within_the_deadline_then_at_once(self) -> None:
        # A save with its history is one unlogged batch: it must meet the same deadline and the same breaker
        # as a single statement (the drill cassandra-freeze held such saves 6 s each, and Nginx 8 s).
        batch = [(self.insert, (30, "before")), (self.insert, (31, "before"))]
        self.connection.execute_batch(batch, idempotent=True)  # connected and prepared
        self.proxy.freeze()
        with quiet():
            started = time.monotonic()
            with self.assertRaises(Unavailable):
                self.connection.execute_batch([(self.insert, (32, "frozen"))] * 2, idempotent=True)
            self.assertLess(time.monotonic() - started, 1.2 + 0.3)
            for n in range(5):
                started = time.monotonic()
                with self.assertRaises(Unavailable):
                    self.connection.execute_batch([(self.insert, (33 + n, "frozen"))] * 2, idempotent=True)
                self.assertLess(time.monotonic() - started, 0.1)
