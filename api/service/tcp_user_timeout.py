"""A bound on how long a connection waits for a database host that stopped answering.

A host that vanishes without closing its connections (a network partition, a failover that
sent no reset) leaves a sent query unacknowledged, and the kernel retransmits it for about
15 minutes before giving up: a GET /current, or the pool's ping before a write, would hang
that long. TCP_USER_TIMEOUT ends the wait once sent data has gone unacknowledged for the
given time. A slow answer is not affected: the server's kernel acknowledges the query at once.

It is set on the connections reads use (kept per thread, detached from the pool) and on every
connection resting in the pool, so the ping at checkout is bounded. It is lifted while a
connection is checked out: a migration that is running rides out a network blip as before.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from sqlalchemy import Engine, event


def bound_unanswered_waits(engine: Engine, seconds: float) -> None:
    """Bound the waits of ``engine``'s connections on a host that stopped answering."""
    bounded = int(seconds * 1000)

    def bound(dbapi_connection: Any, _record: Any) -> None:
        _set_user_timeout(dbapi_connection, bounded)

    def unbound(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        _set_user_timeout(dbapi_connection, 0)

    event.listen(engine, "connect", bound)
    event.listen(engine, "checkin", bound)
    event.listen(engine, "detach", bound)
    event.listen(engine, "checkout", unbound)


def unbound(dbapi_connection: Any) -> None:
    """Lift the bound from a connection that a migration runs on outside the pool."""
    _set_user_timeout(dbapi_connection, 0)


def _set_user_timeout(dbapi_connection: Any, milliseconds: int) -> None:
    fd = _socket_fd(dbapi_connection)
    if fd is None:
        return
    sock = socket.socket(fileno=fd)
    try:
        # Not TCP (a Unix socket) or already closed: nothing to bound.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, milliseconds)
    finally:
        sock.detach()  # the driver owns the descriptor


def _socket_fd(dbapi_connection: Any) -> int | None:
    """The descriptor of a driver connection's socket; None without one (SQLite, closed)."""
    if dbapi_connection is None:
        return None
    pgconn = getattr(dbapi_connection, "pgconn", None)  # psycopg
    if pgconn is not None:
        try:
            return pgconn.socket
        except Exception:  # noqa: BLE001 - a closed connection has no socket
            return None
    sock = getattr(dbapi_connection, "_sock", None)  # PyMySQL keeps its socket here
    return sock.fileno() if sock is not None else None
