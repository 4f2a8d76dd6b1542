"""GET /current's fast path: one SELECT on a connection the serving thread keeps.

Every GET reads the database's version rows, and the plain way (database.current_heads:
a pooled Connection and Alembic's MigrationContext) costs more CPU than the query itself. So,
once the version table is known to exist, each thread keeps a driver connection of its own,
in autocommit, detached from the pool (as Django keeps one per thread), and sends one SELECT
on it; on PostgreSQL through libpq, prepared once per connection. Anything that fails here
returns None, and the caller takes the plain path, which tells the failures apart.

What it buys (README "Performance", bench goal 2, met at its edge: 0.51 of a bare Flask
endpoint's requests/s on PostgreSQL): in-process, a warm GET /current on PostgreSQL cost
717 µs of CPU with this path, 756 µs with psycopg's cursor in place of libpq, and 1360 µs
through the pool (medians of 5 alternated fresh processes, load average 11 to 15). The
pooled read would nearly halve requests/s; that is what the fork hook, the finalizers and
the per-connection locks below pay for.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

from psycopg import pq
from sqlalchemy import Dialect, Engine, event

if TYPE_CHECKING:
    from api.service.database import VersionTable


def select_versions(engine: Engine, table: VersionTable) -> tuple[str, ...] | None:
    """The rows of the version ``table``, sorted; None when the query failed.

    :raises sqlalchemy.exc.SQLAlchemyError: no connection could be had.
    """
    connections = for_engine(engine)
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
    # 20 here). Prepared once per connection, the statement costs the server half as much as
    # parsing and planning it each time. (libpq waits with the GIL released, as psycopg does.)
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


class Held:
    """One thread's connection; closed when its thread ends and lets go of it.

    Its thread holds ``lock`` while it queries, so that another thread closing every
    connection (engine.dispose) never closes one under a query in flight.
    """

    def __init__(self, driver: Any):
        self.driver = driver
        self.lock = threading.Lock()
        self.prepared: set[bytes] = set()  # the statements prepared on this connection
        # Closes the driver once, on close() or when this holder is collected. A finalizer,
        # not __del__: it keeps the driver alive until it has run, so the garbage collector
        # never finalizes a still open driver first (psycopg warns of that).
        self._close_driver = weakref.finalize(self, _close_quietly, driver)

    def close(self) -> None:
        with self.lock:
            self.driver = None
        self._close_driver()

    def forget(self) -> None:
        """Let go of the driver without closing it."""
        self.driver = None
        self._close_driver.detach()


def _close_quietly(driver: Any) -> None:
    with contextlib.suppress(Exception):  # a broken connection is closed enough
        driver.close()


class ThreadConnections:
    """Each thread's driver (DBAPI) connection to one engine's database."""

    def __init__(self, engine: Engine):
        # Weakly: the engine's registry entry must not keep the engine alive.
        self._engine = weakref.ref(engine)
        self._local = threading.local()
        self._held: weakref.WeakSet[Held] = weakref.WeakSet()
        self._lock = threading.Lock()
        # Disposing of the engine (tests do, between databases) closes these too.
        event.listen(engine, "engine_disposed", lambda _engine: self.close_all())

    def get(self) -> Held:
        """This thread's connection, made on first use from the engine's pool and detached
        from it (so the pool's limits and pings leave it alone). Query it holding its lock;
        its driver is None when another thread has closed it since.

        :raises sqlalchemy.exc.SQLAlchemyError: no connection could be made.
        """
        held = getattr(self._local, "held", None)
        if held is not None and held.driver is not None:
            return held
        engine = self._engine()
        if engine is None:
            raise RuntimeError("the engine is gone")
        fairy = engine.raw_connection()
        driver = fairy.dbapi_connection
        fairy.detach()
        try:
            engine.dialect.set_isolation_level(driver, "AUTOCOMMIT")
        except BaseException:
            driver.close()
            raise
        held = self._local.held = Held(driver)
        with self._lock:
            self._held.add(held)
        return held

    def discard(self) -> None:
        """Close this thread's connection (it failed); the next get() makes another."""
        held = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None:
            held.close()

    def close_all(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            held = list(self._held)
        for one in held:
            one.close()

    def forget_all(self) -> None:
        """In a forked child: let go of the parent's connections without closing them, which
        would end the parent's sessions on the sockets both processes share."""
        with self._lock:
            held = list(self._held)
            self._held = weakref.WeakSet()
        for one in held:
            one.forget()
        self._local = threading.local()


_by_engine: weakref.WeakKeyDictionary[Engine, ThreadConnections] = weakref.WeakKeyDictionary()
_by_engine_lock = threading.Lock()


def for_engine(engine: Engine) -> ThreadConnections:
    """The ThreadConnections of ``engine``, made on first use."""
    connections = _by_engine.get(engine)
    if connections is None:
        with _by_engine_lock:
            connections = _by_engine.get(engine)
            if connections is None:
                connections = _by_engine[engine] = ThreadConnections(engine)
    return connections


def _after_fork_in_child() -> None:
    for connections in list(_by_engine.values()):
        connections.forget_all()


os.register_at_fork(after_in_child=_after_fork_in_child)
