"""What the operation log answers: one operation, a page, the running one, figures."""

from __future__ import annotations

import sqlalchemy as sa

from api.service.oplog.record import (
    FAILED,
    INTERRUPTED,
    RUNNING,
    SUCCEEDED,
    Operation,
    from_row,
    operations,
)
from api.service.oplog.store import LogStore

c = operations.c
# Dry runs only render SQL: they change nothing, so nothing is to recover from or count.
_REAL = c.sql.is_(False)


class LogReads(LogStore):
    """Reads never create the log: before its first write, it is empty."""

    def get(self, op_id: str) -> Operation | None:
        return self._first(operations.select().where(c.id == op_id))

    def by_key(self, key: str) -> Operation | None:
        return self._first(operations.select().where(c.idempotency_key == key))

    def running(self) -> Operation | None:
        return self._first(
            operations.select().where(c.status == RUNNING).order_by(c.started_at.desc())
        )

    def page(self, limit: int, offset: int) -> tuple[list[Operation], int]:
        """Newest first."""
        if not self._exists():
            return [], 0
        with self._connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(operations)).scalar()
            rows = conn.execute(
                operations.select().order_by(c.started_at.desc(), c.id).limit(limit).offset(offset)
            ).all()
        return [from_row(r) for r in rows], total

    def needing_recovery(self) -> Operation | None:
        """The newest operation that stopped part-way through a revision (see
        ``Operation.needs_recovery``), unless a later stamp succeeded (one that predates the
        ``resolves`` field cleared it then)."""
        if not self._exists():
            return None
        with self._connect() as conn:
            row = conn.execute(
                operations.select()
                .where(
                    c.status.in_((FAILED, INTERRUPTED)),
                    c.partial_possible.is_(True),
                    c.resolved_by.is_(None),
                )
                .order_by(c.started_at.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            stamped_since = conn.execute(
                sa.select(c.id)
                .where(c.kind == "stamp", c.status == SUCCEEDED, _REAL)
                .where(c.started_at > row.started_at)
                .limit(1)
            ).first()
        return None if stamped_since else from_row(row)

    def stats(self) -> dict:
        """Aggregates of the operations that ran against the database (dry runs excluded):
        ``counts`` {(kind, status): n}, ``seconds`` {kind: total duration of finished ones},
        ``lock_waits`` (n, total seconds).

        Computed from the shared log, so every worker and replica reports the same figures.
        """
        result: dict = {"counts": {}, "seconds": {}, "lock_waits": (0, 0.0)}
        if not self._exists():
            return result
        with self._connect() as conn:
            for kind, status, n in conn.execute(
                sa.select(c.kind, c.status, sa.func.count()).where(_REAL).group_by(c.kind, c.status)
            ):
                result["counts"][kind, status] = n
            for kind, begin, end in conn.execute(
                sa.select(c.kind, c.started_at, c.finished_at).where(
                    _REAL, c.finished_at.is_not(None)
                )
            ):
                result["seconds"][kind] = result["seconds"].get(kind, 0.0) + (
                    (end - begin).total_seconds()
                )
            n, total_ms = conn.execute(
                sa.select(sa.func.count(c.lock_wait_ms), sa.func.sum(c.lock_wait_ms)).where(_REAL)
            ).one()
            result["lock_waits"] = (n, (total_ms or 0.0) / 1000)
        return result

    def _first(self, query: sa.Select) -> Operation | None:
        if not self._exists():
            return None
        with self._connect() as conn:
            row = conn.execute(query).first()
        return from_row(row) if row else None
