"""One migration at a time per target database, across threads, processes and hosts.

Two locks guard an operation on PostgreSQL (advisory locks) and MariaDB/MySQL (GET_LOCK):

- the *admission* lock, on a connection of its own for the whole operation, serializes
  reading the database's revision, planning and recording;
- the *run* lock is taken by the very connection env.py migrates on, and that connection is
  closed instead of pooled when env.py lets go of it, so the lock ends exactly when the
  migration's session ends.

A session can be killed (``pg_terminate_backend``, ``KILL``, ``idle_session_timeout``, a proxy)
while the migration goes on elsewhere. Admission therefore also waits for the run lock to be
free, so no second chain starts while the first is inside a revision; and the first proves its
admission lock is still held (:meth:`HeldLock.verify`) before each revision and each commit, so
a lost lock stops its chain. SQLite needs neither: an flock()ed file beside the database is
released only with the process that runs the migration.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, event, text

from api.service.tcp_user_timeout import unbound
from api.service.tenant_schema import schema_of

_POLL_SECONDS = 0.05
# Marks, in a pooled connection's info, the connection that holds the run lock.
_RUN_LOCK_HELD = "migrateway_run_lock"
# For in-memory SQLite, which no other process can see.
_MEMORY_LOCK = threading.Lock()


class LockTimeout(Exception):
    """The lock was not free within the timeout."""


class LockLost(Exception):
    """The admission lock's session ended while its operation ran, or the run lock is taken:
    the chain must stop before its next revision or commit."""


class HeldLock:
    """The migration lock as one operation holds it (SQLite: nothing can take it away)."""

    def verify(self) -> None:
        """Prove the admission lock is still held.

        :raises LockLost:
        """

    def bind(self, connection: Connection) -> None:
        """Take the run lock on the connection env.py migrates on, for as long as it lives.

        :raises LockLost:
        """


class _ServerLock(HeldLock):
    """The two locks of a database server, as SQL on the admission connection ``admission``."""

    def __init__(self, admission: Connection, held_sql: str, bind_sql: str, params: dict):
        self._admission = admission
        self._held_sql, self._bind_sql, self._params = text(held_sql), text(bind_sql), params

    def verify(self) -> None:
        try:
            held = self._admission.execute(self._held_sql, self._params).scalar()
        except Exception as exc:
            raise LockLost(f"the migration lock's database session ended ({exc})") from exc
        if not held:
            raise LockLost("the migration lock is no longer held by this operation")

    def bind(self, connection: Connection) -> None:
        if not connection.execute(self._bind_sql, self._params).scalar():
            raise LockLost("another migration is still running on this database")
        # Closed, not pooled, when env.py lets go of it: the run lock ends with it. Not
        # detached from the pool for that: SQLAlchemy cannot switch a detached connection to
        # AUTOCOMMIT, which a revision's autocommit_block() (CREATE INDEX CONCURRENTLY) needs.
        pool = connection.engine.pool
        if not event.contains(pool, "checkin", _close_run_lock_connection):
            event.listen(pool, "checkin", _close_run_lock_connection)
        connection.connection.info[_RUN_LOCK_HELD] = True
        # As any connection a migration runs on, it rides out a network blip
        # (api/service/tcp_user_timeout.py).
        unbound(connection.connection.dbapi_connection)


def _close_run_lock_connection(_dbapi_connection, record) -> None:
    """Close a connection that held the run lock as it goes back to the pool (the pool
    connects afresh when it hands that slot out next)."""
    if record.info.pop(_RUN_LOCK_HELD, False):
        record.invalidate()


def _key(engine: Engine, purpose: str) -> int:
    # A stable signed 64-bit key per database name, for pg_advisory_lock; per schema for a
    # tenant schema, so that two tenants of one database never wait for each other.
    where = engine.url.database
    schema = schema_of(engine)
    if schema is not None:
        where = f"{where}/{schema}"
    digest = hashlib.sha256(f"{purpose}:{where}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def migration_lock(engine: Engine, timeout: float) -> Iterator[HeldLock]:
    """Hold the target database's migration lock, waiting up to ``timeout`` seconds for it and
    for any migration still running to end.

    :raises LockTimeout:
    """
    dialect = engine.dialect.name
    if dialect == "postgresql":
        lock = _postgresql(engine, timeout)
    elif dialect in ("mysql", "mariadb"):
        lock = _mysql(engine, timeout)
    elif dialect == "sqlite":
        lock = _sqlite(engine, timeout)
    else:
        raise NotImplementedError(f"no migration lock for {dialect}")
    with lock as held:
        yield held


def is_free(engine: Engine) -> bool:
    """True when nobody holds the lock (checked by taking and releasing it at once)."""
    try:
        with migration_lock(engine, 0):
            return True
    except LockTimeout:
        return False


def _wait(until: Callable[[], bool], deadline: float) -> None:
    while not until():
        if time.monotonic() >= deadline:
            raise LockTimeout()
        time.sleep(_POLL_SECONDS)


@contextmanager
def _postgresql(engine: Engine, timeout: float) -> Iterator[HeldLock]:
    admit, run = _key(engine, "migrateway"), _key(engine, "migrateway-run")
    # pg_locks shows a bigint key as its high half in classid and its low half in objid.
    unsigned = admit & 0xFFFFFFFFFFFFFFFF
    params = {"k": admit, "run": run, "hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        deadline = time.monotonic() + timeout

        def scalar(sql: str):
            return conn.execute(text(sql), params).scalar()

        _wait(lambda: scalar("SELECT pg_try_advisory_lock(:k)"), deadline)
        try:
            _wait(
                lambda: scalar(
                    "SELECT CASE WHEN pg_try_advisory_lock(:run) "
                    "THEN pg_advisory_unlock(:run) ELSE false END"
                ),
                deadline,
            )
            yield _ServerLock(
                conn,
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND classid::bigint = :hi AND objid::bigint = :lo "
                "AND objsubid = 1)",
                "SELECT pg_try_advisory_lock(:run)",
                params,
            )
        finally:
            try:
                scalar("SELECT pg_advisory_unlock(:k)")
            except Exception:
                # The session is gone, and the lock with it; never pool this connection.
                conn.invalidate()


@contextmanager
def _mysql(engine: Engine, timeout: float) -> Iterator[HeldLock]:
    # Lock names are server-wide and at most 64 characters.
    params = {
        "n": f"migrateway:{engine.url.database}"[:64],
        "run": f"migrateway-run:{engine.url.database}"[:64],
    }
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        deadline = time.monotonic() + timeout

        def scalar(sql: str, **extra):
            return conn.execute(text(sql), {**params, **extra}).scalar()

        if scalar("SELECT GET_LOCK(:n, :t)", t=timeout) != 1:
            raise LockTimeout()
        try:
            _wait(lambda: scalar("SELECT IS_FREE_LOCK(:run)") == 1, deadline)
            yield _ServerLock(
                conn,
                "SELECT IS_USED_LOCK(:n) = CONNECTION_ID()",
                "SELECT GET_LOCK(:run, 0) = 1",
                params,
            )
        finally:
            try:
                scalar("SELECT RELEASE_LOCK(:n)")
            except Exception:
                conn.invalidate()


@contextmanager
def _sqlite(engine: Engine, timeout: float) -> Iterator[HeldLock]:
    path = engine.url.database
    if not path or path == ":memory:":
        if not _MEMORY_LOCK.acquire(timeout=timeout):
            raise LockTimeout()
        try:
            yield HeldLock()
        finally:
            _MEMORY_LOCK.release()
        return
    # Each open() is its own lock owner, so threads of one process exclude each other too.
    fd = os.open(path + ".migrateway-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout

        def locked() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        _wait(locked, deadline)
        yield HeldLock()
    finally:
        os.close(fd)
