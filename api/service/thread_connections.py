"""A connection per thread for the version reads, kept from one request to the next.

Checking a connection out of SQLAlchemy's pool and back in costs more CPU than the one SELECT
a GET /current makes, so each thread that reads keeps a connection of its own, as Django keeps
one per thread. It is in autocommit, so every read sees the latest commit and no transaction
stays open between requests. It is used for reads alone: writes take pooled connections.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from typing import Any

from sqlalchemy import Engine, event


class Held:
    """One thread's connection; closed when its thread ends and lets go of it.

    Its thread holds ``lock`` while it queries, so that another thread closing every
    connection (engine.dispose) never closes one under a query in flight.
    """

    def __init__(self, driver: Any):
        self.driver = driver
        self.lock = threading.Lock()
        # The names of the statements prepared on this connection (database._fetch_with_libpq).
        self.prepared: set[bytes] = set()
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
