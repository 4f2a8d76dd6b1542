"""Operation-log updates the database could not take: kept in memory, written at the next chance."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

import sqlalchemy as sa

from api import exceptions

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class Unwritten:
    """How operations ended, and the answers given, while the database cannot take them.

    Only the process that ran an operation knows how it ended: were that lost to a database
    restart, the operation would read `running` until a reaper called it interrupted. So the
    update is kept and written before anything else the log does next, or by a retry every
    RETRY_SECONDS, whichever comes first. Should the process die first, the reaper settles it.
    """

    def __init__(self, table: sa.Table, connect: Callable[[], AbstractContextManager]):
        self._table = table
        # The log's own: it writes what is kept (write()) before it yields a connection.
        self._connect = connect
        self._kept: dict[str, dict] = {}
        # Writes to other tables that belong with an operation's update (the revisions it
        # applied): made in the same transaction, kept with it.
        self._also: dict[str, list[Callable[[sa.Connection], None]]] = {}
        self._lock = threading.Lock()
        # Held while kept updates are written, and _connect() waits for it: until they commit,
        # another connection reads an ended operation as 'running', and the reaper would mark
        # it interrupted.
        self._writing = threading.Lock()
        self._retrying = False

    def __bool__(self) -> bool:
        return bool(self._kept) or self._writing.locked()

    def holds(self, op_id: str) -> bool:
        """Whether an update of ``op_id`` is still kept (not yet written)."""
        with self._lock:
            return op_id in self._kept

    def update(
        self, op_id: str, values: dict, also: Callable[[sa.Connection], None] | None = None
    ) -> None:
        """Set ``values`` on operation ``op_id``'s row now, or once the database answers;
        ``also`` writes what belongs with it, in the same transaction."""
        with self._lock:
            self._kept.setdefault(op_id, {}).update(values)
            if also is not None:
                self._also.setdefault(op_id, []).append(also)
        try:
            with self._connect():
                return
        except exceptions.DatabaseUnavailable as exc:
            log.warning(
                "operation %s: its record is kept until the database answers: %s",
                op_id,
                exc.detail,
                extra={"operation_id": op_id},
            )
        self._retry_later()

    def write(self, conn: sa.Connection) -> None:
        """Write what is kept, on ``conn``; what the database did not take stays kept.

        :raises sqlalchemy.exc.SQLAlchemyError: the database went away meanwhile.
        """
        with self._writing:
            self._write(conn)

    def _write(self, conn: sa.Connection) -> None:
        with self._lock:
            pending = [(op_id, v, self._also.pop(op_id, [])) for op_id, v in self._kept.items()]
            self._kept = {}
        while pending:
            op_id, values, also = pending[0]
            try:
                for write in also:
                    write(conn)
                table = self._table
                conn.execute(table.update().where(table.c.id == op_id).values(**values))
                conn.commit()
            except sa.exc.DBAPIError as exc:
                if _lost(exc):
                    self._keep(pending)
                    raise
                # Refused, not lost: kept, it would fail every later use of the log.
                conn.rollback()
                log.error(
                    "operation %s: the database refused its record: %s",
                    op_id,
                    exc.orig,
                    extra={"operation_id": op_id},
                )
                if also:  # how the operation ended matters more than what rode with it
                    pending[0] = (op_id, values, [])
                    continue
            except BaseException:
                self._keep(pending)
                raise
            pending.pop(0)

    def _keep(self, pending: list[tuple[str, dict, list]]) -> None:
        with self._lock:
            for op_id, values, also in pending:
                # Whatever was kept meanwhile is newer.
                self._kept[op_id] = {**values, **self._kept.get(op_id, {})}
                if also:
                    self._also[op_id] = also + self._also.get(op_id, [])

    def _retry_later(self) -> None:
        with self._lock:
            if self._retrying:
                return
            self._retrying = True
        timer = threading.Timer(RETRY_SECONDS, self._retry)
        timer.daemon = True  # a process that ends leaves the rest to the reaper
        timer.start()

    def _retry(self) -> None:
        with self._lock:
            self._retrying = False
            ops = list(self._kept)
        if not ops:
            return
        try:
            with self._connect():
                pass
        except Exception as exc:  # a timer thread has nobody to raise to
            if not isinstance(exc, exceptions.DatabaseUnavailable):
                log.exception("operations %s: writing their records failed", ", ".join(ops))
            self._retry_later()
            return
        log.info("operations %s: their records are written now", ", ".join(ops))


def _lost(exc: sa.exc.DBAPIError) -> bool:
    """True when the connection failed (a retry can cure that), not the statement."""
    return exc.connection_invalidated or isinstance(
        exc, sa.exc.OperationalError | sa.exc.InterfaceError
    )
