"""Indexes a failed run left INVALID on PostgreSQL.

``CREATE INDEX CONCURRENTLY`` (in an ``autocommit_block()``) commits the index's catalogue
entry before it builds it: when the build fails (duplicate rows under a unique index, a lock
timeout, a cancelled statement) the index stays behind, INVALID, still written to on every
insert and never used, and running the revision again fails because the name is taken. The
indexes invalid before the run are compared with those after a failure, so that only the ones
the run left are named.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import Connection, Engine, text

from api.service.binds import database_key

_INVALID = text(
    "SELECT n.nspname, c.relname, t.relname FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid"
)


def invalid_indexes(connection: Connection) -> set[tuple[str, str, str]]:
    """(schema, index, table) of every INVALID index of the database (PostgreSQL)."""
    return {tuple(row) for row in connection.execute(_INVALID)}


class IndexCheck:
    """The invalid indexes of ``engine``'s database before a run's first step, to tell which
    ones a failure left (PostgreSQL only; elsewhere it knows of none)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._before: set[tuple[str, str, str]] | None = None

    def before(self, connection: Connection) -> None:
        """Read the invalid indexes on the first connection the run migrates this database on
        (one query on a connection already open; a retry's connection would also see those an
        earlier attempt left, which are this run's too)."""
        if self._before is not None or connection.dialect.name != "postgresql":
            return
        if database_key(connection.engine.url) != database_key(self._engine.url):
            return  # another bind's database
        self._before = invalid_indexes(connection)

    def left_invalid(self) -> list[dict]:
        """The indexes invalid now that were not before the run: {schema, index, table}.
        Nothing when the database cannot be read now (the failure says so otherwise)."""
        if self._before is None:
            return []
        now: set[tuple[str, str, str]] = set()
        with contextlib.suppress(Exception), self._engine.connect() as connection:
            now = invalid_indexes(connection)
        return [
            {"schema": schema, "index": index, "table": table}
            for schema, index, table in sorted(now - self._before)
        ]
