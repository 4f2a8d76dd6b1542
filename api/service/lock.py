"""One migration at a time per target database, across threads, processes and hosts.

The lock is session-level and lives on a connection of its own, held for the whole chain:
PostgreSQL advisory lock, MariaDB/MySQL GET_LOCK, an flock()ed file beside a SQLite database.
Each is released by the server or the kernel when its holder's connection or process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

_POLL_SECONDS = 0.05
# For in-memory SQLite, which no other process can see.
_MEMORY_LOCK = threading.Lock()


class LockTimeout(Exception):
    """The lock was not free within the timeout."""


def _key(engine: Engine) -> int:
    # A stable signed 64-bit key per database name, for pg_advisory_lock.
    digest = hashlib.sha256(f"migrateway:{engine.url.database}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def migration_lock(engine: Engine, timeout: float) -> Iterator[None]:
    """Hold the target database's migration lock, waiting up to ``timeout`` seconds.

    :raises LockTimeout:
    """
    dialect = engine.dialect.name
    if dialect == "postgresql":
        with _postgresql(engine, timeout):
            yield
    elif dialect in ("mysql", "mariadb"):
        with _mysql(engine, timeout):
            yield
    elif dialect == "sqlite":
        with _sqlite(engine, timeout):
            yield
    else:
        raise NotImplementedError(f"no migration lock for {dialect}")


def is_free(engine: Engine) -> bool:
    """True when nobody holds the lock (checked by taking and releasing it at once)."""
    try:
        with migration_lock(engine, 0):
            return True
    except LockTimeout:
        return False


@contextmanager
def _postgresql(engine: Engine, timeout: float) -> Iterator[None]:
    key = _key(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        deadline = time.monotonic() + timeout
        while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            if time.monotonic() >= deadline:
                raise LockTimeout()
            time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            except Exception:
                # The session is gone, and the lock with it; never pool this connection.
                conn.invalidate()


@contextmanager
def _mysql(engine: Engine, timeout: float) -> Iterator[None]:
    name = f"migrateway:{engine.url.database}"[:64]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        got = conn.execute(text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": timeout}).scalar()
        if got != 1:
            raise LockTimeout()
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
            except Exception:
                conn.invalidate()


@contextmanager
def _sqlite(engine: Engine, timeout: float) -> Iterator[None]:
    path = engine.url.database
    if not path or path == ":memory:":
        if not _MEMORY_LOCK.acquire(timeout=timeout):
            raise LockTimeout()
        try:
            yield
        finally:
            _MEMORY_LOCK.release()
        return
    # Each open() is its own lock owner, so threads of one process exclude each other too.
    fd = os.open(path + ".migrateway-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout() from None
                time.sleep(_POLL_SECONDS)
        yield
    finally:
        os.close(fd)
