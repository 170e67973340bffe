"""Database helpers shared by the apps' set-based writes."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from django.db import connection


def server_bound_cursor() -> psycopg.Cursor:
    """A cursor on Django's connection (so inside its transaction) that binds parameters on the server, in
    binary: Django's client-side cursor quotes a 20,000-element array in Python, ~25 us a row when measured."""
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def int_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers: built by str.join in C, ~40x faster than adapting a list."""
    return "{" + ",".join(map(str, values)) + "}"
