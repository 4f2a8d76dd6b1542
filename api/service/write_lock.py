"""The migration lock as a write holds it: how long it took, and who held it when it did not
come."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from api import exceptions
from api.service.binds import migration_locks
from api.service.context import CallContext
from api.service.database import describe_error
from api.service.lock import HeldLock, LockTimeout
from api.service.runner import elapsed_ms

if TYPE_CHECKING:
    from api.service import MigrationService


@contextmanager
def locked(svc: MigrationService, ctx: CallContext) -> Iterator[tuple[float, HeldLock]]:
    """Hold the migration lock; yield how many ms it took to get, and the lock. Holding it
    proves any operation still 'running' belongs to a dead process. Dry runs take it too:
    they render from the database's revision, which must not move meanwhile, and an operation
    that holds no lock could not be told from a dead one.

    :raises Locked, DatabaseUnavailable:
    """
    with ExitStack() as stack:
        waited = time.perf_counter()
        try:
            held = stack.enter_context(migration_locks(svc.binds, ctx.lock_timeout))
        except LockTimeout:
            holder = svc.oplog.running()
            raise exceptions.Locked(
                f"Another migration holds the lock; waited {ctx.lock_timeout:g} s. "
                "Retry later, or pass a longer lock_timeout.",
                holder=None
                if holder is None
                else {
                    "id": holder.id,
                    "kind": holder.kind,
                    "actor": holder.actor,
                    "since": holder.started_at.isoformat(),
                },
            ) from None
        except Exception as exc:
            raise exceptions.DatabaseUnavailable(
                f"The migration lock cannot be taken: {describe_error(exc)}"
            ) from exc
        wait_ms = elapsed_ms(waited)
        svc.oplog.mark_interrupted(svc.transactional_ddl)
        yield wait_ms, held
