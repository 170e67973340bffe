"""One Cluster/Session per process, made lazily and rebuilt after a fork; prepared statements cached per
session; single and concurrent execution with bounded retries of idempotent statements.

How long a statement may take is bounded three ways (docs/decisions, "bounded save time"):

- each attempt by ``request_timeout`` (the driver's client-side timeout);
- an idempotent statement, retries included, by ``deadline``: a retry starts only if it can finish in time;
- a store that stopped answering altogether (every attempt times out, nothing succeeds) by a breaker: after
  such a timeout, further calls of this process fail at once, except one probe per ``probe_interval``, until a
  call succeeds again. Without it, requests queued behind a frozen store each wait their whole deadline in turn.

Idempotent statements are also sent to a second (and third) replica when the first has not answered after
``speculative_delay``: a node that is slow or frozen (not yet known to be down) costs that delay, not a timeout.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from cassandra import ConsistencyLevel, DriverException, OperationTimedOut, ReadTimeout, WriteTimeout
from cassandra import Unavailable as DriverUnavailable
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.connection import ConnectionException
from cassandra.policies import (
    ConstantSpeculativeExecutionPolicy,
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    RetryPolicy,
    TokenAwarePolicy,
)
from cassandra.query import BatchStatement, BatchType, PreparedStatement, dict_factory

from cassandra_orm.errors import Unavailable

log = logging.getLogger(__name__)

# Errors after which an idempotent statement may be sent again: the write may or may not have landed,
# and sending the same upsert (same values, same write time) again gives the same outcome.
RETRYABLE = (WriteTimeout, ReadTimeout, OperationTimedOut, DriverUnavailable, ConnectionException)
# Errors that mean "the store is not serving"; surfaced as cassandra_orm.Unavailable.
UNAVAILABLE = (*RETRYABLE, NoHostAvailable)


def execute_concurrent_with_args(
    session: Session,
    statement: PreparedStatement,
    parameters: Iterable[Sequence[Any]],
    *,
    concurrency: int = 100,
    raise_on_first_error: bool = False,
    results_generator: bool = False,
) -> list[tuple[bool, Any]]:
    """The driver's `execute_concurrent_with_args`, made safe with speculative execution: (True, rows) or
    (False, error) per parameter tuple, in order, at most `concurrency` statements in flight. The driver's own
    version collects outcomes from callbacks, and a statement whose speculative execution answers as well can be
    counted twice (seen on the cluster: more outcomes than statements); here each statement's one ResponseFuture
    gives its one outcome. The keyword arguments of the driver's version are accepted; errors never raise."""
    params = list(parameters)
    outcomes: list[tuple[bool, Any]] = [(False, None)] * len(params)
    in_flight: deque[tuple[int, Any]] = deque()

    def settle(index: int, future: Any) -> None:
        try:
            outcomes[index] = (True, list(future.result()))
        except Exception as exc:  # the caller sorts the driver's errors out
            outcomes[index] = (False, exc)

    for index, values in enumerate(params):
        if len(in_flight) >= max(1, concurrency):
            settle(*in_flight.popleft())
        in_flight.append((index, session.execute_async(statement, values)))
    while in_flight:
        settle(*in_flight.popleft())
    return outcomes


def consistency_level(name: str | int) -> int:
    """ "LOCAL_QUORUM" -> ConsistencyLevel.LOCAL_QUORUM (ints pass through)."""
    if isinstance(name, int):
        return name
    try:
        return int(getattr(ConsistencyLevel, name.strip().upper()))
    except AttributeError:
        raise ValueError(f"unknown consistency level {name!r}") from None


