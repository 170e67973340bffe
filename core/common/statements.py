"""A query the ORM compiles once per process, then runs on a cursor with new values.

Compiling a queryset to SQL costs the ORM a few hundred microseconds of CPU every time, more than a simple
indexed statement takes PostgreSQL to run. On an endpoint called in tight loops (the Markr API's aggregate and
its API-key check: docs/benchmarks.md, "The aggregate's fixed cost") that compile is most of the request.
`Statement` captures the SQL Django sends for a query built from probe values (one per argument, each matching
no row), learns which argument each parameter is, and from then on runs that SQL with the caller's values. The
query is still written once, with the ORM; only its compile is remembered.

PostgreSQL plans a statement on every call as well (about half a millisecond for the API-key check, more
than running it), so `fetchone` binds its values on the server and prepares the statement on each connection
the first time: later calls on that connection skip the planning. Django's own queries stay on client-side
binding, its default, and nothing else is prepared.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper


class _PreparedCursor(psycopg.Cursor[Any]):
    """psycopg's server-side binding cursor, preparing every statement it runs at its first run on a connection
    (the settings' `prepare_threshold` lets it: Django's default forbids preparing)."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        return super().execute(query, params, prepare=True, binary=binary)


def _cursor(db: BaseDatabaseWrapper) -> CursorWrapper:
    """What `db.cursor()` gives (the health check, the connection, Django's wrapper that runs execute
    wrappers), around a cursor that prepares. While Django logs queries (DEBUG, a test counting them) it is
    Django's own cursor: a prepared statement's log line would carry no SQL."""
    if db.queries_logged:
        return db.cursor()
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    return CursorWrapper(_PreparedCursor(db.connection), db)


class Statement:
    """`build(**probes)` runs the query once (through the ORM, with the probe values) the first time it is
    needed; `fetchone(**values)` runs the same SQL with other values. The query must have
    the same shape for every value (a different shape is another Statement), and every parameter the ORM sends
    must be one of the probes: a constant the ORM passes as a parameter is refused at the first call."""

    def __init__(self, build: Callable[..., object], **probes: str | int) -> None:
        if len(set(probes.values())) != len(probes):
            raise ImproperlyConfigured("Each probe value must be unique, so that its parameter can be told apart.")
        self._build = build
        self._probes = probes
        self._compiled: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def sql(self, using: str = DEFAULT_DB_ALIAS) -> tuple[str, tuple[str, ...]]:
        """The SQL and the argument name of each of its parameters, in order."""
        compiled = self._compiled.get(using)
        if compiled is not None:
            return compiled
        with self._lock:
            if using not in self._compiled:
                self._compiled[using] = self._capture(using)
            return self._compiled[using]

    def _capture(self, using: str) -> tuple[str, tuple[str, ...]]:
        seen: list[tuple[str, Sequence[Any]]] = []

        def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            seen.append((sql, params or ()))
            return execute(sql, params, many, context)

        with connections[using].execute_wrapper(capture):
            self._build(**self._probes)
        if len(seen) != 1:
            raise ImproperlyConfigured(f"A Statement runs exactly one query; its build ran {len(seen)}.")
        sql, params = seen[0]
        names = {value: name for name, value in self._probes.items()}
        try:
            order = tuple(names[param] for param in params)
        except (KeyError, TypeError) as exc:
            raise ImproperlyConfigured(f"The query sends a parameter that is not a probe: {params!r}") from exc
        return sql, order

    def _params(self, order: tuple[str, ...], values: dict[str, Any]) -> list[Any]:
        if values.keys() != self._probes.keys():
            raise TypeError(f"Expected the values of {sorted(self._probes)}, got {sorted(values)}.")
        return [values[name] for name in order]

    def fetchone(self, *, using: str = DEFAULT_DB_ALIAS, **values: Any) -> tuple[Any, ...] | None:
        sql, order = self.sql(using)
        with _cursor(connections[using]) as cursor:
            cursor.execute(sql, self._params(order, values))
            row = cursor.fetchone()
        return None if row is None else tuple(row)
