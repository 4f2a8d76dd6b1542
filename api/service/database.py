"""Reading the target database's revision without ever writing to it."""

from __future__ import annotations

import functools
import hashlib
import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from psycopg import pq
from sqlalchemy import Dialect, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from api import exceptions
from api.service import thread_connections


@dataclass(frozen=True)
class VersionTable:
    """Where Alembic keeps the applied revisions: env.py's ``version_table`` and
    ``version_table_schema``. Reads do not run env.py, so the service is told (VERSION_TABLE,
    VERSION_TABLE_SCHEMA) and every write checks that env.py agrees."""

    name: str = "alembic_version"
    schema: str | None = None

    def __str__(self) -> str:
        return self.name if self.schema is None else f"{self.schema}.{self.name}"

    @property
    def configure_args(self) -> dict[str, str]:
        """The ``context.configure()`` options that name this table, where not the default
        (Alembic fills those in alike)."""
        args = {} if self.name == "alembic_version" else {"version_table": self.name}
        if self.schema is not None:
            args["version_table_schema"] = self.schema
        return args


DEFAULT_VERSION_TABLE = VersionTable()  # Alembic's own: alembic_version, default schema


def describe_error(exc: BaseException) -> str:
    """A one-line account of a database error: the driver's message, never the SQL statement,
    its parameters or the connection URL."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(exc).__name__}: {first}"[:500]


@contextmanager
def reachable(engine: Engine) -> Iterator[None]:
    """Turn a failure to reach the database into a 503 problem.

    :raises DatabaseUnavailable:
    """
    try:
        yield
    # The driver's own errors too: a connection taken from the pool raw (the reads' kept one)
    # raises them unwrapped.
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as exc:
        raise exceptions.DatabaseUnavailable(
            f"The database {engine.url.render_as_string(hide_password=True)} cannot be reached: "
            f"{describe_error(exc)}"
        ) from exc


def sqlite_file_missing(engine: Engine) -> bool:
    """True for a SQLite URL whose file does not exist yet: connecting would create it."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return False
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return False
    return not os.path.exists(path)


def current_heads(engine: Engine, table: VersionTable) -> tuple[str, ...]:
    """The revisions in the database's version ``table``; empty when it is unversioned.

    Unlike ``alembic current``, this never creates the version table (or the SQLite file).

    :raises DatabaseUnavailable:
    """
    if sqlite_file_missing(engine):
        return ()
    if _versioned.get(engine):
        rows = _select_versions(engine, table)
        if rows is not None:
            return rows
    with reachable(engine), engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=table.configure_args)
        heads = context.get_current_heads()
        _versioned[engine] = bool(heads) or context._has_version_table()
        connection.rollback()
    return tuple(sorted(heads))


def _select_versions(engine: Engine, table: VersionTable) -> tuple[str, ...] | None:
    """The version rows, by one SELECT on this thread's connection; None when it fails.

    This is every GET's one query, so it skips SQLAlchemy's pool, Connection and result
    layers, which cost more than the round trip itself. On failure (the table was dropped, the
    connection died) the connection is closed and the caller takes the general path, which
    tells those apart.

    :raises DatabaseUnavailable: no connection could be had.
    """
    connections = thread_connections.for_engine(engine)
    with reachable(engine):
        held = connections.get()
    try:
        with held.lock:
            driver = held.driver
            if driver is None:  # closed by engine.dispose() meanwhile
                return None
            sql, name = _select_statement(table, engine.dialect)
            if engine.dialect.driver == "psycopg":
                dbapi = engine.dialect.loaded_dbapi
                return _fetch_with_libpq(driver.pgconn, sql, name, dbapi, held.prepared)
            return _fetch_with_cursor(driver, sql)
    except BaseException as exc:
        connections.discard()
        if isinstance(exc, engine.dialect.loaded_dbapi.Error):
            return None
        raise


@functools.lru_cache(maxsize=16)
def _select_statement(table: VersionTable, dialect: Dialect) -> tuple[str, bytes]:
    """The SELECT of ``table``'s rows in ``dialect``, and a name to prepare it under (one per
    statement, so a connection never runs a statement prepared for another table)."""
    quote = dialect.identifier_preparer
    where = quote.quote(table.name)
    if table.schema is not None:
        where = f"{quote.quote_schema(table.schema)}.{where}"
    sql = f"SELECT version_num FROM {where}"
    return sql, b"migrateway_versions_" + hashlib.sha256(sql.encode()).hexdigest()[:12].encode()


def _fetch_with_libpq(pgconn, sql: str, name: bytes, dbapi, prepared: set) -> tuple[str, ...]:
    # psycopg's cursor costs four times the libpq calls it wraps (about 80 µs of CPU against
    # 20 here), and this fixed statement without parameters needs none of it. Prepared once
    # per connection, it costs the server half as much as parsing and planning it each time.
    # (libpq waits for the answer with the GIL released, as psycopg does.)
    if name not in prepared:
        # Known here, not learnt by executing and failing: that failure is an ERROR line in
        # the server's log for every new connection.
        result = pgconn.prepare(name, sql.encode())
        if result.status != pq.ExecStatus.COMMAND_OK:
            raise dbapi.DatabaseError(_message(result))
        prepared.add(name)
    # Were the statement gone (a pooler's DISCARD ALL), this fails, the caller drops the
    # connection, and the next read prepares it on a new one.
    result = pgconn.exec_prepared(name, [])
    if result.status != pq.ExecStatus.TUPLES_OK:
        raise dbapi.DatabaseError(_message(result))
    return tuple(sorted(result.get_value(row, 0).decode() for row in range(result.ntuples)))


def _message(result) -> str:
    return result.error_message.decode(errors="replace").strip()


def _fetch_with_cursor(driver, sql: str) -> tuple[str, ...]:
    cursor = driver.cursor()
    try:
        cursor.execute(sql)
        return tuple(sorted(row[0] for row in cursor.fetchall()))
    finally:
        cursor.close()


# Engines whose version table was seen: their reads skip Alembic's reflection. (By engine,
# not URL: hashing a URL costs more than the rest of the lookup.)
_versioned: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()