class Connection:
    """Holds the driver's Cluster and Session for this process.

    Nothing connects until first use. A Session made before ``os.fork()`` is dropped (not shut down: its
    event-loop threads did not survive the fork) and the next use in the child makes a new one. A failed
    connect makes calls fail fast for ``connect_cooldown`` seconds instead of every thread waiting again.
    """

    def __init__(
        self,
        *,
        hosts: Sequence[str] = ("127.0.0.1",),
        port: int = 9042,
        keyspace: str,
        consistency: str | int = "LOCAL_QUORUM",
        connect_timeout: float = 2.0,
        request_timeout: float = 2.0,
        local_dc: str | None = None,
        write_attempts: int = 3,
        retry_backoff: float = 0.05,
        connect_cooldown: float = 1.0,
        deadline: float = 4.5,
        speculative_delay: float = 0.3,
        speculative_attempts: int = 2,
        probe_interval: float = 1.0,
        protocol_version: int | None = 4,  # Cassandra 4 and 5; None negotiates (and logs a warning per step)
    ) -> None:
        self.hosts = list(hosts)
        self.port = int(port)
        self.keyspace = keyspace
        self.consistency = consistency_level(consistency)
        self.connect_timeout = float(connect_timeout)
        self.request_timeout = float(request_timeout)
        self.local_dc = local_dc
        self.write_attempts = max(1, int(write_attempts))
        self.retry_backoff = float(retry_backoff)
        self.connect_cooldown = float(connect_cooldown)
        self.deadline = max(float(deadline), self.request_timeout)
        self.speculative_delay = float(speculative_delay)
        self.speculative_attempts = int(speculative_attempts)
        self.probe_interval = float(probe_interval)
        self._stalled_at: float | None = None  # the breaker: when the store last timed out with nothing since
        self._probe_at = 0.0
        self._answered_at = 0.0  # when a statement last succeeded (a busy store still answers some)
        self.protocol_version = protocol_version
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._prepared: dict[str, PreparedStatement] = {}
        self._failed_at = 0.0
        self._failure: BaseException | None = None

    # --- lifecycle -----------------------------------------------------------------------
    def session(self) -> Session:
        if self._pid != os.getpid():
            self.forget()
        session = self._session
        if session is not None:
            return session
        with self._lock:
            if self._session is not None:
                return self._session
            if self._failure is not None and time.monotonic() - self._failed_at < self.connect_cooldown:
                raise Unavailable(f"Cassandra at {self._where()} is unreachable: {self._failure}") from self._failure
            cluster = self._make_cluster()
            try:
                session = cluster.connect()
            except Exception as exc:
                cluster.shutdown()
                self._failed_at, self._failure = time.monotonic(), exc
                raise Unavailable(f"Cassandra at {self._where()} is unreachable: {exc}") from exc
            self._failure = None
            self._cluster, self._session, self._prepared = cluster, session, {}
            return session

    def _make_cluster(self) -> Cluster:
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=self.local_dc)),
            retry_policy=RetryPolicy(),
            consistency_level=self.consistency,
            request_timeout=self.request_timeout,
            row_factory=dict_factory,
            # applies to statements marked idempotent only (the upsert of an answer, the reads)
            speculative_execution_policy=(
                ConstantSpeculativeExecutionPolicy(self.speculative_delay, self.speculative_attempts)
                if self.speculative_delay > 0 and self.speculative_attempts > 0
                else None
            ),
        )
        kwargs: dict[str, Any] = {}
        if self.protocol_version:
            kwargs["protocol_version"] = self.protocol_version
        return Cluster(
            contact_points=self.hosts,
            port=self.port,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=self.connect_timeout,
            control_connection_timeout=self.connect_timeout,
            reconnection_policy=ExponentialReconnectionPolicy(base_delay=0.5, max_delay=10.0),
            idle_heartbeat_interval=10,
            idle_heartbeat_timeout=self.connect_timeout * 2,
            **kwargs,
        )

    def forget(self) -> None:
        """Drop the Session without touching it (after a fork: its threads and sockets belong to the parent)."""
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._cluster, self._session, self._prepared = None, None, {}
        self._failure = None
        self._stalled_at = None

    def close(self) -> None:
        """Shut the Session down in this process (at exit, or between test suites)."""
        with self._lock:
            cluster = self._cluster if self._pid == os.getpid() else None
            self._cluster, self._session, self._prepared = None, None, {}
        if cluster is not None:
            cluster.shutdown()

    def _where(self) -> str:
        return f"{','.join(self.hosts)}:{self.port}"

    # --- the breaker -----------------------------------------------------------------------
    def _admit(self) -> None:
        """Fail at once while the store is stalled, except one probe per probe_interval."""
        stalled_at = self._stalled_at
        if stalled_at is None:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._probe_at >= self.probe_interval:
                self._probe_at = now
                return
        raise Unavailable(f"Cassandra stopped answering {now - stalled_at:.1f} s ago (failing fast until it answers)")

    def _stalled(self, exc: BaseException) -> None:
        """Open the breaker on a client-side timeout when nothing at all succeeded during that timeout: a store
        that answers nothing (frozen, partitioned). A merely busy store still answers some statements, and its
        slow ones just fail on their own."""
        now = time.monotonic()
        if (
            isinstance(exc, OperationTimedOut)
            and self._stalled_at is None
            and now - self._answered_at > self.request_timeout
        ):
            self._stalled_at = self._probe_at = now

    def _answered(self) -> None:
        self._answered_at = time.monotonic()
        self._stalled_at = None

    def _may_retry(self, started: float, attempt: int, attempts: int) -> bool:
        return attempt < attempts and time.monotonic() - started + self.retry_backoff * attempt + 0.1 < self.deadline

    # --- statements ----------------------------------------------------------------------
    def prepare(self, cql: str, *, idempotent: bool = False) -> PreparedStatement:
        """Prepare once per Session; later calls return the cached statement."""
        session = self.session()
        statement = self._prepared.get(cql)
        if statement is None:
            try:
                statement = session.prepare(cql)
            except UNAVAILABLE as exc:
                raise Unavailable(f"could not prepare a statement: {exc}") from exc
            statement.is_idempotent = idempotent
            statement.consistency_level = self.consistency
            self._prepared[cql] = statement
        return statement

    def execute(
        self, cql: str, params: Sequence[Any] = (), *, idempotent: bool = False, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """Run one prepared statement; return its rows (every page). Idempotent statements are retried within
        the deadline."""
        self._admit()
        statement = self.prepare(cql, idempotent=idempotent)
        return self._bounded(statement, params, idempotent=idempotent, timeout=timeout)

    def _bounded(
        self, statement: Any, params: Sequence[Any] | None, *, idempotent: bool, timeout: float | None
    ) -> list[dict[str, Any]]:
        """One statement (a prepared one or a batch) with its retries: each attempt within the request timeout,
        the retries of an idempotent one within the deadline, and a client-side timeout with nothing answered
        opening the breaker."""
        session = self.session()
        attempts = self.write_attempts if idempotent else 1
        started = time.monotonic()
        for attempt in range(1, attempts + 1):
            per_attempt = timeout or self.request_timeout
            if idempotent and timeout is None:
                per_attempt = max(0.1, min(per_attempt, self.deadline - (time.monotonic() - started)))
            try:
                rows = list(session.execute(statement, params, timeout=per_attempt))
            except RETRYABLE as exc:
                self._stalled(exc)
                if not self._may_retry(started, attempt, attempts) or self._stalled_at is not None:
                    raise Unavailable(f"Cassandra did not answer after {attempt} attempt(s): {exc}") from exc
                log.warning("cassandra_orm: retrying an idempotent statement after %r", exc)
                time.sleep(self.retry_backoff * attempt)
                continue
            except NoHostAvailable as exc:
                raise Unavailable(f"no Cassandra host available: {exc}") from exc
            self._answered()
            return rows
        raise AssertionError("unreachable")

    def execute_concurrent(
        self,
        cql: str,
        params_list: Iterable[Sequence[Any]],
        *,
        idempotent: bool = False,
        concurrency: int = 100,
    ) -> list[list[dict[str, Any]]]:
        """Run one prepared statement once per parameter tuple, up to ``concurrency`` at a time, and wait for
        all of them. Returns the rows of each, in the order of ``params_list``. Failed idempotent statements
        are sent again (bounded by the attempts and the deadline); any statement still failing raises Unavailable."""
        self._admit()
        statement = self.prepare(cql, idempotent=idempotent)
        session = self.session()
        started = time.monotonic()
        params = list(params_list)
        results: list[list[dict[str, Any]] | None] = [None] * len(params)
        pending = list(range(len(params)))
        attempts = self.write_attempts if idempotent else 1
        for attempt in range(1, attempts + 1):
            outcomes = execute_concurrent_with_args(
                session,
                statement,
                [params[i] for i in pending],
                concurrency=concurrency,
                raise_on_first_error=False,
                results_generator=False,
            )
            failed: list[int] = []
            last_error: BaseException | None = None
            if any(ok for ok, _ in outcomes):
                self._answered()  # some statements were answered: the store is slow or partly down, not frozen
            for index, (ok, outcome) in zip(pending, outcomes, strict=True):
                if ok:
                    results[index] = list(outcome)
                    continue
                last_error = outcome
                self._stalled(outcome)
                if isinstance(outcome, NoHostAvailable) or not isinstance(outcome, RETRYABLE):
                    if isinstance(outcome, UNAVAILABLE):
                        raise Unavailable(f"Cassandra refused a statement: {outcome}") from outcome
                    raise outcome
                failed.append(index)
            if not failed:
                self._answered()
                return results  # type: ignore[return-value]
            if not self._may_retry(started, attempt, attempts) or self._stalled_at is not None:
                raise Unavailable(
                    f"{len(failed)} statement(s) failed after {attempt} attempt(s): {last_error}"
                ) from last_error
            log.warning("cassandra_orm: retrying %d idempotent statement(s) after %r", len(failed), last_error)
            time.sleep(self.retry_backoff * attempt)
            pending = failed
        raise AssertionError("unreachable")

    def execute_batch(
        self, statements: Sequence[tuple[str, Sequence[Any]]], *, idempotent: bool = False, timeout: float | None = None
    ) -> None:
        """Run prepared statements as ONE unlogged batch, retried like ``execute`` when idempotent. Meant for
        statements on one partition key (tables sharing it included): Cassandra then applies the batch as one
        mutation per replica, atomically, without the batchlog and without its batch-size limits."""
        # Bounded like execute (docs/decisions/0013-bounded-save-time.md): a save with its history is a batch,
        # and without the breaker and the deadline each one waited three full timeouts on a frozen store.
        self._admit()
        batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=self.consistency)
        for cql, params in statements:
            batch.add(self.prepare(cql, idempotent=idempotent), params)
        batch.is_idempotent = idempotent
        self._bounded(batch, None, idempotent=idempotent, timeout=timeout)

    def ping(self, timeout: float | None = None) -> bool:
        """True when a node answers ``SELECT release_version FROM system.local`` within ``timeout``."""
        timeout = timeout or min(2.0, self.request_timeout)
        try:
            session = self.session()
            session.execute("SELECT release_version FROM system.local", timeout=timeout)
        except (Unavailable, DriverException, *UNAVAILABLE):
            return False
        return True
