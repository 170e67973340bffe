"""A small data mapper over cassandra-driver. It never imports Django.

- ``Table`` / ``Column``: tables as Python classes, and the CQL they need;
- ``sync``: create the keyspace and tables if missing and add missing columns, idempotently;
- ``Connection``: one Cluster/Session per process (lazy, rebuilt after a fork), prepared statements cached,
  single and concurrent execution, bounded retries of idempotent statements;
- ``Unavailable``: the one exception for a cluster that does not serve the request.

No cqlengine: every statement is prepared.
"""

from cassandra_orm.connection import Connection, consistency_level
from cassandra_orm.errors import Unavailable
from cassandra_orm.schema import Column, Table, keyspace_cql, sync

__all__ = ["Column", "Connection", "Table", "Unavailable", "consistency_level", "keyspace_cql", "sync"]
