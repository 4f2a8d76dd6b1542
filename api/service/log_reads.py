"""The operation log as the service reads it: dead 'running' operations settled first."""

from __future__ import annotations

from api import exceptions
from api.service import oplog as log
from api.service.database import reachable
from api.service.lock import LockTimeout, migration_lock
from api.service.oplog import Deliveries, Delivery, Operation


class LogReads:
    """The reads of the operation log (a part of MigrationService, which has ``oplog``,
    ``engine`` and ``transactional_ddl``)."""

    def operations(self, limit: int = 50, offset: int = 0) -> tuple[list[Operation], int]:
        """Recorded operations, newest first, with dead 'running' ones marked interrupted."""
        self._reap()
        return self.oplog.page(limit, offset)

    def operation(self, op_id: str) -> Operation:
        """One recorded operation.

        :raises UnknownOperation:
        """
        self._reap()
        op = self.oplog.get(op_id)
        if op is None:
            raise exceptions.UnknownOperation(f"No operation has the id '{op_id}'.", id=op_id)
        return op

    def operation_stats(self) -> dict:
        """Counts, seconds and lock waits of recorded operations by kind and status."""
        return self.oplog.stats()

    def webhook_deliveries(self, limit: int = 50, offset: int = 0) -> tuple[list[Delivery], int]:
        """Webhook deliveries, newest first (api/webhooks/)."""
        return Deliveries(self.oplog).page(limit, offset)

    def operation_by_key(self, key: str) -> Operation | None:
        """The operation recorded with this Idempotency-Key; one left running by a dead
        process reads as interrupted, so a retry gets a definite answer."""
        op = self.oplog.by_key(key)
        if op is not None and op.status == log.RUNNING:
            self._reap()
            op = self.oplog.by_key(key)
        return op

    def _reap(self) -> None:
        # An operation left running by a dead process shows as interrupted as soon as its
        # lock is seen free.
        if self.oplog.running() is not None:
            try:
                with reachable(self.engine), migration_lock(self.engine, 0):
                    self.oplog.mark_interrupted(self.transactional_ddl)
            except LockTimeout:
                pass
