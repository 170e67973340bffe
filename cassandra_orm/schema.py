"""Tables as Python classes, the CQL they need, and an idempotent schema sync."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def check_identifier(name: str) -> str:
    """Keyspace, table and column names are lower-case identifiers, so they never need quoting."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain lower-case CQL identifier (at most 48 characters): {name!r}")
    return name


class Column:
    """One column: its CQL type and its place in the primary key."""

    def __init__(
        self, cql_type: str, *, partition_key: bool = False, clustering: str | None = None, static: bool = False
    ) -> None:
        if clustering not in (None, "ASC", "DESC"):
            raise ValueError("clustering is 'ASC', 'DESC' or None")
        if partition_key and clustering:
            raise ValueError("a column is a partition key or a clustering column, not both")
        self.cql_type = cql_type
        self.partition_key = partition_key
        self.clustering = clustering
        self.static = static
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = check_identifier(name)

    def __repr__(self) -> str:
        return f"Column({self.name} {self.cql_type})"


class Table:
    """Subclass with ``__table__`` and Column attributes, in primary-key order::

        class Answer(Table):
            __table__ = "answers"
            exam_id = Column("bigint", partition_key=True)
            student_id = Column("bigint", partition_key=True)
            question_id = Column("bigint", clustering="ASC")
            choice_ids = Column("frozen<set<bigint>>")

    The class only describes the table and builds CQL; instances are plain records (``Answer(**row)``).
    """

    __table__: ClassVar[str]
    __options__: ClassVar[str] = ""  # e.g. "compaction = {'class': 'LeveledCompactionStrategy'}"
    __columns__: ClassVar[tuple[Column, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        columns: list[Column] = []
        for base in reversed(cls.__mro__[1:]):
            columns.extend(c for c in getattr(base, "__columns__", ()) if c not in columns)
        columns.extend(v for v in vars(cls).values() if isinstance(v, Column))
        cls.__columns__ = tuple(columns)
        if "__table__" in vars(cls):
            check_identifier(cls.__table__)
            if not cls.partition_keys():
                raise TypeError(f"{cls.__name__} needs at least one partition_key column")

    def __init__(self, **values: Any) -> None:
        names = self.column_names()
        for key in values:
            if key not in names:
                raise TypeError(f"{type(self).__name__} has no column {key!r}")
        for name in names:
            setattr(self, name, values.get(name))

    def __repr__(self) -> str:
        body = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.column_names())
        return f"{type(self).__name__}({body})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n in self.column_names())

    __hash__ = None  # type: ignore[assignment]

    # --- description ---------------------------------------------------------------------
    @classmethod
    def column_names(cls) -> tuple[str, ...]:
        return tuple(c.name for c in cls.__columns__)

    @classmethod
    def partition_keys(cls) -> tuple[Column, ...]:
        return tuple(c for c in cls.__columns__ if c.partition_key)

    @classmethod
    def clustering_keys(cls) -> tuple[Column, ...]:
        return tuple(c for c in cls.__columns__ if c.clustering)

    @classmethod
    def qualified(cls, keyspace: str) -> str:
        return f"{check_identifier(keyspace)}.{cls.__table__}"

    # --- CQL -----------------------------------------------------------------------------
    @classmethod
    def create_cql(cls, keyspace: str) -> str:
        lines = [f"{c.name} {c.cql_type}{' STATIC' if c.static else ''}" for c in cls.__columns__]
        partition = ", ".join(c.name for c in cls.partition_keys())
        clustering = cls.clustering_keys()
        key = f"({partition})" + "".join(f", {c.name}" for c in clustering)
        lines.append(f"PRIMARY KEY ({key})")
        options = []
        if clustering:
            order = ", ".join(f"{c.name} {c.clustering}" for c in clustering)
            options.append(f"CLUSTERING ORDER BY ({order})")
        if cls.__options__:
            options.append(cls.__options__)
        with_clause = (" WITH " + " AND ".join(options)) if options else ""
        body = ",\n    ".join(lines)
        return f"CREATE TABLE IF NOT EXISTS {cls.qualified(keyspace)} (\n    {body}\n){with_clause}"

    @classmethod
    def insert_cql(
        cls, keyspace: str, *, columns: Sequence[str] | None = None, using_timestamp: bool = False, ttl: bool = False
    ) -> str:
        """An upsert of the given columns (all by default) with ``?`` markers, in that order; with
        ``using_timestamp`` and/or ``ttl`` the last markers are the write time (microseconds) then the TTL."""
        names = cls._checked(columns)
        using = [part for flag, part in ((using_timestamp, "TIMESTAMP ?"), (ttl, "TTL ?")) if flag]
        using_clause = (" USING " + " AND ".join(using)) if using else ""
        markers = ", ".join("?" for _ in names)
        # Every name is a checked identifier and every value a bind marker.
        return f"INSERT INTO {cls.qualified(keyspace)} ({', '.join(names)}) VALUES ({markers}){using_clause}"  # noqa: S608

    @classmethod
    def select_cql(
        cls,
        keyspace: str,
        *,
        where: Sequence[str] = (),
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> str:
        """A SELECT with ``col = ?`` for each name in ``where`` (default: the partition key)."""
        names = cls._checked(columns)
        where = cls._checked(where) if where else tuple(c.name for c in cls.partition_keys())
        conditions = " AND ".join(f"{name} = ?" for name in where)
        limit_clause = f" LIMIT {int(limit)}" if limit else ""
        return f"SELECT {', '.join(names)} FROM {cls.qualified(keyspace)} WHERE {conditions}{limit_clause}"  # noqa: S608

    @classmethod
    def _checked(cls, names: Sequence[str] | None) -> tuple[str, ...]:
        if names is None:
            return cls.column_names()
        known = cls.column_names()
        for name in names:
            if name not in known:
                raise ValueError(f"{cls.__name__} has no column {name!r}")
        return tuple(names)


def keyspace_cql(keyspace: str, *, replication_factor: int = 1, datacenters: dict[str, int] | None = None) -> str:
    """CREATE KEYSPACE IF NOT EXISTS: SimpleStrategy, or NetworkTopologyStrategy when datacenters are named."""
    if datacenters:
        parts = ", ".join(f"'{dc}': {int(rf)}" for dc, rf in datacenters.items())
        replication = f"{{'class': 'NetworkTopologyStrategy', {parts}}}"
    else:
        replication = f"{{'class': 'SimpleStrategy', 'replication_factor': {int(replication_factor)}}}"
    return f"CREATE KEYSPACE IF NOT EXISTS {check_identifier(keyspace)} WITH replication = {replication}"


def sync(
    session: Any,
    keyspace: str,
    tables: Iterable[type[Table]],
    replication_factor: int = 1,
    *,
    datacenters: dict[str, int] | None = None,
) -> list[str]:
    """Create the keyspace and the tables if missing, and add missing columns. Idempotent; never drops or
    alters existing columns. Returns the statements it ran (empty when the schema was already in place).

    A column that exists with another type than the table declares raises RuntimeError: Cassandra cannot change
    a column's type in place, and every write of the new type would be refused at run time."""
    ran: list[str] = []

    def run(cql: str) -> None:
        log.debug("cassandra_orm sync: %s", cql)
        session.execute(cql, timeout=30)
        ran.append(cql)

    metadata = session.cluster.metadata
    if keyspace not in metadata.keyspaces:
        run(keyspace_cql(keyspace, replication_factor=replication_factor, datacenters=datacenters))
    for table in tables:
        ks_meta = metadata.keyspaces.get(keyspace)
        existing = ks_meta.tables.get(table.__table__) if ks_meta else None
        if existing is None:
            run(table.create_cql(keyspace))
            continue
        for column in table.__columns__:
            if column.name in existing.columns:
                found = existing.columns[column.name].cql_type
                if _same_type(found) != _same_type(column.cql_type):
                    raise RuntimeError(
                        f"{table.qualified(keyspace)}.{column.name} exists as {found}, declared {column.cql_type}; "
                        "Cassandra cannot change a column's type: migrate by hand"
                    )
                continue
            if column.partition_key or column.clustering:
                raise RuntimeError(f"{table.qualified(keyspace)} exists with a different primary key; migrate by hand")
            run(f"ALTER TABLE {table.qualified(keyspace)} ADD {column.name} {column.cql_type}")
    if ran:
        session.cluster.control_connection.wait_for_schema_agreement()
    return ran


def _same_type(cql_type: str) -> str:
    """A CQL type as Cassandra reports it back: lower case, no spaces (a tuple is always frozen)."""
    text = "".join(cql_type.split()).lower()
    return text.replace("<tuple<", "<frozen<tuple<").replace("frozen<frozen<", "frozen<")
